"""The one request path every adapter shares: credentials -> token -> claims -> decision -> answer.

Nothing here imports a web framework. An adapter wraps the request's credentials in a
:class:`Credentials` (its ``Authorization`` header values, and a way to read its session cookie),
calls :meth:`BearerGuard.authenticate` (or ``aauthenticate``) once, then
:meth:`BearerGuard.authorize` with the route's :class:`Requirement`, and on any
:class:`~cognito_guard.CognitoGuardError` turns :meth:`BearerGuard.answer` into its framework's
response. The guard decides which credentials count: a :class:`BearerGuard` only the header, a
:class:`~cognito_guard.sessions.SessionGuard` the session cookie too.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from ._values import names as _names
from .claims import CognitoClaims
from .errors import (
    CognitoGuardError,
    ConfigurationError,
    InvalidAudienceError,
    InvalidClientError,
    InvalidIssuerError,
    InvalidRequestError,
    InvalidTokenUseError,
    KeysUnavailableError,
    MissingTokenError,
    RevocationsUnavailableError,
    ServiceUnavailableError,
    TokenError,
    UnknownKeyError,
)
from .resource import ProtectedResource
from .revocation import RevocationWrites
from .verifier import CognitoVerifier

__all__ = ["Answer", "BearerGuard", "Credentials", "Requirement", "parse_authorization"]

log = logging.getLogger("cognito_guard")

# RFC 6750 section 2.1: b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
_B64TOKEN_CHARS = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~+/"


def _is_b64token(token: str) -> bool:
    # bytes.translate deleting the allowed characters is one C pass; a regex costs ~5x more.
    body = token.rstrip("=")
    return bool(body) and body.isascii() and not body.encode().translate(None, _B64TOKEN_CHARS)


def parse_authorization(values: Sequence[str]) -> str | None:
    """The bearer token in a request's ``Authorization`` header values (RFC 6750 section 2.1).

    Returns None when the request has no ``Authorization`` header. Raises
    :class:`~cognito_guard.InvalidRequestError` for several headers, another scheme, no token,
    several tokens or characters a bearer token cannot contain.

    Example::

        parse_authorization(["Bearer eyJ..."])   # -> "eyJ..."
        parse_authorization([])                  # -> None
    """
    if not values:
        return None
    if len(values) > 1:
        raise InvalidRequestError("the request has several Authorization headers")
    value = values[0]
    if value[:7] == "Bearer ":
        # The usual shape, exactly "Bearer <b64token>": the general path below would return
        # this very token (nothing to strip at either end of a b64token); anything else, such
        # as extra blanks or another spelling of the scheme, takes that path and its errors.
        token = value[7:]
        if _is_b64token(token):
            return token
    scheme, _, credentials = value.strip(" \t").partition(" ")
    if scheme.lower() != "bearer":
        raise InvalidRequestError("the Authorization scheme is not Bearer")
    token = credentials.strip(" \t")
    if not token:
        raise InvalidRequestError("the Authorization header has no bearer token")
    if not _is_b64token(token):
        raise InvalidRequestError("the Authorization header does not hold exactly one bearer token")
    return token


class Credentials:
    """What one request offers to be authenticated by: the argument of
    :meth:`BearerGuard.authenticate`.

    ``authorization`` holds every value of the request's ``Authorization`` header as received
    (empty when it has none; a WSGI server joins repeated headers into one value). ``request``
    and ``to_web_request`` are how a :class:`~cognito_guard.sessions.SessionGuard` reads the
    session cookie: ``to_web_request(request)`` turns the framework's request into a
    :class:`~cognito_guard.sessions.WebRequest`. It is called only when a guard needs the cookie
    (a :class:`~cognito_guard.sessions.SessionGuard`, on a request without an ``Authorization``
    header), so a request with a bearer token never pays for the conversion; pass a module-level
    function rather than a closure, so that building the credentials allocates nothing more.
    Without ``to_web_request`` the request is authenticated by its header alone.

    Example (an adapter)::

        def to_web_request(request: MyRequest) -> WebRequest: ...

        credentials = Credentials(request.headers.getlist("authorization"), request,
                                  to_web_request)
        claims = guard.authenticate(credentials)   # None: the request carries no credentials
    """

    __slots__ = ("_to_web_request", "authorization", "request")

    def __init__(
        self,
        authorization: Sequence[str] = (),
        request: Any = None,
        to_web_request: Callable[[Any], Any] | None = None,
    ) -> None:
        self.authorization = authorization
        self.request = request
        self._to_web_request = to_web_request

    def web_request(self) -> Any:
        """The request as a :class:`~cognito_guard.sessions.WebRequest`, built at each call;
        None when the adapter gave no ``to_web_request``."""
        convert = self._to_web_request
        return None if convert is None else convert(self.request)


@dataclass(frozen=True)
class Requirement:
    """What a route demands of a verified token: all of ``scopes`` and any of ``groups``.

    A lone string counts as one name; a name holding whitespace (``"orders/read orders/write"``,
    two scopes written as one that no token could match) is a
    :class:`~cognito_guard.ConfigurationError`.

    Example: ``Requirement(scopes=("orders/read",), groups=("staff", "admins"))``
    """

    scopes: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        # A frozen dataclass: normalise through object.__setattr__, once, at construction.
        object.__setattr__(self, "scopes", _names(self.scopes, "scopes", "scopes=({},)"))
        object.__setattr__(self, "groups", _names(self.groups, "groups", "groups=({},)"))

    @classmethod
    def of(cls, scopes: Iterable[str] = (), groups: Iterable[str] = ()) -> Requirement:
        """Build from any iterables; a lone string counts as one item."""
        return cls(
            (scopes,) if isinstance(scopes, str) else tuple(scopes),
            (groups,) if isinstance(groups, str) else tuple(groups),
        )

    @classmethod
    def decorator_args(
        cls, decorator: str, scopes: tuple[Any, ...] = (), groups: tuple[Any, ...] = ()
    ) -> Requirement:
        """The requirement of a ``require_scope(*scopes)`` / ``require_group(*groups)`` decorator.

        Every adapter's decorators build theirs here, so that they refuse the same mistakes with
        the same :class:`~cognito_guard.ConfigurationError`: no names at all, an empty name, the
        decorator written without its call (``@require_scope`` above a view), a list instead of
        separate arguments, several names in one string.
        """
        names = scopes or groups
        kind = "scope" if scopes else "group"
        if not names:
            raise ConfigurationError(
                f"{decorator}() needs one or more names: @{decorator}('orders/read')"
            )
        for name in names:
            if callable(name):
                raise ConfigurationError(
                    f"@{decorator} must be called with the {kind}(s) it demands: write "
                    f"@{decorator}('orders/read'), not @{decorator} (the view would be taken "
                    f"for a {kind} name)"
                )
            if not isinstance(name, str):
                raise ConfigurationError(
                    f"{decorator}() takes the names as separate string arguments: "
                    f"{decorator}('a', 'b'), not {decorator}({name!r})"
                )
        fix = f"{decorator}({{}})"
        return cls(_names(scopes, decorator + "()", fix), _names(groups, decorator + "()", fix))

    @property
    def is_empty(self) -> bool:
        """True when any valid token meets the demand (no scope, no group)."""
        return not (self.scopes or self.groups)

    def check(self, claims: CognitoClaims) -> None:
        """Raise InsufficientScopeError / MissingGroupError unless ``claims`` meet the demand."""
        # Most routes demand nothing beyond a valid token, or scopes alone: skip what is empty.
        if self.scopes:
            claims.require_scopes(*self.scopes)
        if self.groups:
            claims.require_groups(*self.groups)


@dataclass(frozen=True)
class Answer:
    """A framework-neutral HTTP error answer: status, headers and a small JSON body."""

    status: int
    headers: tuple[tuple[str, str], ...]
    error: str
    description: str

    @property
    def body(self) -> dict[str, str]:
        """``{"error": ..., "error_description": ...}``."""
        return {"error": self.error, "error_description": self.description}

    def json(self) -> bytes:
        """The body as UTF-8 JSON bytes."""
        return json.dumps(self.body).encode()


# Rejections that, repeated, usually mean the verifier's settings do not match the tokens the
# clients send (not a bad client): each distinct cause is logged once at WARNING per window, so
# that a default server set-up (WARNING and above) shows it; every other record is INFO.
_SETTINGS_HINTS: dict[type[CognitoGuardError], str] = {
    InvalidIssuerError: "check the user pool id / issuer setting",
    InvalidClientError: "check the client id setting",
    InvalidAudienceError: "check the audience setting (a token requested without resource=?)",
    InvalidTokenUseError: "check the token_use setting (an ID token where access is expected?)",
    UnknownKeyError: "check the user pool / JWKS URL setting",
    KeysUnavailableError: "the JWKS URL cannot be reached",
    RevocationsUnavailableError: "the revocation list's Redis cannot be reached",
}
_WARN_EVERY = 300.0  # seconds between two WARNINGs for one cause
_MAX_CAUSES = 64  # distinct causes remembered; beyond that they are logged at INFO


def _printable(text: str, limit: int = 200) -> str:
    # A request path is the client's text (PATH_INFO is already %-decoded): escape control
    # characters so that it cannot forge log lines, and bound its length.
    if text.isprintable() and len(text) <= limit:
        return text
    escaped = text.encode("unicode_escape", "backslashreplace").decode("ascii")
    return escaped if len(escaped) <= limit else escaped[: limit - 3] + "..."


class BearerGuard:
    """Authenticates requests with a :class:`CognitoVerifier` and answers failures per RFC 6750.

    ``resource`` (the API's resource identifier, RFC 8707 / RFC 9728) makes every challenge of
    :meth:`answer` carry ``resource_metadata="<its metadata URL>"``, where clients learn which
    user pool issues tokens for it. It must be one of the verifier's audiences: a verifier
    without ``audience=`` is refused, as it would accept tokens issued for other resources.

    Example::

        guard = BearerGuard(verifier, realm="orders-api")
        try:
            claims = guard.authenticate(Credentials(["Bearer eyJ..."]))  # or ["Bearer eyJ..."]
            claims = guard.authorize(claims, Requirement(("orders/read",)))
        except CognitoGuardError as exc:
            answer = guard.answer(exc, method="GET", path="/orders")   # status, headers, body
    """

    def __init__(
        self,
        verifier: CognitoVerifier,
        *,
        realm: str | None = None,
        resource: str | ProtectedResource | None = None,
    ) -> None:
        if not isinstance(verifier, CognitoVerifier):
            raise ConfigurationError(
                f"the verifier must be a CognitoVerifier, not {type(verifier).__name__}"
            )
        if realm is not None and not isinstance(realm, str):
            raise ConfigurationError(f"realm must be a string, not {type(realm).__name__}")
        self.verifier = verifier
        self.realm = realm
        self.resource = None if resource is None else _protected_resource(resource, verifier)
        self._warned: dict[tuple[str, str], float] = {}
        self._warned_lock = threading.Lock()

    def authenticate(self, credentials: Credentials | Sequence[str]) -> CognitoClaims | None:
        """The verified claims of a request; None when it carries no credentials.

        ``credentials`` is the request's :class:`Credentials`, or just the sequence of its
        ``Authorization`` header values. This guard judges the bearer token alone: a malformed
        header raises :class:`~cognito_guard.InvalidRequestError`, a bad token its
        :class:`~cognito_guard.TokenError`, unreachable keys
        :class:`~cognito_guard.KeysUnavailableError`.

        Example: ``claims = guard.authenticate(Credentials(["Bearer eyJ..."]))``
        """
        token = parse_authorization(
            credentials.authorization if isinstance(credentials, Credentials) else credentials
        )
        return None if token is None else self.verifier.verify(token)

    async def aauthenticate(self, credentials: Credentials | Sequence[str]) -> CognitoClaims | None:
        """Like :meth:`authenticate`, without blocking the event loop.

        Example: ``claims = await guard.aauthenticate(Credentials(["Bearer eyJ..."]))``
        """
        token = parse_authorization(
            credentials.authorization if isinstance(credentials, Credentials) else credentials
        )
        return None if token is None else await self.verifier.averify(token)

    @staticmethod
    def authorize(claims: CognitoClaims | None, requirement: Requirement) -> CognitoClaims:
        """Return ``claims`` if present and meeting ``requirement``; raise the rejection if not."""
        if claims is None:
            raise MissingTokenError("the request has no bearer token")
        requirement.check(claims)
        return claims

    @property
    def revocations(self) -> RevocationWrites:
        """The verifier's revocation list (the one ``COGNITO_REVOCATIONS_URL`` built), for
        ``CognitoTokenClient.sign_out``/``global_sign_out`` and the list's own writes: a sign-out
        recorded through it is refused by this guard at once and by every process sharing it.

        Raises :class:`~cognito_guard.ConfigurationError` when the verifier has no list, or one
        without the writes (a sign-out must never be dropped silently).

        Example: ``client.sign_out(tokens, revocations=guard.revocations)``
        """
        revocations = self.verifier.revocations
        if revocations is None:
            raise ConfigurationError(
                "the verifier has no revocation list: set COGNITO_REVOCATIONS_URL (REVOCATIONS_URL "
                "in Django's COGNITO_GUARD) or build the CognitoVerifier with revocations=..."
            )
        if not isinstance(revocations, RevocationWrites):
            raise ConfigurationError(
                f"the verifier's revocation list ({type(revocations).__name__}) has no "
                "revoke_token/revoke_session/sign_out_user: it cannot record a sign-out"
            )
        return revocations

    def answer(
        self, exc: CognitoGuardError, *, method: str | None = None, path: str | None = None
    ) -> Answer:
        """The HTTP answer for a rejection, logged here: one record per call, never the token.

        ``method`` and ``path`` (the request's; never its query string) go into the record. A
        rejection that points at the settings (wrong issuer, client, audience, token use,
        unknown key, keys unavailable) is logged at WARNING the first time its cause is seen in
        a while, and at INFO after; other rejections at INFO; an unexpected error (a 500) at
        ERROR. With ``resource=``, every challenge names the metadata document (see
        :meth:`www_authenticate`).
        """
        if isinstance(exc, ServiceUnavailableError):
            answer = Answer(
                503,
                (("Retry-After", str(exc.retry_after)), ("Cache-Control", "no-store")),
                "temporarily_unavailable",
                exc.description,
            )
        elif isinstance(exc, TokenError):
            answer = Answer(
                exc.status_code,
                (
                    ("WWW-Authenticate", self.www_authenticate(exc)),
                    ("Cache-Control", "no-store"),
                ),
                exc.error_code or "unauthorized",
                exc.description,
            )
        else:
            answer = Answer(500, (), "server_error", "The request could not be authenticated")
        self._log(exc, answer.status, method, path)
        return answer

    def www_authenticate(self, exc: TokenError) -> str:
        """The ``WWW-Authenticate`` challenge of ``exc``: its RFC 6750 parameters, this guard's
        realm and, with ``resource=``, ``resource_metadata`` (RFC 9728 section 5.1).

        Example: ``guard.www_authenticate(MissingTokenError("no token"))``
        """
        challenge = exc.www_authenticate(self.realm)
        return challenge if self.resource is None else self.resource.challenge(challenge)

    def _log(
        self, exc: CognitoGuardError, status: int, method: str | None, path: str | None
    ) -> None:
        where = f"{method or '-'} {_printable(path) if path is not None else '-'}"
        name = type(exc).__name__
        if status == 500:
            log.error("answering 500 to %s: %s: %s", where, name, exc)
            return
        hint = _SETTINGS_HINTS.get(type(exc))
        if hint is not None and self._first_in_a_while(name, str(exc)):
            log.warning(
                "rejected %s with %d: %s: %s (%s; repeats of this cause are logged at INFO "
                "for %.0f s)",
                where,
                status,
                name,
                exc,
                hint,
                _WARN_EVERY,
            )
            return
        log.info("rejected %s with %d: %s: %s", where, status, name, exc)

    def _first_in_a_while(self, name: str, detail: str) -> bool:
        now = time.monotonic()
        key = (name, detail)
        with self._warned_lock:
            last = self._warned.get(key)
            if last is not None and now - last < _WARN_EVERY:
                return False
            if key not in self._warned and len(self._warned) >= _MAX_CAUSES:
                # Issuers come from unverified tokens: a flood of made-up ones must not grow
                # this without bound or turn into a flood of WARNINGs.
                self._warned = {k: t for k, t in self._warned.items() if now - t < _WARN_EVERY}
                if len(self._warned) >= _MAX_CAUSES:
                    return False
            self._warned[key] = now
            return True


def _protected_resource(
    resource: str | ProtectedResource, verifier: CognitoVerifier
) -> ProtectedResource:
    name = resource.resource if isinstance(resource, ProtectedResource) else resource
    if not verifier.audiences:
        raise ConfigurationError(
            f"resource={name!r} needs a verifier that checks the audience: build it with "
            f"audience={name!r} (COGNITO_AUDIENCE): without an audience check this resource "
            "server would accept access tokens issued for other resources"
        )
    if isinstance(resource, ProtectedResource):
        if resource.resource not in verifier.audiences:
            raise ConfigurationError(
                f"resource {name!r} is not one of the verifier's audiences "
                f"{list(verifier.audiences)}: clients would get tokens it refuses"
            )
        return resource
    if not isinstance(resource, str):
        raise ConfigurationError(
            f"resource must be a URL string such as 'https://api.example.com', not "
            f"{type(resource).__name__}"
        )
    return ProtectedResource.for_verifier(resource, verifier)
