"""The path the WSGI and ASGI middlewares judge is the path the application routes.

Through real servers on 127.0.0.1 (uvicorn for ASGI, waitress for WSGI), with requests written
by ``http.client``, which sends the request target as given: an HTTP client library would resolve
``..`` or re-encode ``%2e`` before the server saw them.

- Below a mount point (a Starlette ``Mount``, uvicorn's ``root_path``) the rules match the path
  below it, as the application's router does.
- A path with ``.``, ``..`` or empty segments, percent-encoded or not, is refused with 400
  ``invalid_request`` and never reaches the application: normalised for the rules, it would be
  routed raw by the application (``/admin/../public`` goes to what is mounted at ``/admin``).
"""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from werkzeug.middleware.dispatcher import DispatcherMiddleware

from cognito_guard import CognitoVerifier
from cognito_guard.bearer import Requirement
from cognito_guard.integrations.asgi import CognitoASGIMiddleware
from cognito_guard.integrations.wsgi import CognitoWSGIMiddleware
from cognito_guard.testing import LocalIssuer

from ._uvicorn import uvicorn_thread
from .test_flask_server import waitress

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

SECRET = "the admin secret"


@contextmanager
def uvicorn_server(app: Any, **options: Any) -> Iterator[int]:
    """Serve ``app`` with uvicorn on 127.0.0.1 (a free port) in a thread; yield the port."""
    with uvicorn_thread(app, **options) as url:
        yield int(url.rsplit(":", 1)[1])


@contextmanager
def waitress_server(app: Any) -> Iterator[int]:
    """Serve a WSGI ``app`` with waitress on 127.0.0.1 (a free port); yield the port."""
    with waitress(app, threads=2) as url:
        yield int(url.rsplit(":", 1)[1])


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


def assert_invalid_request(status: int, headers: dict[str, str], body: bytes) -> None:
    assert status == 400, body
    assert json.loads(body) == {
        "error": "invalid_request",
        "error_description": (
            "The request path must be absolute, without '.', '..' or empty segments"
        ),
    }
    assert 'error="invalid_request"' in headers["www-authenticate"]
    assert headers["cache-control"] == "no-store"


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


# -- dot and empty segments ---------------------------------------------------------------------

# Each is refused by both servers' middleware. What the servers hand over (checked by hand):
# uvicorn and waitress both percent-decode the path, %2e and %2f included, so
# "/admin%2f..%2fpublic" arrives as "/admin/../public" (raw_path / REQUEST_URI keep the bytes).
DISGUISED = [
    "/admin/../public",
    "/admin/%2e%2e/public",
    "/admin/%2E./public",
    "/admin/.%2E/public",
    "/admin%2f..%2fpublic",
    "/admin%2F%2E%2E%2Fpublic",
    "/admin/..",
    "/admin/.",
    "/admin/./secret.txt",
    "/admin/x/../secret.txt",
    "/public/../admin/secret.txt",
    "/public/%2e%2e/admin/secret.txt",
    "/%2e%2e/admin/secret.txt",
    "/admin//secret.txt",
    "/admin/%2fsecret.txt",
    "/admin%2f%2fsecret.txt",
    "/admin/secret.txt/..",
    "/admin/%252e%252e/public",  # encoded twice: an application decoding again would see ".."
]


class Recorder:
    """An ASGI or WSGI layer between the middleware and the application: what got through."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.paths: list[str] = []

    async def asgi(self, scope: Any, receive: Any, send: Any) -> None:
        self.paths.append(scope["path"])
        await self.app(scope, receive, send)

    def wsgi(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        self.paths.append(environ["PATH_INFO"])
        return self.app(environ, start_response)  # type: ignore[no-any-return]


@pytest.fixture
def admin_files(tmp_path: Path) -> Path:
    """The directory served at /admin: a secret, and a public-looking file next to it."""
    (tmp_path / "secret.txt").write_text(SECRET)
    (tmp_path / "public").write_text(SECRET)
    (tmp_path / "x").mkdir()
    return tmp_path


@pytest.fixture
def static_site(
    admin_files: Path, cognito_verifier: CognitoVerifier
) -> Iterator[tuple[int, Recorder]]:
    """A Starlette app serving files at /admin, guarded by {"/admin": token, "/": public}."""

    async def public(request: Request) -> JSONResponse:
        return JSONResponse({"public": True})

    site = Starlette(
        routes=[Route("/public", public), Mount("/admin", StaticFiles(directory=admin_files))]
    )
    recorder = Recorder(site)
    rules: dict[str, Requirement | None] = {"/admin": Requirement(), "/": None}
    with uvicorn_server(
        CognitoASGIMiddleware(recorder.asgi, cognito_verifier, protect=rules)
    ) as port:
        yield port, recorder


@pytest.mark.parametrize("target", [*DISGUISED, "//admin/secret.txt", "/./admin/secret.txt"])
def test_uvicorn_refuses_dot_and_empty_segments_before_the_app(
    static_site: tuple[int, Recorder], target: str
) -> None:
    port, recorder = static_site
    assert_invalid_request(*get(port, target))
    assert recorder.paths == []


def test_uvicorn_refuses_them_with_a_valid_token_too(
    static_site: tuple[int, Recorder], cognito_issuer: LocalIssuer
) -> None:
    port, recorder = static_site
    assert_invalid_request(*get(port, "/admin/../admin/secret.txt", cognito_issuer.access_token()))
    assert recorder.paths == []


def test_no_dot_segment_trick_serves_an_admin_file_without_a_token(
    static_site: tuple[int, Recorder], cognito_issuer: LocalIssuer
) -> None:
    port, _ = static_site
    tricks = [
        *DISGUISED,
        "//admin/secret.txt",
        "/./admin/secret.txt",
        "/admin/x/../public",
        "/admin/x/%2e%2e/secret.txt",
        "/admin/x%2f%2e%2e%2fsecret.txt",
        "/x/../admin/secret.txt",
        "/admin/x/../../admin/secret.txt",
        "/public/..",
        "/admin/secret.txt",
        "/admin/",
        "/admin",
    ]
    for target in tricks:
        status, _, body = get(port, target)
        assert SECRET.encode() not in body, target
        assert status in (400, 401), (target, status)
    # The trailing slash is no empty segment: /admin/ is judged by the /admin rule.
    assert get(port, "/admin/")[0] == 401
    # The file is there, served to a token.
    status, _, body = get(port, "/admin/secret.txt", cognito_issuer.access_token())
    assert (status, body) == (200, SECRET.encode())
    assert get(port, "/public")[0] == 200


@pytest.mark.parametrize("target", ["/admin/../public", "/admin/%2e%2e/public"])
def test_an_app_mounted_at_admin_is_not_reached_through_dot_segments(
    cognito_verifier: CognitoVerifier, target: str
) -> None:
    # Starlette routes the raw path: "/admin/../public" goes to what is mounted at /admin,
    # while "/public", its normalised form, is public.
    async def page(request: Request) -> JSONResponse:
        return JSONResponse({"secret": SECRET, "page": request.path_params["page"]})

    admin = Starlette(routes=[Route("/{page:path}", page)])
    site = Starlette(routes=[Route("/public", page), Mount("/admin", app=admin)])
    rules: dict[str, Requirement | None] = {"/admin": Requirement(), "/": None}
    with uvicorn_server(CognitoASGIMiddleware(site, cognito_verifier, protect=rules)) as port:
        status, headers, body = get(port, target)
    assert SECRET.encode() not in body
    assert_invalid_request(status, headers, body)


# -- WSGI under waitress --------------------------------------------------------------------------


def admin_app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [SECRET.encode()]


def public_app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"public"]


@pytest.fixture
def dispatched_site(cognito_verifier: CognitoVerifier) -> Iterator[tuple[int, Recorder]]:
    """werkzeug's DispatcherMiddleware mounting an app at /admin: it routes PATH_INFO raw."""
    recorder = Recorder(DispatcherMiddleware(public_app, {"/admin": admin_app}))
    rules: dict[str, Requirement | None] = {"/admin": Requirement(), "/": None}
    with waitress_server(
        CognitoWSGIMiddleware(recorder.wsgi, cognito_verifier, protect=rules)
    ) as port:
        yield port, recorder


@pytest.mark.parametrize("target", [*DISGUISED, "/./admin/x"])
def test_waitress_refuses_dot_and_empty_segments_before_the_app(
    dispatched_site: tuple[int, Recorder], target: str
) -> None:
    port, recorder = dispatched_site
    assert_invalid_request(*get(port, target))
    assert recorder.paths == []


def test_waitress_judges_clean_paths_by_their_rule(
    dispatched_site: tuple[int, Recorder], cognito_issuer: LocalIssuer
) -> None:
    port, recorder = dispatched_site
    assert get(port, "/admin")[0] == 401
    assert get(port, "/admin/")[0] == 401  # a trailing slash is no empty segment
    # waitress collapses leading slashes itself: PATH_INFO is "/admin/x", routed as such.
    assert get(port, "//admin/x")[0] == 401
    assert get(port, "/public")[0] == 200
    status, _, body = get(port, "/admin/x", cognito_issuer.access_token())
    assert (status, body) == (200, SECRET.encode())
    assert recorder.paths == ["/public", "/admin/x"]
