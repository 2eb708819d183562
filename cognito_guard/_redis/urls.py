"""Redis URLs: which are accepted, and how they are shown without their credentials."""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import quote, unquote, unquote_plus, urlsplit

from ..errors import ConfigurationError

__all__ = ["SCHEMES", "check_url", "describe", "redact_url", "url_secrets"]

SCHEMES = ("redis", "rediss", "unix")


def check_url(url: object, what: str = "the Redis URL") -> str:
    """Return ``url`` if it is a ``redis://``, ``rediss://`` or ``unix://`` URL, else raise.

    The error names the scheme found, never the URL itself (it may hold a password).
    """
    if not isinstance(url, str) or not url:
        raise ConfigurationError(f"{what} must be a non-empty string")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a non-numeric port
    except ValueError:
        raise ConfigurationError(f"{what} is not a valid URL") from None
    if parts.scheme not in SCHEMES:
        # "localhost:6379" parses as the scheme "localhost": without "://" there is none. Only a
        # bare host[:port][/db] is repeated in the hint: it cannot hold a password.
        found = f"'{parts.scheme}://'" if parts.scheme and "://" in url else "no scheme"
        if re.fullmatch(r"[A-Za-z0-9.-]+(:\d{1,5})?(/\d{1,5})?", url):
            found += f"; did you mean 'redis://{url}'?"
        raise ConfigurationError(
            f"{what} must start with redis://, rediss:// (TLS) or unix:// (found {found})"
        )
    if parts.scheme == "unix":
        if not parts.path:
            raise ConfigurationError(f"{what} names no socket path (unix:///path/to/redis.sock)")
    elif not parts.hostname:
        raise ConfigurationError(f"{what} names no host (redis://HOST:6379/0)")
    return url


# A query parameter whose name (percent-decoded, case-folded, letters and digits only) contains
# one of these holds a secret: password, ssl_password, ssl_keyfile_password, passwd, pwd, token,
# api_key, client_secret, credentials, auth... Hiding a harmless value (ssl_keyfile, a path) costs
# nothing; showing a secret one is the failure to avoid.
_SECRET_WORDS = ("pass", "pw", "secret", "token", "key", "cred", "auth", "private")
_PLAIN_NAME = re.compile(r"[A-Za-z0-9_.-]+")
_MASK = "***"


def _decoded(text: str) -> str:
    """``text`` percent-decoded until it no longer changes (a few rounds at most)."""
    for _ in range(4):
        decoded = unquote_plus(text)
        if decoded == text:
            break
        text = decoded
    return text


def _secret_name(name: str) -> bool:
    folded = unicodedata.normalize("NFKC", _decoded(name)).casefold()
    letters = "".join(c for c in folded if c.isalnum())
    return any(word in letters for word in _SECRET_WORDS)


def _variants(secret: str) -> list[str]:
    """``secret`` as written and as a server would read it (percent-decoded)."""
    return [v for v in dict.fromkeys((secret, unquote(secret), _decoded(secret))) if v]


def _printable(text: str) -> str:
    """Control characters percent-encoded: a redacted URL goes into one log line."""
    return "".join(c if c.isprintable() else quote(c, safe="") for c in text)


def _redact(url: str) -> tuple[str, list[str]]:
    """(``url`` with its credentials masked, the masked values in every spelling)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "(an invalid URL)", []
    secrets: list[str] = []
    if "@" in parts.path + parts.query + parts.fragment:
        # A raw "/", "?" or "#" in a password ends the host early and pushes the rest of the
        # password into the path, query or fragment. Everything up to the last "@" counts as
        # credentials (a host cannot hold "@"): the host, path and options after it stay shown.
        head, _, tail = url.rpartition("@")
        start = head.find("//") + 2 if "//" in head else len(parts.scheme) + 1
        shown, after = _redact(f"{parts.scheme}://{_MASK}@{tail}")
        before = _redact(head)[1]  # a password= option before the last "@", for describe()
        return shown, [*_variants(head[start:]), *before, *(v for v in after if v != _MASK)]
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, hostport = netloc.rpartition("@")
        user, colon, password = userinfo.partition(":")
        secrets += _variants(password if colon else userinfo)
        # The username is an ACL user name, shown so an operator can tell connections apart;
        # alone (no ":") it is the password of a server without ACL users, and is hidden.
        if colon and not any(v in user or v in unquote(user) for v in _variants(password)):
            netloc = f"{user}:{_MASK}@{hostport}"
        elif colon:
            netloc = f"{_MASK}:{_MASK}@{hostport}"
        else:
            netloc = f"{_MASK}@{hostport}"
    pairs = []
    # redis-py splits on "&" only; ";" is a separator here too, so "db=0;password=x" is hidden.
    for pair, separator in re.findall(r"([^&;]*)([&;]?)", parts.query):
        if not pair:
            pairs.append(separator)
            continue
        name, eq, value = pair.partition("=")
        if not _secret_name(name):
            pairs.append(pair + separator)
        elif eq and _PLAIN_NAME.fullmatch(_decoded(name)):
            secrets += _variants(value)
            pairs.append(f"{name}={_MASK}{separator}")
        else:  # an odd name ("password%3Dx", no "=") may hold the secret itself
            secrets += [*_variants(pair), *_variants(value)]
            pairs.append(_MASK + separator)
    query = "".join(pairs)
    # redis-py ignores the fragment; it is hidden rather than judged.
    if parts.fragment:
        secrets += _variants(parts.fragment)
    # Put together by hand: urlunsplit writes "unix:///path" as "unix:/path".
    shown = f"{parts.scheme}:" if parts.scheme else ""
    if netloc or re.match(r"[^/?#]*//", url.lstrip()):
        shown += f"//{netloc}"
    shown += parts.path
    shown += f"?{query}" if query else ""
    shown += f"#{_MASK}" if parts.fragment else ""
    return _printable(shown), secrets


def redact_url(url: str) -> str:
    """``url`` with its credentials replaced by ``***``, safe to log and print.

    Hidden: the password of the userinfo (a userinfo without ``:`` entirely: it is then a
    password); every query value whose name, percent-decoded and in any case, suggests a secret
    (``password``, ``ssl_password``, ``ssl_keyfile_password``, ``token``, ``api_key``,
    ``secret``, ``credentials``, ``auth``...); the fragment; and everything up to the last
    ``@`` when an ``@`` appears after the host (a password holding a raw ``/``, ``?`` or ``#``).
    Shown: the scheme, the username, the host and port, the path (db or socket) and the other
    query options.

    Example: ``redact_url("rediss://app:pw@cache:6380/0?ssl_password=x")`` is
    ``"rediss://app:***@cache:6380/0?ssl_password=***"``.
    """
    return _redact(url)[0]


def url_secrets(url: str) -> tuple[str, ...]:
    """The values :func:`redact_url` hides, as written and percent-decoded, longest first.

    Empty when the URL carries no credentials. Give them to :func:`describe` to strip them from
    an error's text.
    """
    return tuple(sorted(set(_redact(url)[1]), key=len, reverse=True))


def describe(exc: BaseException, secrets: tuple[str, ...] = ()) -> str:
    """A one-line description of a Redis error for logs, with ``secrets`` removed."""
    text = str(exc)
    # Longest first: a secret that holds a shorter one is removed whole.
    for secret in sorted(secrets, key=len, reverse=True):
        if secret:
            text = text.replace(secret, "***")
    text = " ".join(text.split())[:200]
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
