"""From a user pool id to its issuers and JWKS URLs, and every other Cognito URL and Region
pattern: pure functions, no I/O.

Cognito has two issuer forms since multi-Region replication: the original
``https://cognito-idp.{region}.amazonaws.com/{pool}`` and the updated
``https://issuer-cognito-idp.{region}.amazonaws.com/{pool}``. Pools migrate from one to the other,
so both are accepted by default.

Example::

    >>> region_of("eu-west-1_AbCdEf123")
    'eu-west-1'
    >>> jwks_uri_for("https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbCdEf123")
    'https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbCdEf123/.well-known/jwks.json'
"""

from __future__ import annotations

import ipaddress
import re
from typing import Literal
from urllib.parse import urlsplit

from .errors import ConfigurationError

__all__ = [
    "IssuerForm",
    "canonical_issuer",
    "check_base_url",
    "check_jwks_uri",
    "is_aws_host",
    "is_loopback_host",
    "issuer_forms",
    "issuers_for",
    "jwks_uri_for",
    "pool_of_issuer",
    "region_of",
    "region_of_domain",
    "region_of_issuer",
    "user_pool_api_url",
    "validate_user_pool_id",
]

IssuerForm = Literal["both", "original", "updated"]

# AWS's documented pattern for UserPoolId; the suffix length is deliberately not checked
# because emulators and older pools differ.
_POOL_ID = re.compile(r"[\w-]+_[0-9a-zA-Z]+", re.ASCII)
_POOL_ID_MAX = 55

# An AWS Region name (``eu-west-1``, ``us-gov-west-1``); the one pattern every URL below uses.
_REGION_PATTERN = r"[a-z]{2}(?:-[a-z]+)+-\d{1,2}"
_REGION = re.compile(_REGION_PATTERN, re.ASCII)
# A managed-login domain (``{prefix}.auth.{region}.amazoncognito.com``) and an issuer in the
# original form: both name their Region.
_HOSTED_DOMAIN = re.compile(
    rf"https://[a-z0-9-]+\.auth\.({_REGION_PATTERN})\.amazoncognito\.com", re.ASCII
)
_COGNITO_ISSUER = re.compile(
    rf"https://cognito-idp\.({_REGION_PATTERN})\.amazonaws\.com/[\w-]+_\w+", re.ASCII
)


def validate_user_pool_id(user_pool_id: str) -> str:
    """Return ``user_pool_id`` if it matches AWS's pattern, else raise ConfigurationError."""
    if (
        not isinstance(user_pool_id, str)
        or len(user_pool_id) > _POOL_ID_MAX
        or not _POOL_ID.fullmatch(user_pool_id)
    ):
        raise ConfigurationError(
            f"user_pool_id {user_pool_id!r} is not a Cognito user pool id "
            "(expected REGION_ID such as 'eu-west-1_AbCdEf123')"
        )
    return user_pool_id


def region_of(user_pool_id: str) -> str:
    """The AWS Region of a user pool: the part of its id before the last ``_``."""
    return validate_user_pool_id(user_pool_id).rsplit("_", 1)[0]


def issuers_for(user_pool_id: str, form: IssuerForm = "both") -> tuple[str, ...]:
    """The issuer strings a pool's tokens may carry, original form first."""
    region = region_of(user_pool_id)
    original = f"https://cognito-idp.{region}.amazonaws.com/{user_pool_id}"
    updated = f"https://issuer-cognito-idp.{region}.amazonaws.com/{user_pool_id}"
    if form == "original":
        return (original,)
    if form == "updated":
        return (updated,)
    if form == "both":
        return (original, updated)
    raise ConfigurationError(f"issuer_form must be 'both', 'original' or 'updated', not {form!r}")


def issuer_forms(issuer: str) -> tuple[str, ...]:
    """Every spelling of ``issuer``'s pool, :func:`canonical_issuer` first.

    Both forms of a Cognito pool for an issuer in either form; ``(issuer,)`` for any other.

    Example::

        >>> issuer_forms("http://localhost:9229/us-east-1_Local1")
        ('http://localhost:9229/us-east-1_Local1',)
    """
    try:
        forms = issuers_for(issuer.rpartition("/")[2])
    except ConfigurationError:
        return (issuer,)
    return forms if issuer in forms else (issuer,)


def canonical_issuer(issuer: str) -> str:
    """One spelling per pool: the original form for either Cognito form, any other issuer as is.

    Both forms name the same pool (the same users, the same ``sub``), so whatever is keyed by
    issuer, such as a user's link to a local account, must be keyed by this.

    Example::

        >>> canonical_issuer("https://issuer-cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC1")
        'https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC1'
    """
    return issuer_forms(issuer)[0]


def pool_of_issuer(issuer: str) -> str | None:
    """The user pool id an issuer names: that of a Cognito issuer in either form, or the last
    path segment of another issuer (a local emulator) when it is a pool id; else None.

    Example::

        >>> pool_of_issuer("http://localhost:9229/us-east-1_Local1")
        'us-east-1_Local1'
    """
    pool = issuer.rpartition("/")[2]
    try:
        return validate_user_pool_id(pool)
    except ConfigurationError:
        return None


def jwks_uri_for(issuer: str) -> str:
    """The JWKS URL of an issuer: ``{issuer}/.well-known/jwks.json``."""
    return issuer.rstrip("/") + "/.well-known/jwks.json"


def is_loopback_host(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (``127.0.0.0/8``, ``::1``)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


# Cognito's own hosts (either issuer form, FIPS, China): a user pool's keys are there at
# /{user pool id}/.well-known/jwks.json, and any other path answers no JWKS.
_COGNITO_HOST = re.compile(
    r"(?:issuer-)?cognito-idp(?:-fips)?\.[a-z0-9-]+\.amazonaws\.com(?:\.cn)?", re.ASCII
)
_COGNITO_JWKS_PATH = re.compile(rf"/{_POOL_ID.pattern}/\.well-known/jwks\.json", re.ASCII)


def _check_cognito_jwks_path(url: str, host: str, path: str) -> str:
    """``url``, unless it is on a Cognito host without a pool's ``/.well-known/jwks.json``.

    The issuer URL given as the JWKS URL is the usual slip: every key fetch would then fail, and
    the first request would answer 503 instead of the deployment failing at start.
    """
    if not _COGNITO_HOST.fullmatch(host) or _COGNITO_JWKS_PATH.fullmatch(path):
        return url
    pool = path.strip("/").split("/", 1)[0]
    if pool and _POOL_ID.fullmatch(pool):
        hint = f"did you mean 'https://{host}/{pool}/.well-known/jwks.json'?"
    else:
        hint = f"a pool's keys are at https://{host}/<user pool id>/.well-known/jwks.json"
    raise ConfigurationError(
        f"JWKS URL {url!r} is on a Cognito host but is not a user pool's JWKS document: {hint}"
    )


def check_jwks_uri(url: str) -> str:
    """Return ``url`` if keys may be fetched from it: https, or plain http on a loopback host.

    On a Cognito host it must be a user pool's ``/.well-known/jwks.json``.
    """
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
    except ValueError as exc:
        raise ConfigurationError(f"JWKS URL {url!r} is not a valid URL") from exc
    if parts.scheme == "https" and host:
        return _check_cognito_jwks_path(url, host, parts.path)
    if parts.scheme == "http" and is_loopback_host(host):
        return url
    raise ConfigurationError(
        f"JWKS URL {url!r} must use https (plain http is allowed only on loopback hosts)"
    )


def user_pool_api_url(region: str) -> str:
    """The user-pool API (``cognito-idp``) of an AWS Region.

    Example::

        >>> user_pool_api_url("eu-west-1")
        'https://cognito-idp.eu-west-1.amazonaws.com/'
    """
    if not isinstance(region, str) or not _REGION.fullmatch(region):
        raise ConfigurationError(f"region {region!r} is not an AWS Region name")
    return f"https://cognito-idp.{region}.amazonaws.com/"


def region_of_domain(domain: str) -> str | None:
    """The Region of an Amazon Cognito domain (``https://{prefix}.auth.{region}.amazoncognito.com``);
    None for a custom domain.

    Example::

        >>> region_of_domain("https://myapp.auth.eu-west-1.amazoncognito.com")
        'eu-west-1'
    """
    found = _HOSTED_DOMAIN.fullmatch(domain)
    return found.group(1) if found is not None else None


def region_of_issuer(issuer: str) -> str | None:
    """The Region of a Cognito issuer in the original form
    (``https://cognito-idp.{region}.amazonaws.com/{pool}``); None for any other issuer.

    Example::

        >>> region_of_issuer("https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC1")
        'eu-west-1'
    """
    found = _COGNITO_ISSUER.fullmatch(issuer)
    return found.group(1) if found is not None else None


def is_aws_host(url: str | None) -> bool:
    """True for a URL on an AWS host (``*.amazonaws.com``: regional, FIPS and VPC endpoints)."""
    host = (urlsplit(url).hostname or "") if url else ""
    return host.endswith((".amazonaws.com", ".amazonaws.com.cn"))


def check_base_url(url: str, what: str, *, keep_path: bool) -> str:
    """``url`` normalised, if it is https (or http on a loopback host, for emulators and tests).

    ``https://`` is assumed without a scheme. No query, fragment or credentials; without
    ``keep_path`` no path either. ``what`` names the setting in the error message.

    Example::

        >>> check_base_url("auth.example.com", "domain", keep_path=False)
        'https://auth.example.com'
    """
    try:
        parts = urlsplit(url if "://" in url else "https://" + url)
        host = parts.hostname or ""
    except ValueError as exc:
        raise ConfigurationError(f"{what} {url!r} is not a valid URL") from exc
    if not host or parts.query or parts.fragment or parts.username or parts.password:
        raise ConfigurationError(f"{what} {url!r} must be a plain https URL")
    if parts.scheme != "https" and not (parts.scheme == "http" and is_loopback_host(host)):
        raise ConfigurationError(
            f"{what} {url!r} must use https (plain http is allowed only on loopback hosts)"
        )
    path = parts.path if keep_path else ""
    if not keep_path and parts.path not in ("", "/"):
        raise ConfigurationError(f"{what} {url!r} must not have a path")
    return f"{parts.scheme}://{parts.netloc}{path or ('/' if keep_path else '')}"
