"""The one request path every adapter shares: header -> token -> claims -> decision -> answer.

Nothing here imports a web framework. An adapter reads the request's ``Authorization`` header
values, calls :meth:`BearerGuard.authenticate` (or ``aauthenticate``), then
:meth:`BearerGuard.authorize` with the route's :class:`Requirement`, and on any
:class:`~cognito_guard.CognitoGuardError` turns :meth:`BearerGuard.answer` into its framework's
response.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from .claims import CognitoClaims
from .errors import (
    CognitoGuardError,
    ConfigurationError,
    InvalidRequestError,
    MissingTokenError,
    ServiceUnavailableError,
    TokenError,
)
from .verifier import CognitoVerifier

__all__ = ["Answer", "BearerGuard", "Requirement", "parse_authorization"]

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
    scheme, _, credentials = values[0].strip(" \t").partition(" ")
    if scheme.lower() != "bearer":
        raise InvalidRequestError("the Authorization scheme is not Bearer")
    token = credentials.strip(" \t")
    if not token:
        raise InvalidRequestError("the Authorization header has no bearer token")
    if not _is_b64token(token):
        raise InvalidRequestError("the Authorization header does not hold exactly one bearer token")
    return token


@dataclass(frozen=True)
class Requirement:
    """What a route demands of a verified token: all of ``scopes`` and any of ``groups``.

    Example: ``Requirement(scopes=("orders/read",), groups=("staff", "admins"))``
    """

    scopes: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for name in (*self.scopes, *self.groups):
            if not isinstance(name, str) or not name or name != name.strip():
                raise ConfigurationError(f"scope and group names must be non-empty, got {name!r}")

    @classmethod
    def of(cls, scopes: Iterable[str] = (), groups: Iterable[str] = ()) -> Requirement:
        """Build from any iterables; a lone string counts as one item."""
        return cls(
            (scopes,) if isinstance(scopes, str) else tuple(scopes),
            (groups,) if isinstance(groups, str) else tuple(groups),
        )

    @classmethod
    def decorator_args(
        cls, decorator: str, scopes: tuple[str, ...] = (), groups: tuple[str, ...] = ()
    ) -> Requirement:
        """The requirement of a ``require_scope(*scopes)`` / ``require_group(*groups)`` decorator.

        Every adapter's decorators build theirs here, so that they refuse the same mistakes
        (no names at all, an empty name) with the same :class:`~cognito_guard.ConfigurationError`.
        """
        if not scopes and not groups:
            raise ConfigurationError(f"{decorator}() needs one or more names")
        return cls(scopes, groups)

    def check(self, claims: CognitoClaims) -> None:
        """Raise InsufficientScopeError / MissingGroupError unless ``claims`` meet the demand."""
        claims.require_scopes(*self.scopes)
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


class BearerGuard:
    """Authenticates requests with a :class:`CognitoVerifier` and answers failures per RFC 6750.

    Example::

        guard = BearerGuard(verifier, realm="orders-api")
        try:
            claims = guard.authorize(guard.authenticate(headers), Requirement(("orders/read",)))
        except CognitoGuardError as exc:
            answer = guard.answer(exc)   # status, headers, JSON body
    """

    def __init__(self, verifier: CognitoVerifier, *, realm: str | None = None) -> None:
        self.verifier = verifier
        self.realm = realm

    def authenticate(self, authorization: Sequence[str]) -> CognitoClaims | None:
        """Verify the request's bearer token; None when the request carries no credentials."""
        token = parse_authorization(authorization)
        return None if token is None else self.verifier.verify(token)

    async def aauthenticate(self, authorization: Sequence[str]) -> CognitoClaims | None:
        """Like :meth:`authenticate`, without blocking the event loop."""
        token = parse_authorization(authorization)
        return None if token is None else await self.verifier.averify(token)

    @staticmethod
    def authorize(claims: CognitoClaims | None, requirement: Requirement) -> CognitoClaims:
        """Return ``claims`` if present and meeting ``requirement``; raise the rejection if not."""
        if claims is None:
            raise MissingTokenError("the request has no bearer token")
        requirement.check(claims)
        return claims

    def answer(self, exc: CognitoGuardError) -> Answer:
        """The HTTP answer for a rejection, logged once here (without the token)."""
        if isinstance(exc, ServiceUnavailableError):
            log.warning("cognito_guard: answering 503: %s", exc)
            return Answer(
                503,
                (("Retry-After", str(exc.retry_after)), ("Cache-Control", "no-store")),
                "temporarily_unavailable",
                exc.description,
            )
        if isinstance(exc, TokenError):
            if not isinstance(exc, MissingTokenError):
                log.info("cognito_guard: rejected a request (%s): %s", type(exc).__name__, exc)
            return Answer(
                exc.status_code,
                (
                    ("WWW-Authenticate", exc.www_authenticate(self.realm)),
                    ("Cache-Control", "no-store"),
                ),
                exc.error_code or "unauthorized",
                exc.description,
            )
        log.error("cognito_guard: answering 500 for %s", type(exc).__name__)
        return Answer(500, (), "server_error", "The request could not be authenticated")
