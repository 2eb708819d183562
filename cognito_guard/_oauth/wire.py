"""What goes over the wire: the steps a flow yields, and how Cognito's answers are read.

The hosted OAuth 2.0 endpoints answer in RFC 6749's format, the user-pool API (``cognito-idp``)
in its own JSON with an ``__type``; both are read here into a result, an :class:`OAuthError` (a
verdict) or a :class:`TokenEndpointUnavailable` (not a verdict). Any text taken from an answer is
scrubbed of the call's secrets (``redact``) before it is put into an exception.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from collections.abc import Generator, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import urlencode

from ..errors import OAuthError, TokenEndpointUnavailable

T = TypeVar("T")

MAX_REPLY_BYTES = 256 * 1024
API_TARGET_PREFIX = "AWSCognitoIdentityProviderService."
API_CONTENT_TYPE = "application/x-amz-json-1.1"
GET_TOKENS = "GetTokensFromRefreshToken"


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


def json_object(body: bytes) -> dict[str, Any] | None:
    try:
        value = json.loads(body) if body.strip() else None
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def unavailable(call: HttpCall, reply: HttpReply, why: str) -> TokenEndpointUnavailable:
    return TokenEndpointUnavailable(
        f"{call.operation}: {why} (HTTP {reply.status} from {call.url})", status_code=reply.status
    )


# -- the hosted OAuth 2.0 endpoints -------------------------------------------------------------

_WWW_AUTH_ERROR = re.compile(r'error="([^"]*)"')
_WWW_AUTH_DESCRIPTION = re.compile(r'error_description="([^"]*)"')


def oauth_call(
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
    data = json_object(reply.body)
    if 200 <= reply.status < 300:
        if data is not None:
            return data
        if not body_required:
            return {}
        raise unavailable(call, reply, "the answer is not a JSON object")
    if reply.status >= 500 or reply.status == 429:
        raise unavailable(call, reply, "Cognito is unavailable or throttling")
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
    raise unavailable(call, reply, "unexpected answer")


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
    ("global_sign_out", "NotAuthorizedException"): "invalid_token",
    ("global_sign_out", "UserNotFoundException"): "invalid_token",
    ("global_sign_out", "PasswordResetRequiredException"): "invalid_token",
    ("global_sign_out", "UserNotConfirmedException"): "invalid_token",
    ("global_sign_out", "ForbiddenException"): "invalid_token",
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


def api_call(
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
    data = json_object(reply.body)
    if reply.status == 200:
        if data is None:
            raise unavailable(call, reply, "the answer is not a JSON object")
        return data
    if reply.status >= 500 or reply.status == 429:
        raise unavailable(call, reply, "Cognito is unavailable or throttling")
    raw_type = data.get("__type") if data is not None else None
    if not isinstance(raw_type, str) or not raw_type:
        raise unavailable(call, reply, "unexpected answer")
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


def aws_error_type(reply: HttpReply) -> str | None:
    """The ``__type`` of an API error answer without its namespace, or None."""
    data = json_object(reply.body)
    raw_type = data.get("__type") if data is not None else None
    if not isinstance(raw_type, str) or not raw_type:
        return None
    return scrub(raw_type.rsplit("#", 1)[-1], (), 80)
