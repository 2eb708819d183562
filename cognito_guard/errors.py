"""The error hierarchy of cognito_guard.

Every rejection of a token is a :class:`TokenError` subclass that knows its HTTP status and its
RFC 6750 ``WWW-Authenticate`` challenge. Failing to obtain the signing keys is not a property of the
token, so it is a separate :class:`KeysUnavailableError` (HTTP 503); so is not being able to check
the revocation list (:class:`RevocationsUnavailableError`). Both subclass
:class:`ServiceUnavailableError`.

``str(error)`` is a detailed message meant for logs; it never contains the token, a signature or key
material, and values taken from an unverified token are shortened and escaped. ``error.description``
is a short fixed sentence that is safe to send to the client.

Example::

    try:
        claims = verifier.verify(token)
    except InsufficientScopeError as exc:
        return 403, exc.www_authenticate()
    except TokenError as exc:
        return exc.status_code, exc.www_authenticate()
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar

__all__ = [
    "ClaimCheckError",
    "CognitoGuardError",
    "ConfigurationError",
    "ExpiredTokenError",
    "InsufficientScopeError",
    "InvalidAlgorithmError",
    "InvalidClientError",
    "InvalidIssuerError",
    "InvalidPathError",
    "InvalidRequestError",
    "InvalidSignatureError",
    "InvalidTokenUseError",
    "KeysUnavailableError",
    "MalformedClaimsError",
    "MalformedTokenError",
    "MissingGroupError",
    "MissingTokenError",
    "NotYetValidError",
    "RevocationsUnavailableError",
    "RevokedTokenError",
    "ServiceUnavailableError",
    "TokenError",
    "UnknownKeyError",
]


def _quote(value: str) -> str:
    """Make ``value`` legal inside an RFC 6750 quoted-string (no quote, backslash or control)."""
    return "".join(ch for ch in value if 0x20 <= ord(ch) <= 0x7E and ch not in '"\\')


def shorten(value: object, limit: int = 60) -> str:
    """A printable, bounded ``repr`` of a value that may come from an attacker."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


class CognitoGuardError(Exception):
    """Base class of every exception this library raises on purpose."""


class ConfigurationError(CognitoGuardError, ValueError):
    """The library was configured with invalid values (raised at construction, not per request)."""


class TokenError(CognitoGuardError):
    """A token was rejected. Maps to HTTP 401 ``invalid_token`` unless a subclass says otherwise."""

    status_code: ClassVar[int] = 401
    error_code: ClassVar[str] = "invalid_token"
    description: ClassVar[str] = "The access token is invalid"

    def www_authenticate(self, realm: str | None = None) -> str:
        """The RFC 6750 ``WWW-Authenticate`` header value for this rejection."""
        parts = [f'realm="{_quote(realm)}"'] if realm else []
        if not self.error_code:  # RFC 6750 section 3.1: no error code when no credentials came
            return "Bearer " + ", ".join(parts) if parts else "Bearer"
        parts.append(f'error="{self.error_code}"')
        parts.append(f'error_description="{_quote(self.description)}"')
        parts.extend(self._extra_challenge_params())
        return "Bearer " + ", ".join(parts)

    def _extra_challenge_params(self) -> list[str]:
        return []


class MissingTokenError(TokenError):
    """A protected resource was requested without a bearer token (401, no error code)."""

    error_code = ""
    description = "A bearer token is required"


class InvalidRequestError(TokenError):
    """The request carried credentials in a malformed way (RFC 6750 ``invalid_request``, 400)."""

    status_code = 400
    error_code = "invalid_request"
    description = "The Authorization header is malformed"


class InvalidPathError(InvalidRequestError):
    """The request path is not one that path rules can judge (400 ``invalid_request``).

    Raised by :class:`~cognito_guard.rules.PathRules` for a path with ``.``, ``..`` or empty
    segments, percent-encoded ones included, or one that does not start with ``/``: the rules
    would judge one path while the application routes another, so neither is guessed.
    """

    description = "The request path must be absolute, without '.', '..' or empty segments"


class MalformedTokenError(TokenError):
    """The token is not a well-formed JWS compact serialisation with JSON header and claims."""

    description = "The token is malformed"


class MalformedClaimsError(MalformedTokenError):
    """The token is well formed and its signature verified, but a claim is missing or mistyped.

    ``claim`` names it (``"exp"``, ``"sub"``, ``"cognito:groups"`` ...).
    """

    def __init__(self, message: str, claim: str) -> None:
        super().__init__(message)
        self.claim = claim


class InvalidAlgorithmError(MalformedTokenError):
    """The header names an algorithm other than RS256, or a header this library refuses."""

    description = "The token is signed with an unsupported algorithm"


class UnknownKeyError(TokenError):
    """No key of the issuer's JWKS has the token's ``kid``."""

    description = "The token is signed with an unknown key"


class InvalidSignatureError(TokenError):
    """The signature does not verify with the issuer's key."""

    description = "The token signature is invalid"


class ExpiredTokenError(TokenError):
    """The token's ``exp`` has passed (beyond the configured leeway)."""

    description = "The token has expired"


class NotYetValidError(TokenError):
    """The token's ``iat`` or ``nbf`` lies in the future (beyond the configured leeway)."""

    description = "The token is not valid yet"


class InvalidIssuerError(TokenError):
    """The token's ``iss`` is not one of the configured issuers."""

    description = "The token was issued by an untrusted issuer"


class InvalidTokenUseError(TokenError):
    """The token's ``token_use`` is not the expected one (an ID token for an access token)."""

    description = "The token is of the wrong type"


class InvalidClientError(TokenError):
    """The token's ``client_id`` (access) or ``aud`` (ID) is not an accepted app client."""

    description = "The token was issued to another client"


class ClaimCheckError(TokenError):
    """A custom claim check rejected the token."""

    description = "The token was rejected by a claim check"


class InsufficientScopeError(TokenError):
    """The token lacks a required scope (HTTP 403 ``insufficient_scope``)."""

    status_code = 403
    error_code = "insufficient_scope"
    description = "The token lacks a required scope"

    def __init__(self, message: str, required: Iterable[str] = ()) -> None:
        super().__init__(message)
        self.required: tuple[str, ...] = tuple(required)

    def _extra_challenge_params(self) -> list[str]:
        if not self.required:
            return []
        return [f'scope="{_quote(" ".join(self.required))}"']


class MissingGroupError(TokenError):
    """The token's user is in none of the required groups (HTTP 403 ``insufficient_scope``)."""

    status_code = 403
    error_code = "insufficient_scope"
    description = "The user is not in a required group"


class RevokedTokenError(TokenError):
    """The token, its sign-in session or its user's sessions were revoked (401 ``invalid_token``).

    Raised by a verifier given ``revocations=``: the token's ``jti`` or ``origin_jti`` is on the
    revocation list, or its user was signed out at or after the token's ``iat``.
    """

    description = "The token has been revoked"


class ServiceUnavailableError(CognitoGuardError):
    """Something the verdict depends on is unavailable (HTTP 503); not the token's fault.

    ``retry_after`` is a hint in whole seconds for a ``Retry-After`` header; ``description`` is
    a fixed sentence safe to send to the client.
    """

    status_code: ClassVar[int] = 503
    description: ClassVar[str] = "The request cannot be authenticated now; try again later"

    def __init__(self, message: str, retry_after: int = 1) -> None:
        super().__init__(message)
        self.retry_after = max(1, int(retry_after))


class KeysUnavailableError(ServiceUnavailableError):
    """The issuer's signing keys could not be obtained (HTTP 503); not the token's fault.

    ``retry_after`` is a hint in whole seconds for a ``Retry-After`` header.
    """

    description = "The token signing keys cannot be fetched; try again later"


class RevocationsUnavailableError(ServiceUnavailableError):
    """The revocation list could not be kept current (HTTP 503); not the token's fault.

    Raised by :class:`~cognito_guard.revocation.RedisRevocations` in ``fail_closed`` mode when
    Redis has not been synchronised with for longer than ``max_staleness``, and by a revocation
    write that Redis did not record (the revocation was not shared: retry it).
    """

    description = "The token revocation list cannot be checked; try again later"


# -- the token client's errors (public as cognito_guard.client.*)


class OAuthError(CognitoGuardError):
    """Cognito refused a token-lifecycle request.

    ``error`` is the OAuth 2.0 error code (``invalid_grant``, ``invalid_client``,
    ``invalid_request``, ``unauthorized_client``, ``unsupported_grant_type``, ``invalid_scope``,
    ``unsupported_token_type``, ``invalid_token``, ``insufficient_scope``). Errors of the user-pool
    API are mapped to the nearest code; the original ``__type`` is kept in ``aws_error_type``.
    The message never contains a token, a client secret or a PKCE verifier.

    Example::

        try:
            tokens = client.refresh(refresh_token)
        except OAuthError as exc:
            if exc.error == "invalid_grant":
                ...  # the refresh token was revoked or expired: sign the user in again
    """

    def __init__(
        self,
        error: str,
        description: str = "",
        *,
        operation: str = "",
        status_code: int | None = None,
        aws_error_type: str | None = None,
    ) -> None:
        self.error = error
        self.description = description
        self.operation = operation
        self.status_code = status_code
        self.aws_error_type = aws_error_type
        text = f"{operation}: {error}" if operation else error
        if aws_error_type:
            text += f" ({aws_error_type})"
        if description:
            text += f": {description}"
        super().__init__(text)


class TokenEndpointUnavailable(CognitoGuardError):
    """Cognito could not be reached or gave no usable answer: not a verdict on the request.

    Raised for connection errors, timeouts, HTTP 5xx, throttling and answers that are not the
    documented format. Retrying later may succeed; ``status_code`` is the HTTP status when there
    was a response. The message never contains a token or a secret.

    Example::

        try:
            tokens = client.client_credentials(scopes=["orders/read"])
        except TokenEndpointUnavailable:
            ...  # back off and retry
    """

    def __init__(self, message: str, *, status_code: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code


class UnsupportedOperationError(OAuthError):
    """The endpoint does not implement an operation the client needs: not an outage.

    Raised by a refresh through the user-pool API when the endpoint answers that it does not
    know ``GetTokensFromRefreshToken`` (local emulators such as moto lack it) and the client was
    made with ``refresh_token_rotation=True``: no other operation returns rotated refresh
    tokens, and Cognito refuses ``InitiateAuth REFRESH_TOKEN_AUTH`` for such app clients.
    Asking again gets the same answer, so the client raises it from then on without asking.
    ``missing_operation`` names the operation; ``error`` is ``unsupported_grant_type``.

    Example::

        try:
            tokens = client.refresh(refresh_token)
        except UnsupportedOperationError as exc:
            ...  # exc.missing_operation == "GetTokensFromRefreshToken": fix the endpoint_url
    """

    def __init__(
        self,
        missing_operation: str,
        description: str,
        *,
        operation: str = "",
        status_code: int | None = None,
        aws_error_type: str | None = None,
    ) -> None:
        super().__init__(
            "unsupported_grant_type",
            description,
            operation=operation,
            status_code=status_code,
            aws_error_type=aws_error_type,
        )
        self.missing_operation = missing_operation


# -- web sign-in's errors (public as cognito_guard.sessions.*)


class SessionStoreUnavailable(CognitoGuardError):
    """The session store cannot be reached, or a refresh lock could not be had in time.

    Not a verdict on the session: the request is answered 503 with ``Retry-After``.
    """

    retry_after = 5


class _BadHost(Exception):
    pass


# -- the Django integration's errors (public as cognito_guard.integrations.django.*)


class UserRefusedError(TokenError):
    """The token is valid but its user may not use this site (HTTP 403)."""

    status_code = 403
    error_code = "access_denied"
    description = "The user may not use this service"


class UnknownUserError(UserRefusedError):
    """``CREATE_USERS`` is False and the token's user has no row here."""

    error_code = "unknown_user"
    description = "The user has no account on this service"


class InactiveUserError(UserRefusedError):
    """The linked user is deactivated (``is_active`` False)."""

    error_code = "inactive_user"
    description = "The user account is disabled"


# -- the Flask integration's errors


class CognitoUsageError(Exception):
    """The integration was used where it cannot work (a blocking verification in an async view).

    Deliberately not a RuntimeError: werkzeug's LocalProxy turns a RuntimeError raised while
    testing ``if current_cognito_user:`` into False, which would hide the mistake.
    """


# -- internal errors: they never leave the library as such


class JWKSError(Exception):
    """A JWKS document could not be fetched or had no usable key (internal; becomes a 503)."""


class BodyTooLarge(Exception):
    """A response body exceeded its size cap (the body is not kept)."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"the response exceeds the {limit}-byte cap")
        self.limit = limit


class NotAJWT(Exception):
    """The text is not a decodable JWT (the message says why; it never contains the text)."""
