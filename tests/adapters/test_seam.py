"""Every framework adapter enters through the guard's one ``authenticate`` with ``Credentials``.

A guard of our own (a BearerGuard subclass recording what it is handed) stands in for the app's:
Flask and Starlette/FastAPI call it once per request, however many decorators, dependencies or
reads of the current user the request goes through, with the request's ``Authorization`` values
and a converter that builds the request's WebRequest (what SessionGuard reads the cookie from).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

import pytest
from fastapi import Depends, FastAPI, WebSocket
from flask import Flask

from cognito_guard import CognitoClaims, CognitoVerifier
from cognito_guard.bearer import BearerGuard, Credentials
from cognito_guard.integrations import flask as flask_adapter
from cognito_guard.integrations import starlette as starlette_adapter
from cognito_guard.sessions import WebRequest
from cognito_guard.testing import LocalIssuer

from ._testclient import TestClient
from .matrix import asgi_client


class RecordingGuard(BearerGuard):
    """Records the credentials it is handed, and the WebRequest they build, then verifies."""

    def __init__(self, verifier: CognitoVerifier) -> None:
        super().__init__(verifier)
        self.seen: list[tuple[Credentials | Sequence[str], WebRequest | None]] = []

    def _record(self, credentials: Credentials | Sequence[str]) -> None:
        built = credentials.web_request() if isinstance(credentials, Credentials) else None
        self.seen.append((credentials, built))

    def authenticate(self, credentials: Credentials | Sequence[str]) -> CognitoClaims | None:
        self._record(credentials)
        return super().authenticate(credentials)

    async def aauthenticate(self, credentials: Credentials | Sequence[str]) -> CognitoClaims | None:
        self._record(credentials)
        return await super().aauthenticate(credentials)


def only_credentials(guard: RecordingGuard) -> tuple[Credentials, WebRequest]:
    assert len(guard.seen) == 1, guard.seen  # once per request
    credentials, built = guard.seen[0]
    assert isinstance(credentials, Credentials) and isinstance(built, WebRequest)
    return credentials, built


def flask_app(verifier: CognitoVerifier) -> tuple[Flask, RecordingGuard]:
    app = Flask(__name__)
    flask_adapter.CognitoGuard(app, verifier=verifier)
    guard = app.extensions[flask_adapter.EXTENSION_KEY] = RecordingGuard(verifier)

    @app.get("/me")
    @flask_adapter.require_scope("orders/read")
    def me() -> dict[str, Any]:
        again = flask_adapter.get_cognito_user()
        return {"sub": flask_adapter.current_cognito_user.sub, "again": again and again.sub}

    @app.get("/async-me")
    @flask_adapter.require_auth
    async def async_me() -> dict[str, Any]:
        user, again = await flask_adapter.aget_cognito_user(), flask_adapter.get_cognito_user()
        return {"sub": user and user.sub, "again": again and again.sub}

    return app, guard


@pytest.mark.parametrize("path", ["/me", "/async-me"])
def test_flask_hands_the_guard_the_request_credentials_once(
    cognito_verifier: CognitoVerifier, cognito_issuer: LocalIssuer, path: str
) -> None:
    app, guard = flask_app(cognito_verifier)
    token = cognito_issuer.access_token(scopes=["orders/read"], sub="flask-user")
    client = app.test_client()
    client.set_cookie("theme", "dark")
    response = client.get(path + "?page=2", headers={"Authorization": "Bearer " + token})
    assert response.status_code == 200
    assert response.json == {"sub": "flask-user", "again": "flask-user"}
    credentials, built = only_credentials(guard)
    assert tuple(credentials.authorization) == ("Bearer " + token,)
    assert (built.method, built.path, built.scheme) == ("GET", path, "http")
    assert built.query == {"page": "2"} and built.cookies == {"theme": "dark"}
    assert built.header("authorization") == "Bearer " + token and not built.websocket


def test_flask_without_a_header_hands_empty_credentials(
    cognito_verifier: CognitoVerifier,
) -> None:
    app, guard = flask_app(cognito_verifier)
    response = app.test_client().get("/me")
    assert response.status_code == 401
    credentials, built = only_credentials(guard)
    assert tuple(credentials.authorization) == () and built.path == "/me"


def fastapi_app(verifier: CognitoVerifier) -> tuple[FastAPI, RecordingGuard]:
    app = FastAPI()
    starlette_adapter.CognitoGuard(app, verifier=verifier)
    guard = RecordingGuard(verifier)
    app.state.cognito_guard = guard

    @app.get("/me", dependencies=[Depends(starlette_adapter.require_scope("orders/read"))])
    async def me(
        user: Annotated[CognitoClaims, Depends(starlette_adapter.cognito_user)],
        maybe: Annotated[CognitoClaims | None, Depends(starlette_adapter.cognito_user_optional)],
    ) -> dict[str, Any]:
        return {"sub": user.sub, "same": maybe is not None and maybe.sub == user.sub}

    @app.websocket("/feed")
    async def feed(
        websocket: WebSocket,
        user: Annotated[CognitoClaims, Depends(starlette_adapter.cognito_user)],
    ) -> None:
        await websocket.accept()
        await websocket.send_json({"sub": user.sub})
        await websocket.close()

    return app, guard


@pytest.mark.anyio
async def test_fastapi_hands_the_guard_the_request_credentials_once(
    cognito_verifier: CognitoVerifier, cognito_issuer: LocalIssuer
) -> None:
    app, guard = fastapi_app(cognito_verifier)
    token = cognito_issuer.access_token(scopes=["orders/read"], sub="fastapi-user")
    async with asgi_client(app) as client:
        response = await client.get(
            "/me?page=2", headers={"Authorization": "Bearer " + token, "Cookie": "theme=dark"}
        )
    assert response.status_code == 200
    assert response.json() == {"sub": "fastapi-user", "same": True}
    credentials, built = only_credentials(guard)
    assert list(credentials.authorization) == ["Bearer " + token]
    assert (built.method, built.path, built.scheme) == ("GET", "/me", "http")
    assert built.query == {"page": "2"} and built.cookies == {"theme": "dark"}
    assert not built.websocket


def test_fastapi_websocket_credentials_build_a_handshake_request(
    cognito_verifier: CognitoVerifier, cognito_issuer: LocalIssuer
) -> None:
    app, guard = fastapi_app(cognito_verifier)
    token = cognito_issuer.access_token(sub="socket-user")
    with (
        TestClient(app) as client,
        client.websocket_connect("/feed", headers={"Authorization": "Bearer " + token}) as ws,
    ):
        assert ws.receive_json() == {"sub": "socket-user"}
    credentials, built = only_credentials(guard)
    assert list(credentials.authorization) == ["Bearer " + token]
    assert built.path == "/feed" and built.websocket
