"""The token-lifecycle protocol without I/O: the flows are driven by hand, step by step."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
from collections.abc import Generator
from typing import Any
from urllib.parse import parse_qs

import pytest

from cognito_guard._oauth import (
    Endpoint,
    HttpCall,
    HttpReply,
    TokenSet,
    api_error_code,
    client_credentials_flow,
    exchange_code_flow,
    read_api_reply,
    read_oauth_reply,
    refresh_flow,
    revoke_flow,
    says_unknown_operation,
    scrub,
    secret_hash,
    userinfo_flow,
)
from cognito_guard.client import CognitoTokenClient, RefreshTokenAuth
from cognito_guard.errors import (
    ConfigurationError,
    OAuthError,
    TokenEndpointUnavailable,
    UnsupportedOperationError,
)

DOMAIN = Endpoint("cid", "sekret", "https://auth.example.com", None)
PUBLIC = Endpoint("cid", None, "https://auth.example.com", None)
API = Endpoint("cid", "sekret", None, "https://cognito-idp.eu-west-1.amazonaws.com/")
PUBLIC_API = Endpoint("cid", None, None, "https://cognito-idp.eu-west-1.amazonaws.com/")


def clock() -> float:
    return 1000.0


def first_call(flow: Generator[Any, Any, Any]) -> HttpCall:
    step = next(flow)
    assert isinstance(step, HttpCall)
    return step


def finish(flow: Generator[Any, Any, Any], status: int, body: Any, **headers: str) -> Any:
    """Start ``flow``, answer its one HTTP call, and return the flow's result."""
    first_call(flow)
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    with pytest.raises(StopIteration) as stop:
        flow.send(HttpReply(status, headers, raw))
    return stop.value.value


def form(call: HttpCall) -> dict[str, list[str]]:
    return parse_qs(call.content.decode())


TOKENS = {"access_token": "a.b.c", "id_token": "i.d.t", "token_type": "Bearer", "expires_in": 300}


# -- requests ------------------------------------------------------------------------------------


def test_a_confidential_client_uses_basic_auth_and_keeps_the_secret_out_of_the_body() -> None:
    flow = refresh_flow(DOMAIN, "rt-1", clock, False)
    call = first_call(flow)
    assert (call.method, call.url) == ("POST", "https://auth.example.com/oauth2/token")
    assert call.headers["Authorization"] == "Basic " + base64.b64encode(b"cid:sekret").decode()
    assert call.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert form(call) == {"grant_type": ["refresh_token"], "refresh_token": ["rt-1"]}


def test_a_public_client_sends_its_id_in_the_body() -> None:
    call = first_call(refresh_flow(PUBLIC, "rt-1", clock, False))
    assert "Authorization" not in call.headers
    assert form(call)["client_id"] == ["cid"]


def test_client_credentials_sends_space_separated_scopes() -> None:
    call = first_call(client_credentials_flow(DOMAIN, ["a/read", "b/write"], clock))
    assert form(call) == {"grant_type": ["client_credentials"], "scope": ["a/read b/write"]}
    call = first_call(client_credentials_flow(DOMAIN, [], clock))
    assert form(call) == {"grant_type": ["client_credentials"]}


def test_exchange_code_sends_the_verifier_and_redacts_it() -> None:
    call = first_call(
        exchange_code_flow(DOMAIN, "code-1", "https://app/cb", "v" * 43, None, clock, False)
    )
    assert form(call) == {
        "grant_type": ["authorization_code"],
        "code": ["code-1"],
        "redirect_uri": ["https://app/cb"],
        "code_verifier": ["v" * 43],
    }
    assert {"code-1", "v" * 43, "sekret"} <= set(call.redact)


def test_refresh_through_the_api_sends_get_tokens_from_refresh_token_with_the_raw_secret() -> None:
    call = first_call(refresh_flow(API, "rt-1", clock, False))
    assert call.headers["X-Amz-Target"] == (
        "AWSCognitoIdentityProviderService.GetTokensFromRefreshToken"
    )
    assert call.headers["Content-Type"] == "application/x-amz-json-1.1"
    # The secret itself (no SECRET_HASH, so no username), and never in error text.
    assert json.loads(call.content) == {
        "ClientId": "cid",
        "RefreshToken": "rt-1",
        "ClientSecret": "sekret",
    }
    assert {"rt-1", "sekret"} <= set(call.redact)


def test_refresh_through_the_api_sends_the_device_key_and_client_metadata() -> None:
    flow = refresh_flow(
        PUBLIC_API, "rt-1", clock, False, device_key="eu-west-1_dev", client_metadata={"k": "v"}
    )
    call = first_call(flow)
    assert json.loads(call.content) == {
        "ClientId": "cid",
        "RefreshToken": "rt-1",
        "DeviceKey": "eu-west-1_dev",
        "ClientMetadata": {"k": "v"},
    }
    assert "eu-west-1_dev" in call.redact


def test_device_key_and_client_metadata_at_a_domain_are_a_configuration_error() -> None:
    for options in ({"device_key": "eu-west-1_dev"}, {"client_metadata": {"k": "v"}}):
        with pytest.raises(ConfigurationError, match="GetTokensFromRefreshToken"):
            next(refresh_flow(DOMAIN, "rt-1", clock, False, **options))  # type: ignore[arg-type]


def test_secret_hash_is_cognitos_hmac_of_username_and_client_id() -> None:
    # Used by the test double's InitiateAuth REFRESH_TOKEN_AUTH (non-rotating clients).
    expected = base64.b64encode(hmac.new(b"sekret", b"alicecid", hashlib.sha256).digest())
    assert secret_hash("sekret", "alice", "cid") == expected.decode()


def test_revoke_through_the_api_sends_the_client_secret() -> None:
    call = first_call(revoke_flow(API, "rt-1"))
    assert call.headers["X-Amz-Target"] == "AWSCognitoIdentityProviderService.RevokeToken"
    assert json.loads(call.content) == {
        "Token": "rt-1",
        "ClientId": "cid",
        "ClientSecret": "sekret",
    }


def test_userinfo_sends_the_access_token_as_bearer() -> None:
    call = first_call(userinfo_flow(DOMAIN, "a.b.c"))
    assert (call.method, call.url) == ("GET", "https://auth.example.com/oauth2/userInfo")
    assert call.headers["Authorization"] == "Bearer a.b.c"


# -- answers -------------------------------------------------------------------------------------


def test_a_token_answer_becomes_a_token_set_timed_from_the_send() -> None:
    tokens = finish(refresh_flow(DOMAIN, "rt-1", clock, False), 200, TOKENS)
    assert tokens.access_token == "a.b.c"
    assert tokens.refresh_token == "rt-1"  # not rotated: the one used is kept
    assert (tokens.expires_in, tokens.expires_at) == (300, 1300.0)


def test_a_rotated_refresh_token_replaces_the_old_one() -> None:
    answer = {**TOKENS, "refresh_token": "rt-2"}
    assert finish(refresh_flow(DOMAIN, "rt-1", clock, False), 200, answer).refresh_token == ("rt-2")


API_ANSWER = {
    "AuthenticationResult": {
        "AccessToken": "a.b.c",
        "IdToken": "i.d.t",
        "ExpiresIn": 3600,
        "TokenType": "Bearer",
    }
}


def test_an_api_answer_becomes_a_token_set() -> None:
    tokens = finish(refresh_flow(API, "rt-1", clock, False), 200, API_ANSWER)
    assert (tokens.id_token, tokens.refresh_token, tokens.expires_at) == ("i.d.t", "rt-1", 4600.0)
    rotated = {"AuthenticationResult": {**API_ANSWER["AuthenticationResult"], "RefreshToken": "r2"}}
    assert finish(refresh_flow(API, "rt-1", clock, False), 200, rotated).refresh_token == "r2"


def test_an_api_answer_without_tokens_is_an_outage_not_a_verdict() -> None:
    flow = refresh_flow(API, "rt-1", clock, False)
    next(flow)
    with pytest.raises(TokenEndpointUnavailable) as info:
        flow.send(HttpReply(200, {}, b'{"ChallengeName": "SMS_MFA", "Session": "s"}'))
    assert not isinstance(info.value, OAuthError)


# -- the grace-period retry ----------------------------------------------------------------------

LOST = TokenEndpointUnavailable(
    "refresh: https://x timed out (ReadTimeout)"
)  # no status: transport


@pytest.mark.parametrize("endpoint", [DOMAIN, API], ids=["domain", "api"])
@pytest.mark.parametrize(
    "failure",
    [
        LOST,
        HttpReply(500, {}, b"{}"),
        HttpReply(503, {}, b"<html>"),
        HttpReply(500, {}, b'{"__type": "InternalErrorException", "message": "x"}'),
    ],
    ids=["transport", "500", "503", "api-internal-error"],
)
def test_a_refresh_lost_on_the_way_is_sent_once_more_with_the_same_token(
    endpoint: Endpoint, failure: TokenEndpointUnavailable | HttpReply
) -> None:
    flow = refresh_flow(endpoint, "rt-1", clock, False)
    call = first_call(flow)
    again = flow.throw(failure) if isinstance(failure, Exception) else flow.send(failure)
    assert again == call and again.content == call.content  # the same request, same token
    answer = {**TOKENS, "refresh_token": "rt-2"} if endpoint is DOMAIN else API_ANSWER
    with pytest.raises(StopIteration) as stop:
        flow.send(HttpReply(200, {}, json.dumps(answer).encode()))
    assert stop.value.value.access_token == "a.b.c"


def test_the_retry_happens_once() -> None:
    flow = refresh_flow(DOMAIN, "rt-1", clock, False)
    first_call(flow)
    assert isinstance(flow.throw(LOST), HttpCall)
    with pytest.raises(TokenEndpointUnavailable) as info:
        flow.throw(TokenEndpointUnavailable("refresh: second failure"))
    assert str(info.value) == "refresh: second failure"


@pytest.mark.parametrize(
    ("endpoint", "reply", "expected"),
    [
        (DOMAIN, HttpReply(400, {}, b'{"error": "invalid_grant"}'), OAuthError),
        (API, HttpReply(400, {}, b'{"__type": "RefreshTokenReuseException"}'), OAuthError),
        (API, HttpReply(400, {}, b'{"__type": "NotAuthorizedException"}'), OAuthError),
        (DOMAIN, HttpReply(429, {}, b"{}"), TokenEndpointUnavailable),
        (
            API,
            HttpReply(400, {}, b'{"__type": "TooManyRequestsException"}'),
            TokenEndpointUnavailable,
        ),
        (DOMAIN, HttpReply(200, {}, b"<html>"), TokenEndpointUnavailable),
    ],
    ids=["invalid_grant", "reuse", "not-authorized", "429", "throttled", "200-html"],
)
def test_verdicts_throttling_and_unknown_answers_are_not_retried(
    endpoint: Endpoint, reply: HttpReply, expected: type[Exception]
) -> None:
    flow = refresh_flow(endpoint, "rt-1", clock, False)
    first_call(flow)
    with pytest.raises(expected):
        flow.send(reply)


def test_the_retried_token_set_is_timed_from_the_retry() -> None:
    now = [1000.0]
    flow = refresh_flow(DOMAIN, "rt-1", lambda: now[0], False)
    first_call(flow)
    now[0] = 1010.0
    flow.throw(LOST)
    with pytest.raises(StopIteration) as stop:
        flow.send(HttpReply(200, {}, json.dumps(TOKENS).encode()))
    assert stop.value.value.expires_at == 1310.0


def test_get_user_attributes_become_a_flat_dict() -> None:
    answer = {
        "Username": "alice",
        "UserAttributes": [{"Name": "sub", "Value": "s-1"}, {"Name": "email", "Value": "a@x"}],
    }
    flow = userinfo_flow(API, "a.b.c")
    assert finish(flow, 200, answer) == {"sub": "s-1", "email": "a@x", "username": "alice"}


def test_revoke_accepts_an_empty_200() -> None:
    flow = revoke_flow(DOMAIN, "rt-1")
    assert finish(flow, 200, b"") is None


CALL = HttpCall("refresh", "POST", "https://x/oauth2/token", {}, b"", ("rt-secret-1",))


@pytest.mark.parametrize(
    ("status", "body", "headers", "expected"),
    [
        (400, {"error": "invalid_grant"}, {}, "invalid_grant"),
        (401, {"error": "invalid_client"}, {}, "invalid_client"),
        (401, b"", {"www-authenticate": 'Bearer error="invalid_token"'}, "invalid_token"),
        (403, b"", {"www-authenticate": 'Bearer error="insufficient_scope"'}, "insufficient_scope"),
    ],
)
def test_oauth_error_answers(
    status: int, body: Any, headers: dict[str, str], expected: str
) -> None:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    with pytest.raises(OAuthError) as info:
        read_oauth_reply(CALL, HttpReply(status, headers, raw), body_required=True)
    assert (info.value.error, info.value.status_code) == (expected, status)


@pytest.mark.parametrize(
    ("status", "body"), [(500, b"{}"), (502, b"oops"), (429, b"{}"), (404, b"<html>"), (200, b"[]")]
)
def test_unusable_oauth_answers_are_outages(status: int, body: bytes) -> None:
    with pytest.raises(TokenEndpointUnavailable) as info:
        read_oauth_reply(CALL, HttpReply(status, {}, body), body_required=True)
    assert info.value.status_code == status


def test_server_text_is_scrubbed_of_secrets() -> None:
    body = json.dumps({"error": "invalid_grant", "error_description": "bad rt-secret-1\n!"})
    with pytest.raises(OAuthError) as info:
        read_oauth_reply(CALL, HttpReply(400, {}, body.encode()), body_required=True)
    assert "rt-secret-1" not in str(info.value)
    assert info.value.description == "bad [redacted] !"
    assert scrub("x" * 500, ()) == "x" * 197 + "..."


def test_api_error_types_with_a_namespace_prefix_are_mapped() -> None:
    body = json.dumps({"__type": "com.amazon#NotAuthorizedException", "message": "Invalid"})
    with pytest.raises(OAuthError) as info:
        read_api_reply(CALL, HttpReply(400, {}, body.encode()))
    assert (info.value.error, info.value.aws_error_type) == (
        "invalid_grant",
        "NotAuthorizedException",
    )


@pytest.mark.parametrize(
    ("operation", "aws_type", "message", "expected"),
    [
        ("refresh", "NotAuthorizedException", "Refresh Token has expired", "invalid_grant"),
        ("refresh", "RefreshTokenReuseException", "", "invalid_grant"),
        (
            "refresh",
            "NotAuthorizedException",
            "Client x is configured with secret",
            "invalid_client",
        ),
        ("refresh", "OperationNotEnabledException", "", "unauthorized_client"),
        ("refresh", "UserLambdaValidationException", "", "invalid_grant"),
        ("refresh", "UnexpectedLambdaException", "", None),
        ("refresh", "InvalidLambdaResponseException", "", None),
        (
            "refresh",
            "NotAuthorizedException",
            "Unable to verify SECRET HASH for client",
            "invalid_client",
        ),
        ("refresh", "InvalidUserPoolConfigurationException", "", "unauthorized_client"),
        ("revoke", "UnsupportedTokenTypeException", "", "unsupported_token_type"),
        ("userinfo", "NotAuthorizedException", "Access Token has been revoked", "invalid_token"),
        ("userinfo", "InvalidParameterException", "", "invalid_request"),
        ("refresh", "SomethingNewException", "", "invalid_request"),
        ("refresh", "TooManyRequestsException", "", None),
        ("userinfo", "InternalErrorException", "", None),
    ],
)
def test_api_error_code_table(
    operation: str, aws_type: str, message: str, expected: str | None
) -> None:
    assert api_error_code(operation, aws_type, message) == expected


# -- TokenSet ------------------------------------------------------------------------------------


def _jwt(claims: dict[str, Any]) -> str:
    payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"eyJhbGciOiJSUzI1NiJ9.{payload}.c2ln"


def test_token_set_repr_shows_no_token_and_expiry_uses_its_clock() -> None:
    now = [1000.0]
    tokens = TokenSet(
        access_token=_jwt({"username": "alice"}),
        refresh_token="rt-secret",
        id_token="id-secret",
        expires_in=300,
        expires_at=1300.0,
        clock=lambda: now[0],
    )
    assert "secret" not in repr(tokens)
    assert tokens.access_token not in repr(tokens)
    assert "refresh" in repr(tokens)
    assert tokens.username == "alice"
    assert not tokens.is_expired(leeway=299)
    assert tokens.is_expired(leeway=300)
    now[0] = 1300.0
    assert tokens.is_expired()
    assert TokenSet.from_dict(tokens.as_dict(), clock=tokens.clock) == tokens


def test_a_machine_token_set_has_no_username() -> None:
    tokens = TokenSet(access_token=_jwt({"client_id": "cid"}), expires_in=1, expires_at=1)
    assert tokens.username is None


# -- configuration -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"domain": "http://auth.example.com"},  # plain http off loopback
        {"domain": "https://auth.example.com/oauth2"},  # a path
        {"domain": "https://auth.example.com?x=1"},
        {"domain": "https://auth.example.com", "region": "eu-west-1"},
        {"region": "europe"},
        {"endpoint_url": "ftp://localhost"},
        {"domain": "https://auth.example.com", "timeout": 0},
    ],
)
def test_invalid_client_configurations_are_refused(options: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError):
        CognitoTokenClient("cid", **options)


def test_endpoint_forms() -> None:
    assert CognitoTokenClient("c", domain="auth.example.com").endpoint.domain == (
        "https://auth.example.com"
    )
    assert CognitoTokenClient("c", region="eu-west-1").endpoint.api_url == (
        "https://cognito-idp.eu-west-1.amazonaws.com/"
    )
    assert CognitoTokenClient("c", endpoint_url="http://127.0.0.1:9229").endpoint.api_url == (
        "http://127.0.0.1:9229/"
    )


def test_the_client_repr_never_shows_the_secret() -> None:
    client = CognitoTokenClient("cid", "super-secret-value", domain="https://auth.example.com")
    assert "super-secret-value" not in repr(client)
    assert "secret=yes" in repr(client)


def test_refresh_token_auth_needs_a_refresh_token() -> None:
    client = CognitoTokenClient("cid", domain="https://auth.example.com")
    machine = TokenSet(access_token="a.b.c", expires_in=60, expires_at=60)
    with pytest.raises(ConfigurationError, match="refresh_token"):
        RefreshTokenAuth(client, machine)
    user = TokenSet(access_token="a.b.c", refresh_token="rt", expires_in=60, expires_at=60)
    with pytest.raises(ConfigurationError, match="refresh_skew"):
        RefreshTokenAuth(client, user, refresh_skew=-1)
    with pytest.raises(ConfigurationError, match="user-pool API"):
        RefreshTokenAuth(client, user, device_key="eu-west-1_dev")


@pytest.mark.parametrize(
    "options",
    [
        {"device_key": ""},
        {"device_key": 42},
        {"client_metadata": {"k": 1}},
        {"client_metadata": {"": "v"}},
        {"client_metadata": ["k", "v"]},
    ],
)
def test_bad_refresh_options_are_refused_before_any_connection(options: dict[str, Any]) -> None:
    client = CognitoTokenClient("cid", endpoint_url="http://127.0.0.1:9")  # nothing listens
    with pytest.raises(ConfigurationError):
        client.refresh("rt-1", **options)
    user = TokenSet(access_token="a.b.c", refresh_token="rt", expires_in=60, expires_at=60)
    with pytest.raises(ConfigurationError):
        RefreshTokenAuth(client, user, **options)


# -- a user-pool API without GetTokensFromRefreshToken (emulators) -------------------------------

EMULATOR = Endpoint("cid", None, None, "http://127.0.0.1:5000/")
EMULATOR_SECRET = Endpoint("cid", "sekret", None, "http://127.0.0.1:5000/")
AWS_UNKNOWN = HttpReply(
    400, {}, b'{"__type": "com.amazon.coral.service#UnknownOperationException", "message": null}'
)
MOTO_500 = HttpReply(
    500,
    {"content-type": "text/html; charset=utf-8"},
    b"<!doctype html>\n<html lang=en>\n<title>500 Internal Server Error</title>\n"
    b"<h1>Internal Server Error</h1>\n<p>The server encountered an internal error</p>\n",
)
PROXY_502 = HttpReply(502, {}, b"<html>Bad Gateway</html>")


def target(call: HttpCall) -> str:
    return call.headers["X-Amz-Target"].rsplit(".", 1)[-1]


def api_reply(body: Any, status: int = 200) -> HttpReply:
    return HttpReply(status, {}, json.dumps(body).encode())


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        (AWS_UNKNOWN, True),
        (api_reply({"__type": "UnknownOperationException"}, 400), True),
        (api_reply({"__type": "UnsupportedOperation", "message": "not supported"}, 400), True),
        (api_reply({"__type": "InternalFailure", "message": "not yet implemented"}, 501), True),
        (HttpReply(501, {}, b""), True),
        (MOTO_500, None),
        (HttpReply(404, {}, b""), None),  # moto whose botocore does not know the operation
        (api_reply({"__type": "InternalErrorException"}, 500), False),
        (api_reply({"message": "internal"}, 500), False),
        (api_reply({"__type": "NotAuthorizedException"}, 400), False),
        (api_reply({"__type": "UnknownOperationException"}, 500), False),
        (PROXY_502, False),
        (api_reply(API_ANSWER), False),
    ],
    ids=[
        "aws",
        "aws-plain",
        "unsupported-operation",
        "localstack-501",
        "501-empty",
        "moto-500-html",
        "moto-404-empty",
        "internal-error",
        "500-json",
        "verdict",
        "unknown-type-at-500",
        "proxy-502",
        "tokens",
    ],
)
def test_which_answers_say_the_operation_is_unknown(
    reply: HttpReply, expected: bool | None
) -> None:
    assert says_unknown_operation(reply) is expected


def test_an_aws_endpoint_is_never_guessed_to_lack_an_operation() -> None:
    assert says_unknown_operation(MOTO_500, guess=False) is False
    assert says_unknown_operation(HttpReply(404, {}, b""), guess=False) is False
    assert says_unknown_operation(AWS_UNKNOWN, guess=False) is True


def test_an_unknown_get_tokens_falls_back_to_refresh_token_auth_once_and_is_remembered() -> None:
    lacks = threading.Event()
    flow = refresh_flow(EMULATOR, "rt-1", clock, False, lacks_get_tokens=lacks)
    assert target(first_call(flow)) == "GetTokensFromRefreshToken"
    fallback = flow.send(AWS_UNKNOWN)  # a verdict on the operation: not retried
    assert target(fallback) == "InitiateAuth"
    assert json.loads(fallback.content) == {
        "AuthFlow": "REFRESH_TOKEN_AUTH",
        "ClientId": "cid",
        "AuthParameters": {"REFRESH_TOKEN": "rt-1"},
    }
    assert "rt-1" in fallback.redact
    assert lacks.is_set()
    with pytest.raises(StopIteration) as stop:
        flow.send(api_reply(API_ANSWER))
    assert (stop.value.value.access_token, stop.value.value.refresh_token) == ("a.b.c", "rt-1")
    # The next refresh of the same client asks InitiateAuth straight away.
    again = refresh_flow(EMULATOR, "rt-1", clock, False, lacks_get_tokens=lacks)
    assert target(first_call(again)) == "InitiateAuth"


def test_the_fallback_carries_the_secret_hash_device_key_and_client_metadata() -> None:
    lacks = threading.Event()
    lacks.set()
    flow = refresh_flow(
        EMULATOR_SECRET,
        "rt-1",
        clock,
        False,
        device_key="eu-west-1_dev",
        client_metadata={"k": "v"},
        username="alice",
        lacks_get_tokens=lacks,
    )
    call = first_call(flow)
    assert json.loads(call.content) == {
        "AuthFlow": "REFRESH_TOKEN_AUTH",
        "ClientId": "cid",
        "AuthParameters": {
            "REFRESH_TOKEN": "rt-1",
            "USERNAME": "alice",
            "SECRET_HASH": secret_hash("sekret", "alice", "cid"),
            "DEVICE_KEY": "eu-west-1_dev",
        },
        "ClientMetadata": {"k": "v"},
    }
    assert {"rt-1", "eu-west-1_dev", "sekret", secret_hash("sekret", "alice", "cid")} <= set(
        call.redact
    )


def test_the_fallback_of_a_client_with_a_secret_needs_the_username() -> None:
    lacks = threading.Event()
    flow = refresh_flow(EMULATOR_SECRET, "rt-1", clock, False, lacks_get_tokens=lacks)
    first_call(flow)
    with pytest.raises(ConfigurationError, match=r"username=\.\.\."):
        flow.send(AWS_UNKNOWN)
    assert lacks.is_set()  # and the next refresh says so before any request
    with pytest.raises(ConfigurationError, match="username"):
        next(refresh_flow(EMULATOR_SECRET, "rt-1", clock, False, lacks_get_tokens=lacks))


def test_a_rotating_client_gets_a_typed_error_naming_the_missing_operation() -> None:
    lacks = threading.Event()
    flow = refresh_flow(EMULATOR, "rt-1", clock, False, rotation=True, lacks_get_tokens=lacks)
    first_call(flow)
    with pytest.raises(UnsupportedOperationError) as info:
        flow.send(AWS_UNKNOWN)
    error = info.value
    assert isinstance(error, OAuthError) and not isinstance(error, TokenEndpointUnavailable)
    assert (error.error, error.missing_operation, error.operation) == (
        "unsupported_grant_type",
        "GetTokensFromRefreshToken",
        "refresh",
    )
    assert (error.status_code, error.aws_error_type) == (400, "UnknownOperationException")
    assert "GetTokensFromRefreshToken" in str(error)
    assert "refresh_token_rotation=True" in str(error)
    assert "unavailable" not in str(error)
    # Remembered: the next refresh raises it without a request.
    again = refresh_flow(EMULATOR, "rt-1", clock, False, rotation=True, lacks_get_tokens=lacks)
    with pytest.raises(UnsupportedOperationError):
        next(again)


def test_a_moto_500_is_retried_then_confirmed_by_the_fallback() -> None:
    lacks = threading.Event()
    flow = refresh_flow(EMULATOR, "rt-1", clock, False, lacks_get_tokens=lacks)
    call = first_call(flow)
    assert flow.send(MOTO_500) == call  # a 500 may have been processed: the same call again
    fallback = flow.send(MOTO_500)
    assert target(fallback) == "InitiateAuth"
    assert not lacks.is_set()  # not yet: a failing proxy answers like this too
    with pytest.raises(StopIteration) as stop:
        flow.send(api_reply(API_ANSWER))
    assert stop.value.value.access_token == "a.b.c"
    assert lacks.is_set()


def test_a_moto_like_500_without_an_api_answer_after_it_stays_an_outage() -> None:
    lacks = threading.Event()
    flow = refresh_flow(EMULATOR, "rt-1", clock, False, lacks_get_tokens=lacks)
    first_call(flow)
    flow.send(MOTO_500)
    assert target(flow.send(MOTO_500)) == "InitiateAuth"
    with pytest.raises(TokenEndpointUnavailable) as info:
        flow.send(PROXY_502)
    assert info.value.status_code == 500  # the first failure's: GetTokensFromRefreshToken's 500
    assert not lacks.is_set()


def test_a_rotating_client_confirms_a_moto_500_without_sending_the_refresh_token() -> None:
    lacks = threading.Event()
    flow = refresh_flow(
        EMULATOR_SECRET, "rt-1", clock, False, rotation=True, lacks_get_tokens=lacks
    )
    first_call(flow)
    flow.send(MOTO_500)
    probe = flow.send(MOTO_500)
    assert target(probe) == "InitiateAuth"
    assert json.loads(probe.content) == {
        "AuthFlow": "REFRESH_TOKEN_AUTH",
        "ClientId": "cid",
        "AuthParameters": {},
    }
    with pytest.raises(UnsupportedOperationError) as info:
        flow.send(api_reply({"__type": "ResourceNotFoundException", "message": None}, 400))
    assert info.value.status_code == 500
    assert lacks.is_set()


def test_a_rotating_client_keeps_an_unconfirmed_500_an_outage() -> None:
    lacks = threading.Event()
    flow = refresh_flow(EMULATOR, "rt-1", clock, False, rotation=True, lacks_get_tokens=lacks)
    first_call(flow)
    flow.send(MOTO_500)
    flow.send(MOTO_500)
    with pytest.raises(TokenEndpointUnavailable) as info:
        flow.send(MOTO_500)
    assert not isinstance(info.value, OAuthError)
    assert not lacks.is_set()


def test_an_html_500_from_an_aws_endpoint_is_an_outage_without_a_fallback() -> None:
    lacks = threading.Event()
    flow = refresh_flow(PUBLIC_API, "rt-1", clock, False, lacks_get_tokens=lacks)
    first_call(flow)
    flow.send(MOTO_500)
    with pytest.raises(TokenEndpointUnavailable, match="unavailable"):
        flow.send(MOTO_500)
    assert not lacks.is_set()


def test_refresh_token_rotation_must_be_a_bool() -> None:
    with pytest.raises(ConfigurationError, match="refresh_token_rotation"):
        CognitoTokenClient("cid", region="eu-west-1", refresh_token_rotation="yes")  # type: ignore[arg-type]
