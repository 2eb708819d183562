"""MCP: examples/mcp_server.py under a real uvicorn on 127.0.0.1, called by the MCP SDK's client.

The server's keys come from the OAuth double over HTTP, so an outage is the double answering 500.
Skipped (with the reason) when the MCP SDK is not installed, except under ``CI=true``.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
import uvicorn

from cognito_guard import ConfigurationError, KeysUnavailableError
from cognito_guard.testing import LocalIssuer, OAuthServer

from .test_fastapi import clear_env

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "mcp_server.py"
SECRET = "mcp-test-client-secret"
# The oldest release these tests pass with (1.28 gave AccessToken subject and claims; 1.28.x and
# 1.29.0 warn under today's pydantic-settings).
MIN_MCP = (1, 29, 1)
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "test", "version": "1"},
    },
}
MCP_HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


def _mcp_missing() -> str | None:
    try:
        installed = version("mcp")
    except PackageNotFoundError:
        return "the MCP SDK is not installed (pip install 'cognito-guard[mcp]')"
    numbers = tuple(int(part) for part in installed.split(".")[:3] if part.isdigit())
    if numbers < MIN_MCP:
        return f"mcp {installed} is older than {'.'.join(map(str, MIN_MCP))}"
    return None


@pytest.fixture(scope="module")
def mcp_available() -> None:
    reason = _mcp_missing()
    if reason is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true and {reason}")
        pytest.skip(reason)


def _load_example() -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"mcp_server_{uuid.uuid4().hex}", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def double(cognito_issuer: LocalIssuer) -> Iterator[OAuthServer]:
    with cognito_issuer.serve_oauth(client_secret=SECRET) as running:
        yield running


@pytest.fixture
def server_url(
    mcp_available: None,
    monkeypatch: pytest.MonkeyPatch,
    cognito_issuer: LocalIssuer,
    double: OAuthServer,
) -> Iterator[str]:
    """The example server under uvicorn; its resource (and audience) is its own /mcp URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    base = f"http://127.0.0.1:{sock.getsockname()[1]}"
    double.resources = (base + "/mcp",)
    clear_env(monkeypatch)
    monkeypatch.setenv("COGNITO_USER_POOL_ID", cognito_issuer.user_pool_id)
    monkeypatch.setenv("COGNITO_CLIENT_ID", cognito_issuer.client_id)
    monkeypatch.setenv("COGNITO_JWKS_URI", double.jwks_uri)
    monkeypatch.setenv("COGNITO_AUDIENCE", base + "/mcp")
    try:
        app = _load_example().create_app()
    except BaseException:
        sock.close()
        raise
    config = uvicorn.Config(app, lifespan="on", log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        for _ in range(1000):
            if server.started or not thread.is_alive():
                break
            time.sleep(0.01)
        assert server.started, "uvicorn did not start"
        yield base
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
    assert not thread.is_alive(), "uvicorn did not stop"


def _post(url: str, token: str | None = None) -> httpx.Response:
    headers = dict(MCP_HEADERS)
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return httpx.post(url, json=INITIALIZE, headers=headers, timeout=10)


def _metadata_url(base: str) -> str:
    return f"{base}/.well-known/oauth-protected-resource/mcp"


async def _call_tool(url: str, token: str, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
    """A tool call with the SDK's own client over streamable HTTP; the result as JSON."""
    from mcp import ClientSession
    from mcp.client.streamable_http import streamable_http_client
    from mcp.shared._httpx_utils import create_mcp_http_client

    async with (
        create_mcp_http_client(headers={"Authorization": f"Bearer {token}"}) as http,
        streamable_http_client(url, http_client=http) as streams,
        ClientSession(streams[0], streams[1]) as session,
    ):
        await session.initialize()
        result = await session.call_tool(tool, arguments)
    dumped: dict[str, Any] = result.model_dump(by_alias=True, mode="json")
    return dumped


def _text(result: dict[str, Any]) -> str:
    return " ".join(block.get("text", "") for block in result["content"])


# -- refusals: the SDK's 401 with the RFC 9728 pointer -------------------------------------------


def test_no_token_is_a_401_pointing_at_the_metadata(server_url: str) -> None:
    answer = _post(server_url + "/mcp")
    assert answer.status_code == 401
    challenge = answer.headers["www-authenticate"]
    assert challenge.startswith("Bearer ")
    assert f'resource_metadata="{_metadata_url(server_url)}"' in challenge


def test_the_metadata_document_names_the_pool_and_the_resource(
    server_url: str, cognito_issuer: LocalIssuer
) -> None:
    answer = httpx.get(_metadata_url(server_url), timeout=10)
    assert answer.status_code == 200
    document = answer.json()
    assert document["resource"] == server_url + "/mcp"
    assert document["authorization_servers"] == [cognito_issuer.issuer]
    assert document["bearer_methods_supported"] == ["header"]


@pytest.mark.parametrize(
    "aud", ["https://other.example.com/mcp", None], ids=["another resource", "no aud"]
)
def test_a_token_for_another_audience_is_a_401(
    server_url: str, cognito_issuer: LocalIssuer, aud: str | None
) -> None:
    claims = {} if aud is None else {"aud": aud}
    token = cognito_issuer.access_token(scopes=["orders/read"], claims=claims)
    answer = _post(server_url + "/mcp", token)
    assert answer.status_code == 401
    assert answer.json()["error"] == "invalid_token"
    assert f'resource_metadata="{_metadata_url(server_url)}"' in answer.headers["www-authenticate"]


def test_a_token_of_the_server_but_from_another_pool_is_a_401(server_url: str) -> None:
    other = LocalIssuer("eu-west-1_OtherPool1")
    token = other.access_token(scopes=["orders/read"], aud=server_url + "/mcp")
    assert _post(server_url + "/mcp", token).status_code == 401


# -- tools: the caller and the scopes ------------------------------------------------------------


@pytest.mark.anyio
async def test_a_good_token_runs_the_tool_which_sees_the_caller(
    server_url: str, cognito_issuer: LocalIssuer
) -> None:
    token = cognito_issuer.access_token(
        scopes=["orders/read", "orders/write"], sub="caller-sub-1", aud=server_url + "/mcp"
    )
    placed = await _call_tool(server_url + "/mcp", token, "place_order", {"item": "tea"})
    assert placed["isError"] is False, placed
    assert _text(placed) == "ordered 1 x tea for caller-sub-1"
    listed = await _call_tool(server_url + "/mcp", token, "list_orders", {})
    assert listed["isError"] is False, listed
    assert _text(listed) == "orders of caller-sub-1: [{'item': 'tea', 'quantity': 1}]"


@pytest.mark.anyio
async def test_a_token_without_the_write_scope_cannot_call_the_write_tool(
    server_url: str, cognito_issuer: LocalIssuer
) -> None:
    token = cognito_issuer.access_token(scopes=["orders/read"], aud=server_url + "/mcp")
    refused = await _call_tool(server_url + "/mcp", token, "place_order", {"item": "tea"})
    assert refused["isError"] is True
    assert "needs the scope 'orders/write'" in _text(refused)
    listed = await _call_tool(server_url + "/mcp", token, "list_orders", {})
    assert listed["isError"] is False


@pytest.mark.anyio
async def test_a_users_token_bound_to_this_server_by_the_pool_is_accepted(
    server_url: str, cognito_issuer: LocalIssuer, double: OAuthServer
) -> None:
    # What an MCP client does: authorize with resource= (the pool binds the token to it), then
    # redeem the code, naming the resource again.
    resource = server_url + "/mcp"
    query = urlencode(
        {
            "client_id": double.client_id,
            "redirect_uri": "https://client.example/callback",
            "response_type": "code",
            "scope": "openid orders/read",
            "resource": resource,
        }
    )
    location = httpx.get(f"{double.url}/oauth2/authorize?{query}").headers["location"]
    code = parse_qs(urlsplit(location).query)["code"][0]
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": "https://client.example/callback",
        "resource": resource,
    }
    answer = httpx.post(f"{double.url}/oauth2/token", data=form, auth=(double.client_id, SECRET))
    token = answer.json()["access_token"]
    caller = cognito_issuer.verifier(audience=resource).verify(token).sub
    listed = await _call_tool(resource, token, "list_orders", {})
    assert _text(listed) == f"orders of {caller}: []"


# -- the keys cannot be had: 503, not a 401 that blames the token ---------------------------------


def test_keys_unavailable_is_a_503_with_retry_after(
    server_url: str, cognito_issuer: LocalIssuer, double: OAuthServer
) -> None:
    double.status = 500
    token = cognito_issuer.access_token(scopes=["orders/read"], aud=server_url + "/mcp")
    answer = _post(server_url + "/mcp", token)
    assert answer.status_code == 503
    assert int(answer.headers["retry-after"]) >= 1
    assert answer.headers["cache-control"] == "no-store"
    assert "www-authenticate" not in answer.headers
    assert answer.json() == {
        "error": "temporarily_unavailable",
        "error_description": KeysUnavailableError.description,
    }
    # A request the SDK does not refuse is not touched, token or not.
    metadata = httpx.get(
        _metadata_url(server_url), headers={"Authorization": f"Bearer {token}"}, timeout=10
    )
    assert metadata.status_code == 200
    # Without a token it is the SDK's 401 as ever: nothing was left to judge.
    assert _post(server_url + "/mcp").status_code == 401
    # Once the keys are back (after the fetch back-off that Retry-After announced), it works.
    double.status = 200
    time.sleep(int(answer.headers["retry-after"]))
    assert _post(server_url + "/mcp", token).status_code == 200


# -- the token verifier on its own ---------------------------------------------------------------


RESOURCE = "https://mcp.example.com/mcp"


@pytest.mark.anyio
async def test_the_access_token_carries_the_callers_identity(
    mcp_available: None, cognito_issuer: LocalIssuer
) -> None:
    from cognito_guard.integrations.mcp import CognitoTokenVerifier

    verifier = cognito_issuer.verifier(audience=[RESOURCE, "https://other.example.com"])
    token = cognito_issuer.access_token(
        scopes=["orders/write", "orders/read"], sub="s-1", aud=["https://x.example", RESOURCE]
    )
    access = await CognitoTokenVerifier(verifier).verify_token(token)
    assert access is not None
    assert (access.token, access.client_id) == (token, cognito_issuer.client_id)
    assert access.scopes == ["orders/write", "orders/read"]  # the token's order
    assert access.expires_at == verifier.verify(token).expires_at
    assert access.resource == RESOURCE  # the aud entry the verifier accepted
    assert access.subject == "s-1"
    assert access.claims is not None and access.claims["iss"] == cognito_issuer.issuer


@pytest.mark.anyio
async def test_without_an_audience_the_resource_is_none(
    mcp_available: None, cognito_issuer: LocalIssuer
) -> None:
    from cognito_guard.integrations.mcp import CognitoTokenVerifier

    access = await CognitoTokenVerifier(cognito_issuer.verifier()).verify_token(
        cognito_issuer.access_token(aud=RESOURCE)
    )
    assert access is not None and access.resource is None


@pytest.mark.anyio
async def test_every_rejected_token_is_none_never_an_error(
    mcp_available: None, cognito_issuer: LocalIssuer, caplog: pytest.LogCaptureFixture
) -> None:
    from cognito_guard.integrations.mcp import CognitoTokenVerifier

    token_verifier = CognitoTokenVerifier(cognito_issuer.verifier(audience=RESOURCE))
    for token in (
        "",
        "not a token",
        "a.b.c",
        cognito_issuer.access_token(aud=RESOURCE, expires_in=-60),
        cognito_issuer.access_token(aud="https://other.example.com"),
        cognito_issuer.access_token(aud=RESOURCE, client_id="another0client"),
        cognito_issuer.id_token(),
        LocalIssuer("eu-west-1_OtherPool1").access_token(aud=RESOURCE),
    ):
        with caplog.at_level("INFO", logger="cognito_guard"):
            assert await token_verifier.verify_token(token) is None
    assert "InvalidAudienceError" in caplog.text  # logged as every adapter logs a rejection
    assert cognito_issuer.access_token(aud=RESOURCE)[:20] not in caplog.text


@pytest.mark.anyio
async def test_outside_the_wrapper_unavailable_keys_are_an_error_not_a_401(
    mcp_available: None, cognito_issuer: LocalIssuer, double: OAuthServer
) -> None:
    from cognito_guard.integrations.mcp import CognitoTokenVerifier

    double.status = 500
    token_verifier = CognitoTokenVerifier(
        cognito_issuer.verifier(jwks_uri=double.jwks_uri, audience=RESOURCE)
    )
    with pytest.raises(KeysUnavailableError):
        await token_verifier.verify_token(cognito_issuer.access_token(aud=RESOURCE))


def test_only_access_tokens_are_for_mcp(mcp_available: None, cognito_issuer: LocalIssuer) -> None:
    from cognito_guard.integrations.mcp import CognitoTokenVerifier

    for token_use in ("id", "any"):
        with pytest.raises(ConfigurationError, match="takes access tokens"):
            CognitoTokenVerifier(cognito_issuer.verifier(token_use=token_use))
    with pytest.raises(ConfigurationError, match="must be a CognitoVerifier"):
        CognitoTokenVerifier("not a verifier")  # type: ignore[arg-type]


def test_without_the_sdk_the_module_imports_and_the_class_says_what_to_install() -> None:
    script = """
import sys
sys.modules["mcp"] = None  # the SDK is not installed
import cognito_guard.integrations.mcp as integration
from cognito_guard import ConfigurationError
from cognito_guard.testing import LocalIssuer
try:
    integration.CognitoTokenVerifier(LocalIssuer().verifier())
except ConfigurationError as exc:
    print(exc)
"""
    run = subprocess.run(  # noqa: S603 - this interpreter, a fixed script
        [sys.executable, "-W", "error", "-c", script],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert "pip install 'cognito-guard[mcp]'" in run.stdout


def test_the_wrapper_passes_other_messages_through(mcp_available: None) -> None:
    from cognito_guard.integrations.mcp import CognitoTokenVerifier

    seen: list[dict[str, Any]] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append(dict(scope))
        await send({"type": "lifespan.startup.complete"})

    sent: list[Any] = []

    async def send(message: Any) -> None:
        sent.append(message)

    async def receive() -> Any:
        return {"type": "lifespan.startup"}

    wrapped = CognitoTokenVerifier(LocalIssuer().verifier()).wrap(app)
    asyncio.run(wrapped({"type": "lifespan"}, receive, send))
    assert seen == [{"type": "lifespan"}]
    assert sent == [{"type": "lifespan.startup.complete"}]
