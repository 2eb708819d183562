"""The token-lifecycle protocol of :mod:`cognito_guard.client`, written once and free of I/O.

Every operation (refresh, client credentials, code exchange, revoke, userInfo) is a generator in
the manner of ``httpx.Auth.auth_flow`` and :meth:`cognito_guard.keys.KeyStore._fetch_flow`: it
yields an :class:`HttpCall` and receives the :class:`HttpReply`, or yields a
:class:`VerifyIdToken` and receives the verified claims, and finally returns its result. The
sync and async methods of :class:`~cognito_guard.client.CognitoTokenClient` are thin drivers that
feed these generators from ``httpx.Client`` or ``httpx.AsyncClient``, so the protocol (which
request, how to read the answer, which error it means) exists exactly once.

Secrets never leave through error text: every call carries the values it must not reveal
(``redact``), and any text taken from Cognito's answer is scrubbed of them before it is put into
an exception.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import logging
import re
import threading
import time
from collections.abc import Callable, Generator, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import urlencode

from .claims import CognitoClaims
from .errors import (
    ClaimCheckError,
    ConfigurationError,
    OAuthError,
    TokenEndpointUnavailable,
    UnsupportedOperationError,
)
from .issuers import is_aws_host, region_of_domain, region_of_issuer
from .issuers import user_pool_api_url as _api_url_of_region

__all__ = [
    "Endpoint",
    "HttpCall",
    "HttpReply",
    "OAuthError",
    "TokenEndpointUnavailable",
    "TokenSet",
    "UnsupportedOperationError",
    "VerifyIdToken",
]

T = TypeVar("T")

log = logging.getLogger("cognito_guard")

MAX_REPLY_BYTES = 256 * 1024
API_TARGET_PREFIX = "AWSCognitoIdentityProviderService."
API_CONTENT_TYPE = "application/x-amz-json-1.1"
GET_TOKENS = "GetTokensFromRefreshToken"


# -- public result types (re-exported by cognito_guard.client, with the errors of errors.py) -----


@dataclass(frozen=True, kw_only=True, repr=False)
class TokenSet:
    """The tokens of one successful token request.

    ``expires_at`` is epoch seconds by the issuing client's ``clock`` (taken when the request was
    sent, so it errs early). ``refresh_token`` is the one Cognito returned, or after a refresh
    without rotation the one that was used. ``id_claims`` holds the verified claims of the ID
    token when the client was given an ``id_token_verifier``. The repr never shows a token.

    Example::

        tokens = client.refresh(refresh_token)
        if tokens.is_expired(leeway=60):
            tokens = client.refresh(tokens.refresh_token)
    """

    access_token: str
    id_token: str | None = None
    refresh_token: str | None = None
    token_type: str = "Bearer"
    expires_in: int
    expires_at: float
    id_claims: CognitoClaims | None = field(default=None, compare=False)
    clock: Callable[[], float] = field(default=time.time, compare=False)

    def is_expired(self, leeway: float = 0) -> bool:
        """True when the access token expires within ``leeway`` seconds (or already has)."""
        return self.clock() + leeway >= self.expires_at

    @property
    def username(self) -> str | None:
        """The Cognito username, read (unverified) from the access or ID token; None for M2M."""
        for token, claim in ((self.access_token, "username"), (self.id_token, "cognito:username")):
            value = unverified_claims(token).get(claim) if token else None
            if isinstance(value, str) and value:
                return value
        return None

    def as_dict(self) -> dict[str, Any]:
        """The tokens as a JSON-serialisable dict, for persisting a session (contains secrets)."""
        return {
            "access_token": self.access_token,
            "id_token": self.id_token,
            "refresh_token": self.refresh_token,
            "token_type": self.token_type,
            "expires_in": self.expires_in,
            "expires_at": self.expires_at,
        }

    @classmethod
    def from_dict(
        cls, data: Mapping[str, Any], *, clock: Callable[[], float] = time.time
    ) -> TokenSet:
        """Rebuild a :class:`TokenSet` saved with :meth:`as_dict`."""
        return cls(
            access_token=str(data["access_token"]),
            id_token=data.get("id_token"),
            refresh_token=data.get("refresh_token"),
            token_type=str(data.get("token_type", "Bearer")),
            expires_in=int(data["expires_in"]),
            expires_at=float(data["expires_at"]),
            clock=clock,
        )

    def __repr__(self) -> str:
        present = [
            name
            for name, value in (
                ("access", self.access_token),
                ("id", self.id_token),
                ("refresh", self.refresh_token),
            )
            if value
        ]
        return (
            f"TokenSet(tokens={present}, token_type={self.token_type!r}, "
            f"expires_in={self.expires_in}, expires_at={self.expires_at:.0f})"
        )


def unverified_claims(token: str) -> dict[str, Any]:
    """The payload of a JWS without any verification; ``{}`` when it cannot be read."""
    parts = token.split(".")
    if len(parts) != 3:
        return {}
    try:
        raw = base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4))
        value = json.loads(raw)
    except (ValueError, binascii.Error, RecursionError):
        return {}
    return value if isinstance(value, dict) else {}


# -- the steps a flow yields --------------------------------------------------------------------


@dataclass(frozen=True)
class Endpoint:
    """Where and as whom the client talks to Cognito (one of ``domain`` / ``api_url``)."""

    client_id: str
    client_secret: str | None = field(repr=False)
    domain: str | None
    api_url: str | None


@dataclass(frozen=True)
class HttpCall:
    """One HTTP request a flow wants sent. ``redact`` lists values no error text may contain."""

    operation: str
    method: str
    url: str
    headers: dict[str, str] = field(repr=False)
    content: bytes = field(default=b"", repr=False)
    redact: tuple[str, ...] = field(default=(), repr=False)


@dataclass(frozen=True)
class HttpReply:
    """The answer to an :class:`HttpCall` (the body already capped at ``MAX_REPLY_BYTES``)."""

    status: int
    headers: Mapping[str, str]
    body: bytes


@dataclass(frozen=True)
class VerifyIdToken:
    """Ask the driver to verify an ID token; it sends back :class:`CognitoClaims` or raises."""

    token: str = field(repr=False)


Step = HttpCall | VerifyIdToken
Flow = Generator[Step, Any, T]


# -- helpers ------------------------------------------------------------------------------------


def secret_hash(client_secret: str, username: str, client_id: str) -> str:
    """Cognito's ``SECRET_HASH``: base64(HMAC-SHA256(secret, username + client_id))."""
    digest = hmac.new(
        client_secret.encode("utf-8"), (username + client_id).encode("utf-8"), hashlib.sha256
    ).digest()
    return base64.b64encode(digest).decode("ascii")


def basic_auth(client_id: str, client_secret: str) -> str:
    """The ``Authorization`` value of a confidential client at the OAuth endpoints."""
    raw = f"{client_id}:{client_secret}".encode()
    return "Basic " + base64.b64encode(raw).decode("ascii")


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def scrub(text: str, redact: Iterable[str], limit: int = 200) -> str:
    """``text`` from a server, with every secret value removed, control characters dropped."""
    for secret in redact:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "[redacted]")
    text = _CONTROL.sub(" ", text).strip()
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _json_object(body: bytes) -> dict[str, Any] | None:
    try:
        value = json.loads(body) if body.strip() else None
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def _unavailable(call: HttpCall, reply: HttpReply, why: str) -> TokenEndpointUnavailable:
    return TokenEndpointUnavailable(
        f"{call.operation}: {why} (HTTP {reply.status} from {call.url})", status_code=reply.status
    )


# -- the hosted OAuth 2.0 endpoints -------------------------------------------------------------

_WWW_AUTH_ERROR = re.compile(r'error="([^"]*)"')
_WWW_AUTH_DESCRIPTION = re.compile(r'error_description="([^"]*)"')


def _oauth_call(
    ep: Endpoint, operation: str, path: str, form: dict[str, str], redact: tuple[str, ...]
) -> HttpCall:
    assert ep.domain is not None  # noqa: S101 - callers check which endpoint is configured
    headers = {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"}
    if ep.client_secret is not None:
        headers["Authorization"] = basic_auth(ep.client_id, ep.client_secret)
    else:
        form = {**form, "client_id": ep.client_id}
    secrets = (*redact, *((ep.client_secret,) if ep.client_secret else ()))
    return HttpCall(
        operation, "POST", ep.domain + path, headers, urlencode(form).encode("ascii"), secrets
    )


def read_oauth_reply(call: HttpCall, reply: HttpReply, *, body_required: bool) -> dict[str, Any]:
    """The JSON object of a 2xx answer; raise OAuthError / TokenEndpointUnavailable otherwise."""
    data = _json_object(reply.body)
    if 200 <= reply.status < 300:
        if data is not None:
            return data
        if not body_required:
            return {}
        raise _unavailable(call, reply, "the answer is not a JSON object")
    if reply.status >= 500 or reply.status == 429:
        raise _unavailable(call, reply, "Cognito is unavailable or throttling")
    if 400 <= reply.status < 500:
        error, description = None, ""
        if data is not None and isinstance(data.get("error"), str) and data["error"]:
            error = data["error"]
            if isinstance(data.get("error_description"), str):
                description = data["error_description"]
        challenge = reply.headers.get("www-authenticate", "")
        match = _WWW_AUTH_ERROR.search(challenge)
        if error is None and match and match.group(1):
            error = match.group(1)
            found = _WWW_AUTH_DESCRIPTION.search(challenge)
            description = found.group(1) if found else ""
        if error is not None:
            raise OAuthError(
                scrub(error, call.redact, 60),
                scrub(description, call.redact),
                operation=call.operation,
                status_code=reply.status,
            )
    raise _unavailable(call, reply, "unexpected answer")


# -- the user-pool API (cognito-idp) ------------------------------------------------------------

# (operation, __type) -> OAuth error code; ``None`` means "not a verdict": TokenEndpointUnavailable.
# A (operation, __type, message fragment) entry refines one __type by Cognito's message text.
_API_ERRORS: dict[tuple[str, str], str | None] = {
    # GetTokensFromRefreshToken: a token rotated out after its grace period, or one that is
    # invalid, expired, revoked or (with device tracking) sent without its device key.
    ("refresh", "RefreshTokenReuseException"): "invalid_grant",
    ("refresh", "NotAuthorizedException"): "invalid_grant",
    ("refresh", "UserNotFoundException"): "invalid_grant",
    ("refresh", "UserNotConfirmedException"): "invalid_grant",
    ("refresh", "PasswordResetRequiredException"): "invalid_grant",
    ("refresh", "ResourceNotFoundException"): "invalid_client",
    ("refresh", "InvalidUserPoolConfigurationException"): "unauthorized_client",
    ("refresh", "OperationNotEnabledException"): "unauthorized_client",
    # The pool's pre-token-generation trigger refused the user: a decision, asking again the
    # same way gets the same answer. A trigger that failed or answered nonsense is an outage.
    ("refresh", "UserLambdaValidationException"): "invalid_grant",
    ("refresh", "InvalidLambdaResponseException"): None,
    ("refresh", "UnexpectedLambdaException"): None,
    ("revoke", "UnauthorizedException"): "invalid_client",
    ("revoke", "NotAuthorizedException"): "invalid_client",
    ("revoke", "ResourceNotFoundException"): "invalid_client",
    ("revoke", "UnsupportedTokenTypeException"): "unsupported_token_type",
    ("revoke", "UnsupportedOperationException"): "unauthorized_client",
    ("userinfo", "NotAuthorizedException"): "invalid_token",
    ("userinfo", "UserNotFoundException"): "invalid_token",
    ("userinfo", "PasswordResetRequiredException"): "invalid_token",
    ("userinfo", "UserNotConfirmedException"): "invalid_token",
    ("userinfo", "ForbiddenException"): "invalid_token",
}
_API_ERROR_REFINEMENTS: dict[tuple[str, str, str], str] = {
    # A wrong client secret is reported as NotAuthorizedException too; it is the client's fault.
    # ("Unable to verify secret hash ...", "... configured with secret but ... not received").
    ("refresh", "NotAuthorizedException", "secret"): "invalid_client",
    ("userinfo", "NotAuthorizedException", "required scopes"): "insufficient_scope",
}
_API_ERROR_DEFAULTS: dict[str, str | None] = {
    "InvalidParameterException": "invalid_request",
    "ForbiddenException": "invalid_client",
    "TooManyRequestsException": None,
    "InternalErrorException": None,
    "LimitExceededException": None,
}


def api_error_code(operation: str, aws_type: str, message: str) -> str | None:
    """The OAuth error code nearest to a user-pool API error, or None when it is an outage."""
    lowered = message.lower()
    for (op, kind, fragment), code in _API_ERROR_REFINEMENTS.items():
        if op == operation and kind == aws_type and fragment in lowered:
            return code
    if (operation, aws_type) in _API_ERRORS:
        return _API_ERRORS[(operation, aws_type)]
    return _API_ERROR_DEFAULTS.get(aws_type, "invalid_request")


def _api_call(
    ep: Endpoint, operation: str, target: str, payload: dict[str, Any], redact: tuple[str, ...]
) -> HttpCall:
    assert ep.api_url is not None  # noqa: S101 - callers check which endpoint is configured
    headers = {
        "Content-Type": API_CONTENT_TYPE,
        "X-Amz-Target": API_TARGET_PREFIX + target,
        "Accept": "application/json",
    }
    secrets = (*redact, *((ep.client_secret,) if ep.client_secret else ()))
    return HttpCall(
        operation, "POST", ep.api_url, headers, json.dumps(payload).encode("utf-8"), secrets
    )


def read_api_reply(call: HttpCall, reply: HttpReply) -> dict[str, Any]:
    """The JSON object of a user-pool API answer; raise OAuthError / TokenEndpointUnavailable."""
    data = _json_object(reply.body)
    if reply.status == 200:
        if data is None:
            raise _unavailable(call, reply, "the answer is not a JSON object")
        return data
    if reply.status >= 500 or reply.status == 429:
        raise _unavailable(call, reply, "Cognito is unavailable or throttling")
    raw_type = data.get("__type") if data is not None else None
    if not isinstance(raw_type, str) or not raw_type:
        raise _unavailable(call, reply, "unexpected answer")
    aws_type = raw_type.rsplit("#", 1)[-1]
    message = (data.get("message") or data.get("Message")) if data is not None else ""
    message = scrub(message if isinstance(message, str) else "", call.redact)
    code = api_error_code(call.operation, aws_type, message)
    if code is None:
        raise TokenEndpointUnavailable(
            f"{call.operation}: {scrub(aws_type, (), 80)}: {message}", status_code=reply.status
        )
    raise OAuthError(
        code,
        message,
        operation=call.operation,
        status_code=reply.status,
        aws_error_type=scrub(aws_type, (), 80),
    )


# -- the operations -----------------------------------------------------------------------------


def _require_domain(ep: Endpoint, what: str) -> None:
    if ep.domain is None:
        raise ConfigurationError(
            f"{what} needs the hosted or custom domain: create the client with domain=..."
        )


def _expires_in(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        return 0
    return int(value)


def _token_set(
    call: HttpCall,
    reply: HttpReply,
    raw: Mapping[str, Any],
    keys: tuple[str, str, str, str, str],
    sent_at: float,
    clock: Callable[[], float],
    previous_refresh_token: str | None,
) -> TokenSet:
    """Build a TokenSet from an answer whose fields are named by ``keys`` (OAuth or API style)."""
    access_key, id_key, refresh_key, type_key, expires_key = keys
    access = raw.get(access_key)
    if not isinstance(access, str) or not access:
        raise _unavailable(call, reply, "the answer has no access token")
    expires_in = _expires_in(raw.get(expires_key))
    id_token = raw.get(id_key)
    refresh = raw.get(refresh_key)
    token_type = raw.get(type_key)
    return TokenSet(
        access_token=access,
        id_token=id_token if isinstance(id_token, str) and id_token else None,
        refresh_token=refresh if isinstance(refresh, str) and refresh else previous_refresh_token,
        token_type=token_type if isinstance(token_type, str) and token_type else "Bearer",
        expires_in=expires_in,
        expires_at=sent_at + expires_in,
        clock=clock,
    )


_OAUTH_KEYS = ("access_token", "id_token", "refresh_token", "token_type", "expires_in")
_API_KEYS = ("AccessToken", "IdToken", "RefreshToken", "TokenType", "ExpiresIn")


def _with_id_claims(
    tokens: TokenSet, verify_id: bool, nonce: str | None
) -> Generator[Step, Any, TokenSet]:
    if not verify_id or tokens.id_token is None:
        return tokens
    claims: CognitoClaims = yield VerifyIdToken(tokens.id_token)
    if nonce is not None and not hmac.compare_digest(
        str(claims.get("nonce", "")).encode(), nonce.encode()
    ):
        raise ClaimCheckError("the ID token's nonce is not the one sent to /oauth2/authorize")
    return TokenSet(
        access_token=tokens.access_token,
        id_token=tokens.id_token,
        refresh_token=tokens.refresh_token,
        token_type=tokens.token_type,
        expires_in=tokens.expires_in,
        expires_at=tokens.expires_at,
        id_claims=claims,
        clock=tokens.clock,
    )


def client_credentials_flow(
    ep: Endpoint, scopes: Iterable[str], clock: Callable[[], float]
) -> Flow[TokenSet]:
    """``grant_type=client_credentials`` at ``/oauth2/token`` (hosted domain, secret required)."""
    _require_domain(ep, "the client-credentials grant")
    if ep.client_secret is None:
        raise ConfigurationError("the client-credentials grant needs a client_secret")
    form = {"grant_type": "client_credentials"}
    scope = " ".join(scopes)
    if scope:
        form["scope"] = scope
    call = _oauth_call(ep, "client_credentials", "/oauth2/token", form, ())
    sent_at = clock()
    reply: HttpReply = yield call
    raw = read_oauth_reply(call, reply, body_required=True)
    return _token_set(call, reply, raw, _OAUTH_KEYS, sent_at, clock, None)


def exchange_code_flow(
    ep: Endpoint,
    code: str,
    redirect_uri: str,
    code_verifier: str | None,
    nonce: str | None,
    clock: Callable[[], float],
    verify_id: bool,
) -> Flow[TokenSet]:
    """``grant_type=authorization_code`` (with PKCE's ``code_verifier`` when given)."""
    _require_domain(ep, "redeeming an authorization code")
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri}
    redact: tuple[str, ...] = (code,)
    if code_verifier is not None:
        form["code_verifier"] = code_verifier
        redact += (code_verifier,)
    call = _oauth_call(ep, "exchange_code", "/oauth2/token", form, redact)
    sent_at = clock()
    reply: HttpReply = yield call
    raw = read_oauth_reply(call, reply, body_required=True)
    tokens = _token_set(call, reply, raw, _OAUTH_KEYS, sent_at, clock, None)
    return (yield from _with_id_claims(tokens, verify_id, nonce))


def refresh_flow(
    ep: Endpoint,
    refresh_token: str,
    clock: Callable[[], float],
    verify_id: bool,
    *,
    device_key: str | None = None,
    client_metadata: Mapping[str, str] | None = None,
    username: str | None = None,
    rotation: bool = False,
    lacks_get_tokens: threading.Event | None = None,
) -> Flow[TokenSet]:
    """``grant_type=refresh_token`` at the domain, or ``GetTokensFromRefreshToken`` (the API).

    ``GetTokensFromRefreshToken`` works whether the app client rotates refresh tokens or not;
    ``InitiateAuth REFRESH_TOKEN_AUTH`` is refused by clients that rotate, so it is used only
    where the endpoint does not implement ``GetTokensFromRefreshToken`` (see
    :func:`_api_refresh`). It takes the client secret itself, so no username (``SECRET_HASH``)
    is needed.

    A request that fails on the way (connection, timeout, HTTP 5xx) may still have reached
    Cognito and rotated the refresh token, with the answer lost: it is sent once more, at once,
    with the same refresh token, which Cognito honours for ``RetryGracePeriodSeconds``. A
    verdict (``OAuthError``, e.g. ``invalid_grant``) is never retried.
    """
    if ep.domain is not None:
        if device_key is not None or client_metadata is not None:
            raise ConfigurationError(
                "device_key and client_metadata are parameters of the user-pool API "
                "(GetTokensFromRefreshToken); the /oauth2/token refresh_token grant has none"
            )
        form = {"grant_type": "refresh_token", "refresh_token": refresh_token}
        call = _oauth_call(ep, "refresh", "/oauth2/token", form, (refresh_token,))
        sent = yield from _send_refresh(ep, call, clock, check_lacking=False)
        assert not isinstance(sent, _Lacking)  # noqa: S101 - asked only for API answers
        reply, raw, sent_at = sent
        keys = _OAUTH_KEYS
    else:
        call, reply, raw, sent_at = yield from _api_refresh(
            ep,
            refresh_token,
            clock,
            device_key,
            client_metadata,
            username,
            rotation,
            lacks_get_tokens if lacks_get_tokens is not None else threading.Event(),
        )
        keys = _API_KEYS
    tokens = _token_set(call, reply, raw, keys, sent_at, clock, refresh_token)
    return (yield from _with_id_claims(tokens, verify_id, None))


_UNKNOWN_OPERATION_TYPES = frozenset({"UnknownOperationException", "UnsupportedOperation"})


def says_unknown_operation(reply: HttpReply, *, guess: bool = True) -> bool | None:
    """Whether an answer of the user-pool API says it does not implement the operation.

    True: AWS's own answer (HTTP 400 ``UnknownOperationException``), an emulator's
    ``UnsupportedOperation``, or HTTP 501 Not Implemented (LocalStack's answer, with
    ``InternalFailure``). None, maybe (only with ``guess``): an HTTP 500 or 404 whose body is
    not JSON, which is what the moto server sends for an operation it does not implement
    (Werkzeug's HTML error page; from moto 5.2 an empty 404 when its botocore does not know the
    operation either), and what a failing proxy may send too: only another answer of the same
    endpoint can tell. False: every other answer.
    """
    if reply.status == 501:
        return True
    aws_type = _aws_type(reply)
    if aws_type is not None:
        return 400 <= reply.status < 500 and aws_type in _UNKNOWN_OPERATION_TYPES
    if guess and reply.status in (404, 500) and _json_object(reply.body) is None:
        return None
    return False


def _aws_type(reply: HttpReply) -> str | None:
    """The ``__type`` of an API error answer without its namespace, or None."""
    data = _json_object(reply.body)
    raw_type = data.get("__type") if data is not None else None
    if not isinstance(raw_type, str) or not raw_type:
        return None
    return scrub(raw_type.rsplit("#", 1)[-1], (), 80)


def _is_api_answer(reply: HttpReply) -> bool:
    """True for an answer in the user-pool API's format: a JSON result, or an error it names."""
    if reply.status == 200:
        return _json_object(reply.body) is not None
    return 400 <= reply.status < 500 and _aws_type(reply) is not None


@dataclass(frozen=True)
class _Lacking:
    """An answer saying that the endpoint lacks the operation, or (``failure`` set) maybe so.

    ``failure`` is what the answer means if the endpoint turns out to be failing instead.
    """

    reply: HttpReply
    failure: TokenEndpointUnavailable | None


_Sent = tuple[HttpReply, Mapping[str, Any], float]  # the answer, its token fields, when sent


def _send_refresh(
    ep: Endpoint, call: HttpCall, clock: Callable[[], float], *, check_lacking: bool
) -> Generator[Step, Any, _Sent | _Lacking]:
    """Send a refresh; once more, at once, after a failure on the way (see refresh_flow).

    With ``check_lacking``, an answer saying (or maybe saying) that the endpoint does not know
    the operation is returned as :class:`_Lacking` instead (see :func:`says_unknown_operation`).
    """
    # AWS answers an unknown operation with UnknownOperationException and its failures in JSON,
    # so an answer from an AWS host is never taken for an emulator's missing operation.
    guess = check_lacking and not is_aws_host(ep.api_url)
    attempt = 1
    while True:
        sent_at = clock()
        lacking: bool | None = False
        try:
            reply: HttpReply = yield call
            lacking = says_unknown_operation(reply, guess=guess) if check_lacking else False
            if lacking:
                return _Lacking(reply, None)
            return reply, _read_refresh_reply(ep, call, reply), sent_at
        except TokenEndpointUnavailable as exc:
            if attempt == 2 or not _may_have_rotated(exc):
                if lacking is None:
                    return _Lacking(reply, exc)
                raise
            log.warning(
                "refresh failed before its answer arrived (%s); "
                "retrying once with the same refresh token",
                exc,
            )
            attempt = 2


def _api_refresh(
    ep: Endpoint,
    refresh_token: str,
    clock: Callable[[], float],
    device_key: str | None,
    client_metadata: Mapping[str, str] | None,
    username: str | None,
    rotation: bool,
    lacks_get_tokens: threading.Event,
) -> Generator[Step, Any, tuple[HttpCall, HttpReply, Mapping[str, Any], float]]:
    """``GetTokensFromRefreshToken``, or ``InitiateAuth REFRESH_TOKEN_AUTH`` where it is missing.

    Local emulators (moto, among others) lack ``GetTokensFromRefreshToken``. When the endpoint
    answers that it does not know it, ``lacks_get_tokens`` (one per client) records that, and
    this refresh and every later one of the client take the operation that refreshed before
    rotation existed, ``InitiateAuth REFRESH_TOKEN_AUTH``: the same tokens for an app client
    without rotation. With ``rotation`` nothing can replace it, and the refresh raises
    :class:`UnsupportedOperationError` (from then on without asking). An answer that only may
    mean a missing operation (see :func:`says_unknown_operation`; never from an AWS host) is
    confirmed first by an answer in the API's format from the same endpoint: the fallback
    itself, or for a client that cannot fall back an ``InitiateAuth`` without any token.
    Without one it stays the outage it looks like, and nothing is recorded. Concurrent first
    refreshes of one client may each ask before one of them records the answer.
    """
    redact: tuple[str, ...] = (refresh_token,)
    if device_key is not None:
        redact += (device_key,)
    first: HttpReply | None = None
    doubt: TokenEndpointUnavailable | None = None
    if not lacks_get_tokens.is_set():
        payload: dict[str, Any] = {"ClientId": ep.client_id, "RefreshToken": refresh_token}
        if ep.client_secret is not None:
            payload["ClientSecret"] = ep.client_secret
        if device_key is not None:
            payload["DeviceKey"] = device_key
        if client_metadata is not None:
            payload["ClientMetadata"] = dict(client_metadata)
        call = _api_call(ep, "refresh", GET_TOKENS, payload, redact)
        sent = yield from _send_refresh(ep, call, clock, check_lacking=True)
        if not isinstance(sent, _Lacking):
            return (call, *sent)
        first, doubt = sent.reply, sent.failure
    can_fall_back = not rotation and (ep.client_secret is None or bool(username))
    if doubt is not None and not can_fall_back:
        probe_payload = {"AuthFlow": "REFRESH_TOKEN_AUTH", "ClientId": ep.client_id}
        probe: HttpReply = yield _api_call(
            ep, "refresh", "InitiateAuth", {**probe_payload, "AuthParameters": {}}, ()
        )
        if not _is_api_answer(probe):
            raise doubt
        doubt = None
    if doubt is None:
        _remember_lacking(ep, lacks_get_tokens, first)
    if rotation:
        raise UnsupportedOperationError(
            GET_TOKENS,
            f"the user-pool API at {ep.api_url} does not implement {GET_TOKENS}, the only "
            "refresh that returns rotated refresh tokens, and this client was made with "
            "refresh_token_rotation=True: use an endpoint that implements it (Cognito), or "
            "an app client without rotation and refresh_token_rotation=False",
            operation="refresh",
            status_code=first.status if first is not None else None,
            aws_error_type=_aws_type(first) if first is not None else None,
        )
    params = {"REFRESH_TOKEN": refresh_token}
    if ep.client_secret is not None:
        if not username:
            raise ConfigurationError(
                f"the user-pool API at {ep.api_url} does not implement {GET_TOKENS}, and "
                "its replacement InitiateAuth REFRESH_TOKEN_AUTH needs the username for a "
                "client with a secret (it is part of SECRET_HASH): pass username=..."
            )
        params["USERNAME"] = username
        params["SECRET_HASH"] = secret_hash(ep.client_secret, username, ep.client_id)
        redact += (params["SECRET_HASH"],)
    if device_key is not None:
        params["DEVICE_KEY"] = device_key
    payload = {"AuthFlow": "REFRESH_TOKEN_AUTH", "ClientId": ep.client_id, "AuthParameters": params}
    if client_metadata is not None:
        payload["ClientMetadata"] = dict(client_metadata)
    call = _api_call(ep, "refresh", "InitiateAuth", payload, redact)
    sent_at = clock()
    reply: HttpReply = yield call
    if doubt is not None:
        if not _is_api_answer(reply):
            raise doubt
        _remember_lacking(ep, lacks_get_tokens, first)
    return call, reply, _read_refresh_reply(ep, call, reply), sent_at


def _remember_lacking(ep: Endpoint, lacks: threading.Event, reply: HttpReply | None) -> None:
    if reply is None or lacks.is_set():
        return
    lacks.set()
    log.info(
        "the user-pool API at %s does not implement %s (HTTP %d): this client does not "
        "ask for it again",
        ep.api_url,
        GET_TOKENS,
        reply.status,
    )


def _read_refresh_reply(ep: Endpoint, call: HttpCall, reply: HttpReply) -> Mapping[str, Any]:
    if ep.domain is not None:
        return read_oauth_reply(call, reply, body_required=True)
    result = read_api_reply(call, reply).get("AuthenticationResult")
    if not isinstance(result, dict):
        raise _unavailable(call, reply, "the answer has no AuthenticationResult")
    return result


def _may_have_rotated(exc: TokenEndpointUnavailable) -> bool:
    """True for a failure after which Cognito may have rotated the token: retry within grace.

    No status: the request failed on the transport (it may have been processed, and a
    connection refused before sending costs one more attempt at most). 5xx: Cognito or a
    proxy failed, possibly after rotating. Throttling (429, ``TooManyRequestsException``) and
    answers of an unknown shape are not retried: the first was not processed, the second is
    not an outage a second attempt cures.
    """
    return exc.status_code is None or exc.status_code >= 500


def revoke_flow(ep: Endpoint, refresh_token: str) -> Flow[None]:
    """``/oauth2/revoke``, or ``RevokeToken`` through the user-pool API."""
    if ep.domain is not None:
        call = _oauth_call(
            ep, "revoke", "/oauth2/revoke", {"token": refresh_token}, (refresh_token,)
        )
        reply: HttpReply = yield call
        read_oauth_reply(call, reply, body_required=False)
        return
    payload = {"Token": refresh_token, "ClientId": ep.client_id}
    if ep.client_secret is not None:
        payload["ClientSecret"] = ep.client_secret
    call = _api_call(ep, "revoke", "RevokeToken", payload, (refresh_token,))
    reply = yield call
    read_api_reply(call, reply)


def userinfo_flow(ep: Endpoint, access_token: str) -> Flow[dict[str, Any]]:
    """``GET /oauth2/userInfo``, or ``GetUser`` through the user-pool API.

    Both return the user's attributes by name plus ``username``, so callers see one shape.
    """
    if ep.domain is not None:
        headers = {"Authorization": f"Bearer {access_token}", "Accept": "application/json"}
        call = HttpCall(
            "userinfo", "GET", ep.domain + "/oauth2/userInfo", headers, b"", (access_token,)
        )
        reply: HttpReply = yield call
        return read_oauth_reply(call, reply, body_required=True)
    call = _api_call(ep, "userinfo", "GetUser", {"AccessToken": access_token}, (access_token,))
    reply = yield call
    answer = read_api_reply(call, reply)
    info: dict[str, Any] = {}
    attributes = answer.get("UserAttributes")
    for item in attributes if isinstance(attributes, list) else []:
        if isinstance(item, dict) and isinstance(item.get("Name"), str):
            info[item["Name"]] = item.get("Value")
    if isinstance(answer.get("Username"), str):
        info["username"] = answer["Username"]
    return info


# -- GlobalSignOut ------------------------------------------------------------------------------

_API_ERRORS.update(
    {
        ("global_sign_out", "NotAuthorizedException"): "invalid_token",
        ("global_sign_out", "UserNotFoundException"): "invalid_token",
        ("global_sign_out", "PasswordResetRequiredException"): "invalid_token",
        ("global_sign_out", "UserNotConfirmedException"): "invalid_token",
        ("global_sign_out", "ForbiddenException"): "invalid_token",
    }
)


def user_pool_api_url(ep: Endpoint, access_token: str) -> str:
    """Where a user-pool API call authorised by ``access_token`` goes.

    ``GlobalSignOut`` exists only in the user-pool API, not at the hosted domain. A client made
    with ``region``/``endpoint_url`` has its URL; for a client made with a domain the Region
    comes from the Amazon Cognito domain (``{prefix}.auth.{region}.amazoncognito.com``), else
    from the token's own ``iss`` when it is a Cognito issuer (the URL is always
    ``https://cognito-idp.{region}.amazonaws.com/``, so an unverified token can only choose an
    AWS Region, never a host).
    """
    if ep.api_url is not None:
        return ep.api_url
    region = region_of_domain(ep.domain or "")
    if region is None:
        iss = unverified_claims(access_token).get("iss")
        region = region_of_issuer(iss) if isinstance(iss, str) else None
    if region is None:
        raise ConfigurationError(
            "GlobalSignOut is a user-pool API call and the Region is not known: create the "
            "client with region=... (or endpoint_url=...) instead of a custom domain"
        )
    return _api_url_of_region(region)


def global_sign_out_flow(ep: Endpoint, access_token: str) -> Flow[None]:
    """``GlobalSignOut``: revoke every refresh token of the access token's user.

    The access token needs the ``aws.cognito.signin.user.admin`` scope.
    """
    api = Endpoint(ep.client_id, ep.client_secret, None, user_pool_api_url(ep, access_token))
    payload = {"AccessToken": access_token}
    call = _api_call(api, "global_sign_out", "GlobalSignOut", payload, (access_token,))
    reply: HttpReply = yield call
    read_api_reply(call, reply)


# -- checks of the operations' arguments (the client's and the auth classes') --------------------


def require_text(value: object, name: str) -> None:
    """Refuse anything but a non-empty string as ``name``."""
    if not isinstance(value, str) or not value:
        raise ConfigurationError(f"{name} must be a non-empty string")


def check_client_metadata(metadata: object) -> dict[str, str]:
    """``ClientMetadata`` of the user-pool API: non-empty string keys, string values."""
    if not isinstance(metadata, Mapping) or not all(
        isinstance(key, str) and key and isinstance(value, str) for key, value in metadata.items()
    ):
        raise ConfigurationError("client_metadata must map non-empty strings to strings")
    return dict(metadata)


def check_scopes(scopes: Iterable[str]) -> tuple[str, ...]:
    """Scopes as a tuple without duplicates (a string is split at spaces)."""
    if isinstance(scopes, str):
        scopes = scopes.split()
    result = tuple(dict.fromkeys(scopes))
    for scope in result:
        if not isinstance(scope, str) or not scope or any(ch.isspace() for ch in scope):
            raise ConfigurationError(f"scopes must be non-empty strings without spaces: {scope!r}")
    return result
