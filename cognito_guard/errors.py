"""Every error class of cognito_guard, and the one shape they share.

Every error has:

- ``status_code``: the HTTP status of the answer it stands for;
- ``error_code``: the RFC 6750 / OAuth 2.0 error code of that answer, or None;
- ``description``: a short fixed sentence that is safe to send to the client;
- ``check``: for a rejected token, the verifier step that raised it, by the names of the
  ``cognito-guard verify --explain`` report (``"structure"``, ``"algorithm"``, ``"issuer"``,
  ``"signing key"``, ``"signature"``, ``"expiry"``, ``"not before"``, ``"token use"``,
  ``"claims"``, ``"client"``, ``"audience"``, ``"scopes"``, ``"groups"``, ``"custom check"``,
  ``"revocation"``);
  None for an error no verifier step raises.

Every rejection of a token is a :class:`TokenError` subclass that also knows its RFC 6750
``WWW-Authenticate`` challenge. Something the verdict depends on being unavailable (the signing
keys, the revocation list, Cognito's token endpoint, the session store) is not the token's fault:
a :class:`ServiceUnavailableError` (HTTP 503) with a ``retry_after`` hint.

``str(error)`` is a detailed message meant for logs; it never contains the token, a signature or key
material, and values taken from an unverified token are shortened and escaped.

This module imports nothing else of cognito_guard: every other module may import it. ``__all__``
lists the errors of the verifying core, re-exported by :mod:`cognito_guard`; the errors of the
token client, web sign-in and the framework integrations are defined here too, and public where
they are raised (``cognito_guard.client``, ``cognito_guard.sessions``,
``cognito_guard.integrations.*``).

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
from typing import Any

__all__ = [
    "ClaimCheckError",
    "CognitoGuardError",
    "ConfigurationError",
    "ExpiredTokenError",
    "InsufficientScopeError",
    "InvalidAlgorithmError",
    "InvalidAudienceError",
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


def _rebuild(cls: type[CognitoGuardError], args: tuple[Any, ...]) -> CognitoGuardError:
    """Unpickle an error: ``args`` restored, ``__init__`` not called (its parameters vary)."""
    return cls.__new__(cls, *args)


# The attributes of an error's answer that a subclass may set in its header (see below).
_ANSWER_ATTRIBUTES = ("status_code", "error_code", "description", "check", "retry_after")


class CognitoGuardError(Exception):
    """Base class of every exception this library raises on purpose.

    Its ``status_code``, ``error_code`` and ``description`` are those of the answer to a request
    that meets an error no answer was foreseen for: 500 ``server_error``.

    A subclass states in its header what differs from its base: the fixed attributes of its
    answer as keywords (``status_code``, ``error_code``, ``description``, ``check``,
    ``retry_after``), each one left out keeping the base class's value. Example::

        class UnknownKeyError(TokenError, description="...", check="signing key"): ...
    """

    status_code: int = 500
    error_code: str | None = "server_error"
    description: str = "The request could not be authenticated"
    check: str | None = None

    def __init_subclass__(cls, **keywords: Any) -> None:
        answer = {name: keywords.pop(name) for name in _ANSWER_ATTRIBUTES if name in keywords}
        super().__init_subclass__(**keywords)  # any other keyword is refused there
        for name, value in answer.items():
            setattr(cls, name, value)

    def __reduce__(self) -> tuple[Any, ...]:
        # Subclasses take other constructor arguments than their message: rebuild from the
        # arguments and the attributes as they are, so that every error pickles (processes,
        # caches) and copies.
        return (_rebuild, (type(self), self.args), self.__dict__)


class ConfigurationError(CognitoGuardError, ValueError):
    """The library was configured with invalid values (raised at construction, not per request)."""


class CognitoUsageError(ConfigurationError):
    """The library was used where it cannot work: a programming error, found at a request.

    Raised by the Flask integration for a blocking verification in an async view. Deliberately
    not a RuntimeError: werkzeug's LocalProxy turns a RuntimeError raised while testing
    ``if current_cognito_user:`` into False, which would hide the mistake.
    """


# -- rejected tokens ------------------------------------------------------------------------------


class TokenError(CognitoGuardError):
    """A token was rejected. Maps to HTTP 401 ``invalid_token`` unless a subclass says otherwise.

    A ``TokenError`` raised by a ``custom_check`` itself counts as that check's failure.
    """

    status_code = 401
    error_code: str | None = "invalid_token"
    description = "The access token is invalid"
    check: str | None = "custom check"

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


class MissingTokenError(
    TokenError, error_code=None, description="A bearer token is required", check=None
):
    """A protected resource was requested without a bearer token (401, no error code)."""


class InvalidRequestError(
    TokenError,
    status_code=400,
    error_code="invalid_request",
    description="The Authorization header is malformed",
    check=None,
):
    """The request carried credentials in a malformed way (RFC 6750 ``invalid_request``, 400)."""


class InvalidPathError(
    InvalidRequestError,
    description="The request path must be absolute, without '.', '..' or empty segments",
):
    """The request path is not one that path rules can judge (400 ``invalid_request``).

    Raised by :class:`~cognito_guard.rules.PathRules` for a path with ``.``, ``..`` or empty
    segments, percent-encoded ones included, or one that does not start with ``/``: the rules
    would judge one path while the application routes another, so neither is guessed.
    """


class MalformedTokenError(TokenError, description="The token is malformed", check="structure"):
    """The token is not a well-formed JWS compact serialisation with JSON header and claims."""


# The time claims are judged by the time checks; every other claim by the claim-type check.
_CLAIM_CHECKS = {"exp": "expiry", "iat": "not before", "nbf": "not before"}


class MalformedClaimsError(MalformedTokenError, check="claims"):
    """The token is well formed and its signature verified, but a claim is missing or mistyped.

    ``claim`` names it (``"exp"``, ``"sub"``, ``"cognito:groups"`` ...); ``check`` is the step
    that reads it: ``"expiry"`` for ``exp``, ``"not before"`` for ``iat`` and ``nbf``,
    ``"claims"`` for the others.
    """

    def __init__(self, message: str, claim: str) -> None:
        super().__init__(message)
        self.claim = claim
        self.check = _CLAIM_CHECKS.get(claim, "claims")


class InvalidAlgorithmError(
    MalformedTokenError,
    description="The token is signed with an unsupported algorithm",
    check="algorithm",
):
    """The header names an algorithm other than RS256, or a header this library refuses."""


class NotAJWT(MalformedTokenError):
    """The text is not a decodable JWT (the message says why; it never contains the text).

    Raised by the command line's unverified decoding (``cognito-guard decode``).
    """


class UnknownKeyError(
    TokenError, description="The token is signed with an unknown key", check="signing key"
):
    """No key of the issuer's JWKS has the token's ``kid``."""


class InvalidSignatureError(
    TokenError, description="The token signature is invalid", check="signature"
):
    """The signature does not verify with the issuer's key."""


class ExpiredTokenError(TokenError, description="The token has expired", check="expiry"):
    """The token's ``exp`` has passed (beyond the configured leeway)."""


class NotYetValidError(TokenError, description="The token is not valid yet", check="not before"):
    """The token's ``iat`` or ``nbf`` lies in the future (beyond the configured leeway)."""


class InvalidIssuerError(
    TokenError, description="The token was issued by an untrusted issuer", check="issuer"
):
    """The token's ``iss`` is not one of the configured issuers."""


class InvalidTokenUseError(
    TokenError, description="The token is of the wrong type", check="token use"
):
    """The token's ``token_use`` is not the expected one (an ID token for an access token)."""


class InvalidClientError(
    TokenError, description="The token was issued to another client", check="client"
):
    """The token's ``client_id`` (access) or ``aud`` (ID) is not an accepted app client."""


class InvalidAudienceError(
    TokenError, description="The token was issued for another resource", check="audience"
):
    """The access token's ``aud`` names none of the verifier's audiences (401 ``invalid_token``).

    Raised by a verifier given ``audience=`` (the resource indicators of RFC 8707) for an access
    token whose ``aud`` is missing, is not a string or a list of strings, or holds none of them:
    a token issued for another resource.
    """


class ClaimCheckError(
    TokenError, description="The token was rejected by a claim check", check="custom check"
):
    """A custom claim check rejected the token."""


class InsufficientScopeError(
    TokenError,
    status_code=403,
    error_code="insufficient_scope",
    description="The token lacks a required scope",
    check="scopes",
):
    """The token lacks a required scope (HTTP 403 ``insufficient_scope``)."""

    def __init__(self, message: str, required: Iterable[str] = ()) -> None:
        super().__init__(message)
        self.required: tuple[str, ...] = tuple(required)

    def _extra_challenge_params(self) -> list[str]:
        if not self.required:
            return []
        return [f'scope="{_quote(" ".join(self.required))}"']


class MissingGroupError(
    TokenError,
    status_code=403,
    error_code="insufficient_scope",
    description="The user is not in a required group",
    check="groups",
):
    """The token's user is in none of the required groups (HTTP 403 ``insufficient_scope``)."""


class RevokedTokenError(TokenError, description="The token has been revoked", check="revocation"):
    """The token, its sign-in session or its user's sessions were revoked (401 ``invalid_token``).

    Raised by a verifier given ``revocations=``: the token's ``jti`` or ``origin_jti`` is on the
    revocation list, or its user was signed out at or after the token's ``iat``.
    """


class UserRefusedError(
    TokenError,
    status_code=403,
    error_code="access_denied",
    description="The user may not use this service",
    check=None,
):
    """The token is valid but its user may not use this site (HTTP 403; Django integration)."""


class UnknownUserError(
    UserRefusedError,
    error_code="unknown_user",
    description="The user has no account on this service",
):
    """``CREATE_USERS`` is False and the token's user has no row here."""


class InactiveUserError(
    UserRefusedError, error_code="inactive_user", description="The user account is disabled"
):
    """The linked user is deactivated (``is_active`` False)."""


# -- unavailable: not the token's fault -----------------------------------------------------------


class ServiceUnavailableError(CognitoGuardError):
    """Something the verdict depends on is unavailable (HTTP 503); not the token's fault.

    ``retry_after`` is a hint in whole seconds (at least 1) for a ``Retry-After`` header; the
    class attribute is the default of each kind.
    """

    status_code = 503
    error_code: str | None = "temporarily_unavailable"
    description = "The request cannot be authenticated now; try again later"
    retry_after: int = 1

    def __init__(self, message: str, retry_after: int | None = None) -> None:
        super().__init__(message)
        hint = type(self).retry_after if retry_after is None else retry_after
        self.retry_after = max(1, int(hint))


class KeysUnavailableError(
    ServiceUnavailableError,
    description="The token signing keys cannot be fetched; try again later",
    check="signing key",
):
    """The issuer's signing keys could not be obtained (HTTP 503); not the token's fault.

    ``retry_after`` is a hint in whole seconds for a ``Retry-After`` header.
    """


class RevocationsUnavailableError(
    ServiceUnavailableError,
    description="The token revocation list cannot be checked; try again later",
    check="revocation",
):
    """The revocation list could not be kept current (HTTP 503); not the token's fault.

    Raised by :class:`~cognito_guard.revocation.RedisRevocations` in ``fail_closed`` mode when
    Redis has not been synchronised with for longer than ``max_staleness``, and by a revocation
    write that Redis did not record (the revocation was not shared: retry it).
    """


class TokenEndpointUnavailable(
    ServiceUnavailableError, description="Cognito cannot be reached; try again later", retry_after=5
):
    """Cognito could not be reached or gave no usable answer: not a verdict on the request.

    Raised for connection errors, timeouts, HTTP 5xx, throttling and answers that are not the
    documented format. Retrying later may succeed (``retry_after``, 5 s by default). The
    instance's ``status_code`` is the HTTP status of Cognito's answer when there was one (None
    without an answer), as for :class:`OAuthError`; an answer to a client for this error is a
    503 (the class's ``status_code``). The message never contains a token or a secret.

    Example::

        try:
            tokens = client.client_credentials(scopes=["orders/read"])
        except TokenEndpointUnavailable:
            ...  # back off and retry
    """

    # Cognito's status, not the answer's: the documented meaning of this attribute.
    status_code: int | None  # type: ignore[assignment]

    def __init__(
        self, message: str, *, status_code: int | None = None, retry_after: int | None = None
    ) -> None:
        super().__init__(message, retry_after)
        self.status_code = status_code


class SessionStoreUnavailable(
    ServiceUnavailableError,
    description="The session store cannot be reached; try again later",
    retry_after=5,
):
    """The session store cannot be reached, or a refresh lock could not be had in time.

    Not a verdict on the session: the request is answered 503 with ``Retry-After``.
    """


# -- the token client: Cognito refused a request --------------------------------------------------


class OAuthError(CognitoGuardError):
    """Cognito refused a token-lifecycle request.

    ``error`` (also ``error_code``) is the OAuth 2.0 error code (``invalid_grant``,
    ``invalid_client``, ``invalid_request``, ``unauthorized_client``, ``unsupported_grant_type``,
    ``invalid_scope``, ``unsupported_token_type``, ``invalid_token``, ``insufficient_scope``).
    Errors of the user-pool API are mapped to the nearest code; the original ``__type`` is kept
    in ``aws_error_type``. ``description`` is Cognito's own ``error_description`` and
    ``status_code`` the HTTP status of its answer: this error describes Cognito's answer to this
    library, not an answer to send on (an adapter meeting one answers 500). The message never
    contains a token, a client secret or a PKCE verifier.

    Example::

        try:
            tokens = client.refresh(refresh_token)
        except OAuthError as exc:
            if exc.error == "invalid_grant":
                ...  # the refresh token was revoked or expired: sign the user in again
    """

    # Cognito's status, not an answer's: the documented meaning of this attribute.
    status_code: int | None  # type: ignore[assignment]

    def __init__(
        self,
        error: str,
        description: str = "",
        *,
        operation: str = "",
        status_code: int | None = None,
        aws_error_type: str | None = None,
    ) -> None:
        self.error = self.error_code = error  # the same code, under its OAuth and its shared name
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


# -- web sign-in ----------------------------------------------------------------------------------


class SessionAuthError(CognitoGuardError):
    """A request authenticated by the session cookie was refused.

    ``status_code``, ``error_code`` and ``description`` are its answer's (401 the session has
    ended, 403 a CSRF or origin refusal, 503 something it needs is unavailable); ``clear_cookie``
    is the ``Set-Cookie`` value that deletes the session cookie when the session has ended (else
    None), ``retry_after`` the ``Retry-After`` seconds of a 503 (else None). The session guard
    turns it into the answer. The message never holds the session id.

    Example: ``SessionAuthError(403, "csrf_header_missing", "the header 'X-CSRF: 1' is missing")``
    """

    def __init__(
        self,
        status_code: int,
        error_code: str | None,
        description: str,
        *,
        clear_cookie: str | None = None,
        retry_after: int | None = None,
    ) -> None:
        super().__init__(description)
        self.status_code = status_code
        self.error_code = error_code
        self.description = description
        self.clear_cookie = clear_cookie
        self.retry_after = retry_after

    @classmethod
    def unavailable(cls, description: str, retry_after: int) -> SessionAuthError:
        """The 503 of a session request that cannot be judged now: a ServiceUnavailableError's.

        Example: ``SessionAuthError.unavailable("the session store is unavailable", 5)``
        """
        status, code = ServiceUnavailableError.status_code, ServiceUnavailableError.error_code
        return cls(status, code, description, retry_after=retry_after)


class InvalidHostError(
    CognitoGuardError,
    status_code=400,
    error_code="invalid_request",
    description="The Host header is not a host name.",
):
    """The request's ``Host`` header is not a host name: a relative URL cannot be resolved."""


# -- internal: they never leave the library as such -----------------------------------------------


class JWKSError(CognitoGuardError):
    """A JWKS document could not be fetched or had no usable key (internal; becomes a 503)."""


class BodyTooLarge(CognitoGuardError):
    """A response body exceeded its size cap (the body is not kept)."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"the response exceeds the {limit}-byte cap")
        self.limit = limit
