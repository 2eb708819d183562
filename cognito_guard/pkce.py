"""PKCE (RFC 7636) and the ``/oauth2/authorize`` URL of Cognito's hosted sign-in pages.

The authorization-code flow with PKCE: build an :class:`AuthorizationRequest`, keep its
``state``, ``nonce`` and ``code_verifier`` in the user's session, redirect the browser to its
``url``, and on the callback check ``state`` and redeem the code with
:meth:`cognito_guard.client.CognitoTokenClient.exchange_code`.

Example::

    from cognito_guard.pkce import authorization_request

    auth = authorization_request(
        "https://auth.example.com", client_id="4a1b...", redirect_uri="https://app/callback"
    )
    session["oauth"] = {"state": auth.state, "nonce": auth.nonce, "verifier": auth.code_verifier}
    return redirect(auth.url)
    # on /callback, after checking request.args["state"] == session["oauth"]["state"]:
    tokens = client.exchange_code(
        request.args["code"], redirect_uri="https://app/callback",
        code_verifier=session["oauth"]["verifier"], nonce=session["oauth"]["nonce"],
    )
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from urllib.parse import urlencode

from ._audience import resource_indicator
from .errors import ConfigurationError

__all__ = [
    "AuthorizationRequest",
    "PkcePair",
    "authorization_request",
    "authorize_url",
    "code_challenge",
    "make_code_verifier",
    "make_pkce_pair",
]

# RFC 7636 section 4.1: 43 to 128 characters of the unreserved set.
_VERIFIER = re.compile(r"[A-Za-z0-9\-._~]{43,128}")


def make_code_verifier(length: int = 64) -> str:
    """A random PKCE ``code_verifier`` of ``length`` (43..128) URL-safe characters.

    Example: ``verifier = make_code_verifier()``
    """
    if not 43 <= length <= 128:
        raise ConfigurationError("a PKCE code_verifier is 43 to 128 characters long")
    # token_urlsafe yields 4 characters per 3 random bytes, from a subset of the allowed set.
    return secrets.token_urlsafe(length)[:length]


def code_challenge(code_verifier: str) -> str:
    """The S256 ``code_challenge`` of a verifier: base64url(SHA-256(verifier)) without padding.

    Example: ``code_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk")``
    returns ``"E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"`` (RFC 7636, appendix B).
    """
    if not _VERIFIER.fullmatch(code_verifier):
        # Do not echo the verifier: it is a secret.
        raise ConfigurationError("a PKCE code_verifier is 43 to 128 characters of [A-Za-z0-9-._~]")
    digest = hashlib.sha256(code_verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


@dataclass(frozen=True)
class PkcePair:
    """A ``code_verifier`` (secret: keep it server-side) and its S256 ``code_challenge``.

    Example::

        pair = make_pkce_pair()
        url = authorize_url(domain, client_id=..., redirect_uri=..., state=...,
                            code_challenge=pair.challenge)
    """

    verifier: str = field(repr=False)
    challenge: str
    method: str = "S256"


def make_pkce_pair(length: int = 64) -> PkcePair:
    """A fresh :class:`PkcePair`."""
    verifier = make_code_verifier(length)
    return PkcePair(verifier, code_challenge(verifier))


def authorize_url(
    domain: str,
    *,
    client_id: str,
    redirect_uri: str,
    state: str,
    scopes: Iterable[str] = ("openid", "email"),
    nonce: str | None = None,
    code_challenge: str | None = None,
    identity_provider: str | None = None,
    extra: Mapping[str, str] | None = None,
    resource: str | None = None,
) -> str:
    """The hosted sign-in URL: ``{domain}/oauth2/authorize?response_type=code&...``.

    ``resource`` (RFC 8707) asks for access tokens bound to that resource: Cognito puts it in
    their ``aud``, where a verifier given ``audience=`` looks for it. One resource per request,
    as Cognito allows.

    Example::

        authorize_url("https://auth.example.com", client_id="4a1b...",
                      redirect_uri="https://app/callback", state=state, nonce=nonce,
                      code_challenge=pair.challenge, resource="https://api.example.com")
    """
    if not state:
        raise ConfigurationError("state is required: it protects the callback against CSRF")
    params: dict[str, str] = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": redirect_uri,
        "state": state,
    }
    scope = " ".join(scopes)
    if scope:
        params["scope"] = scope
    if nonce is not None:
        params["nonce"] = nonce
    if code_challenge is not None:
        params["code_challenge"] = code_challenge
        params["code_challenge_method"] = "S256"
    if identity_provider is not None:
        params["identity_provider"] = identity_provider
    if resource is not None:
        params["resource"] = resource_indicator(resource)
    params.update(extra or {})
    return f"{domain.rstrip('/')}/oauth2/authorize?{urlencode(params)}"


@dataclass(frozen=True)
class AuthorizationRequest:
    """Everything one sign-in redirect needs; keep ``state``, ``nonce`` and the verifier.

    The repr leaves out ``code_verifier`` (a secret) and the URL (which contains the state).
    """

    url: str = field(repr=False)
    state: str = field(repr=False)
    nonce: str = field(repr=False)
    code_verifier: str = field(repr=False)
    redirect_uri: str


def authorization_request(
    domain: str,
    *,
    client_id: str,
    redirect_uri: str,
    scopes: Iterable[str] = ("openid", "email"),
    identity_provider: str | None = None,
    extra: Mapping[str, str] | None = None,
    resource: str | None = None,
) -> AuthorizationRequest:
    """A sign-in redirect with a fresh ``state``, ``nonce`` and PKCE pair; ``resource`` as in
    :func:`authorize_url`.

    Example::

        auth = authorization_request("https://auth.example.com", client_id="4a1b...",
                                     redirect_uri="https://app/callback")
        # store auth.state, auth.nonce, auth.code_verifier in the session; redirect to auth.url
    """
    pair = make_pkce_pair()
    state = secrets.token_urlsafe(24)
    nonce = secrets.token_urlsafe(24)
    url = authorize_url(
        domain,
        client_id=client_id,
        redirect_uri=redirect_uri,
        state=state,
        scopes=scopes,
        nonce=nonce,
        code_challenge=pair.challenge,
        identity_provider=identity_provider,
        extra=extra,
        resource=resource,
    )
    return AuthorizationRequest(url, state, nonce, pair.verifier, redirect_uri)
