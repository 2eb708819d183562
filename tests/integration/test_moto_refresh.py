"""Refreshing through the user-pool API of moto's server, which lacks GetTokensFromRefreshToken.

moto (``moto[cognitoidp,server]``) answers an operation that botocore knows and moto does not
implement with HTTP 500 and Werkzeug's HTML error page, and (moto 5.2) one that its botocore
does not know with an empty 404: neither is an answer in the API's format. The client confirms
the missing operation through the same endpoint and then refreshes with ``InitiateAuth
REFRESH_TOKEN_AUTH`` (or, made with ``refresh_token_rotation=True``, raises
``UnsupportedOperationError``).

A real moto server runs in a thread on 127.0.0.1; boto3 creates the user pool, app clients and
users, and signs in. Skipped when moto is not installed, except under ``CI=true``.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import secrets
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from cognito_guard._oauth import (
    API_CONTENT_TYPE,
    API_TARGET_PREFIX,
    HttpReply,
    says_unknown_operation,
    secret_hash,
)
from cognito_guard.client import (
    CognitoTokenClient,
    OAuthError,
    TokenEndpointUnavailable,
    UnsupportedOperationError,
)

from ._oauth_support import call

GET_TOKENS = "GetTokensFromRefreshToken"
PASSWORD = "Correct-horse-9!"
REQUIRED = ("moto", "boto3", "flask", "flask_cors")
INSTALL = "pip install 'moto[cognitoidp,server]'"


@pytest.fixture(params=["sync", "async"])
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _moto_missing() -> str | None:
    """Why moto's server cannot run cognito-idp here, or None."""
    missing = [name for name in REQUIRED if importlib.util.find_spec(name) is None]
    if missing:
        return f"no {', '.join(missing)}"
    try:  # its JOSE library (joserfc, python-jose in older releases) comes with the extra
        importlib.import_module("moto.cognitoidp.models")
    except ImportError as exc:
        return f"moto's cognito-idp cannot be imported: {exc}"
    return None


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    """A moto server on a free loopback port, for this module."""
    missing = _moto_missing()
    if missing is not None:
        reason = f"moto's server mode is not installed ({missing}): {INSTALL}"
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true and {reason}")
        pytest.skip(reason)
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def _api(url: str, operation: str, payload: dict[str, Any]) -> httpx.Response:
    headers = {"Content-Type": API_CONTENT_TYPE, "X-Amz-Target": API_TARGET_PREFIX + operation}
    return httpx.post(url + "/", content=json.dumps(payload), headers=headers)


@pytest.fixture(scope="module")
def moto_lacks_get_tokens(moto_url: str) -> bool:
    reply = _api(moto_url, GET_TOKENS, {"ClientId": "none", "RefreshToken": "none"})
    return reply.status_code in (404, 500) and not reply.text.lstrip().startswith("{")


@pytest.fixture
def lacking(moto_lacks_get_tokens: bool) -> None:
    if not moto_lacks_get_tokens:
        pytest.skip(
            "this moto implements GetTokensFromRefreshToken: there is nothing to fall back "
            "from (test_refresh_fallback covers the fallback against the OAuth double)"
        )


@dataclass(frozen=True)
class SignedIn:
    """An app client of a fresh moto user pool and a user signed in to it."""

    url: str
    client_id: str
    client_secret: str | None
    username: str
    refresh_token: str
    access_token: str


def sign_in(url: str, *, with_secret: bool = False) -> SignedIn:
    """Create a pool, an app client and a confirmed user with boto3, then sign the user in."""
    import boto3

    idp = boto3.client(
        "cognito-idp",
        region_name="us-east-1",
        endpoint_url=url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    pool_id = idp.create_user_pool(PoolName="pool-" + secrets.token_hex(4))["UserPool"]["Id"]
    app = idp.create_user_pool_client(
        UserPoolId=pool_id,
        ClientName="app",
        GenerateSecret=with_secret,
        ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
    )["UserPoolClient"]
    client_id, client_secret = app["ClientId"], app.get("ClientSecret")
    username = "alice"
    idp.admin_create_user(
        UserPoolId=pool_id,
        Username=username,
        TemporaryPassword="Temporary-pass-1!",
        MessageAction="SUPPRESS",
    )
    idp.admin_set_user_password(
        UserPoolId=pool_id, Username=username, Password=PASSWORD, Permanent=True
    )
    params = {"USERNAME": username, "PASSWORD": PASSWORD}
    if client_secret is not None:
        params["SECRET_HASH"] = secret_hash(client_secret, username, client_id)
    result = idp.initiate_auth(
        ClientId=client_id, AuthFlow="USER_PASSWORD_AUTH", AuthParameters=params
    )["AuthenticationResult"]
    idp.close()
    return SignedIn(
        url,
        client_id,
        client_secret,
        username,
        result["RefreshToken"],
        result["AccessToken"],
    )


class Recorder(httpx.BaseTransport, httpx.AsyncBaseTransport):
    """Passes every request through; ``sent`` records each one's operation and body."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes]] = []
        self._lock = threading.Lock()

    @property
    def operations(self) -> list[str]:
        with self._lock:
            return [operation for operation, _ in self.sent]

    def clear(self) -> None:
        with self._lock:
            self.sent.clear()

    def _record(self, request: httpx.Request) -> None:
        operation = request.headers.get("x-amz-target", "").removeprefix(API_TARGET_PREFIX)
        with self._lock:
            self.sent.append((operation, request.content))

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self._record(request)
        with httpx.HTTPTransport() as real:
            answer = real.handle_request(request)
            body = answer.read()
        return httpx.Response(answer.status_code, headers=answer.headers, content=body)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self._record(request)
        async with httpx.AsyncHTTPTransport() as real:
            answer = await real.handle_async_request(request)
            body = await answer.aread()
        return httpx.Response(answer.status_code, headers=answer.headers, content=body)


def client_of(user: SignedIn, recorder: Recorder, **options: Any) -> CognitoTokenClient:
    return CognitoTokenClient(
        user.client_id,
        user.client_secret,
        endpoint_url=user.url + "/",
        transport=recorder,
        async_transport=recorder,
        **options,
    )


def test_moto_answers_a_missing_operation_outside_the_apis_format(
    moto_url: str, lacking: None
) -> None:
    """What the fallback is built on: moto's answers, as this moto gives them."""
    known_to_botocore = _api(moto_url, GET_TOKENS, {"ClientId": "c", "RefreshToken": "r"})
    assert known_to_botocore.status_code == 500
    assert known_to_botocore.headers["content-type"].startswith("text/html")
    # One its botocore does not know either: an empty 404 (moto 5.2) or the same 500 (5.0, 5.1).
    unknown = _api(moto_url, "NoSuchOperation", {})
    assert unknown.status_code in (404, 500) and not unknown.text.lstrip().startswith("{")
    for answer in (known_to_botocore, unknown):
        reply = HttpReply(answer.status_code, answer.headers, answer.content)
        assert says_unknown_operation(reply) is None  # maybe: confirmed by another answer
    # An operation moto implements answers in the API's format.
    initiate = _api(moto_url, "InitiateAuth", {"AuthFlow": "REFRESH_TOKEN_AUTH", "ClientId": "c"})
    assert initiate.status_code == 400 and "__type" in initiate.json()


def test_refresh_falls_back_and_the_next_refresh_does_not_ask_again(
    moto_url: str, lacking: None, mode: str
) -> None:
    user = sign_in(moto_url)
    recorder = Recorder()
    client = client_of(user, recorder)
    first = call(mode, client, "refresh", user.refresh_token)
    # A 500 may have been processed, so it is sent once more; then InitiateAuth answers.
    assert recorder.operations == [GET_TOKENS, GET_TOKENS, "InitiateAuth"]
    assert first.refresh_token == user.refresh_token  # moto does not rotate
    assert first.username == user.username
    recorder.clear()
    second = call(mode, client, "refresh", user.refresh_token)
    assert recorder.operations == ["InitiateAuth"]
    # moto accepts the refreshed access token: GetUser through the same client.
    assert call(mode, client, "userinfo", second.access_token)["username"] == user.username


def test_a_client_with_a_secret_falls_back_with_the_secret_hash(
    moto_url: str, lacking: None, mode: str
) -> None:
    user = sign_in(moto_url, with_secret=True)
    recorder = Recorder()
    client = client_of(user, recorder)
    tokens = call(mode, client, "refresh", user.refresh_token, username=user.username)
    assert tokens.username == user.username
    recorder.clear()
    # moto checks the SECRET_HASH, and echoes a wrong one as its message: kept out of the error.
    with pytest.raises(OAuthError) as info:
        call(mode, client, "refresh", user.refresh_token, username="mallory")
    assert info.value.aws_error_type == "NotAuthorizedException"
    assert recorder.operations == ["InitiateAuth"]
    assert user.client_secret is not None
    wrong_hash = secret_hash(user.client_secret, "mallory", user.client_id)
    assert wrong_hash not in str(info.value) and user.client_secret not in str(info.value)
    assert info.value.description == "[redacted]"


def test_a_client_made_for_rotation_gets_a_typed_error_naming_the_operation(
    moto_url: str, lacking: None, mode: str
) -> None:
    user = sign_in(moto_url)
    recorder = Recorder()
    client = client_of(user, recorder, refresh_token_rotation=True)
    with pytest.raises(UnsupportedOperationError) as info:
        call(mode, client, "refresh", user.refresh_token)
    error = info.value
    assert isinstance(error, OAuthError) and not isinstance(error, TokenEndpointUnavailable)
    assert (error.error, error.missing_operation, error.status_code) == (
        "unsupported_grant_type",
        GET_TOKENS,
        500,
    )
    assert GET_TOKENS in str(error) and "unavailable" not in str(error)
    # Confirmed by an InitiateAuth that carries no refresh token.
    assert recorder.operations == [GET_TOKENS, GET_TOKENS, "InitiateAuth"]
    probe = recorder.sent[-1][1]
    assert user.refresh_token.encode() not in probe
    assert json.loads(probe)["AuthParameters"] == {}
    recorder.clear()
    with pytest.raises(UnsupportedOperationError):
        call(mode, client, "refresh", user.refresh_token)
    assert recorder.operations == []
