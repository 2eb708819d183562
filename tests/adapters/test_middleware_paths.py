"""The path the WSGI and ASGI middlewares judge is the path the application routes.

Through real servers on 127.0.0.1 (uvicorn for ASGI), with requests written
by ``http.client``, which sends the request target as given: an HTTP client library would resolve
``..`` or re-encode ``%2e`` before the server saw them.

- Below a mount point (a Starlette ``Mount``, uvicorn's ``root_path``) the rules match the path
  below it, as the application's router does.
"""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route

from cognito_guard import CognitoVerifier
from cognito_guard.bearer import Requirement
from cognito_guard.integrations.asgi import CognitoASGIMiddleware
from cognito_guard.testing import LocalIssuer


@contextmanager
def uvicorn_server(app: Any, **options: Any) -> Iterator[int]:
    """Serve ``app`` with uvicorn on 127.0.0.1 (a free port) in a thread; yield the port."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port: int = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, lifespan="off", log_level="warning", **options))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        for _ in range(1000):
            if server.started or not thread.is_alive():
                break
            time.sleep(0.01)
        assert server.started, "uvicorn did not start"
        yield port
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
    assert not thread.is_alive(), "uvicorn did not stop"


def get(port: int, target: str, token: str | None = None) -> tuple[int, dict[str, str], bytes]:
    """GET ``target`` exactly as written (no client resolves dot segments or re-encodes)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        headers = {} if token is None else {"Authorization": f"Bearer {token}"}
        connection.request("GET", target, headers=headers)
        response = connection.getresponse()
        body = response.read()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, body
    finally:
        connection.close()


# -- the path below the mount point (ASGI) ------------------------------------------------------


async def whoami(request: Request) -> JSONResponse:
    claims = request.scope["cognito_guard.claims"]
    return JSONResponse({"path": request.url.path, "user": claims.sub if claims else None})


def inner_app(verifier: CognitoVerifier) -> CognitoASGIMiddleware:
    """An API whose only rule protects /admin: below a prefix, nothing else guards it."""
    api = Starlette(routes=[Route("/admin/users", whoami), Route("/status", whoami)])
    return CognitoASGIMiddleware(api, verifier, protect={"/admin": Requirement()})


def check_admin_is_protected(port: int, admin: str, status: str, issuer: LocalIssuer) -> None:
    code, headers, body = get(port, admin)
    assert code == 401, body
    assert headers["www-authenticate"] == "Bearer"
    code, _, body = get(port, admin, issuer.access_token(sub="admin-1"))
    assert code == 200, body
    assert json.loads(body)["user"] == "admin-1"
    code, _, body = get(port, status)  # the API's public path stays public
    assert (code, json.loads(body)["user"]) == (200, None)


def test_rules_match_below_a_starlette_mount(
    cognito_verifier: CognitoVerifier, cognito_issuer: LocalIssuer
) -> None:
    app = Starlette(routes=[Mount("/api", app=inner_app(cognito_verifier))])
    with uvicorn_server(app) as port:
        check_admin_is_protected(port, "/api/admin/users", "/api/status", cognito_issuer)


def test_rules_match_below_uvicorn_root_path(
    cognito_verifier: CognitoVerifier, cognito_issuer: LocalIssuer
) -> None:
    # A proxy serving the API at /api strips the prefix; uvicorn puts it back in scope["path"]
    # and says so in scope["root_path"].
    with uvicorn_server(inner_app(cognito_verifier), root_path="/api") as port:
        check_admin_is_protected(port, "/admin/users", "/status", cognito_issuer)
