"""Real HTTP servers on loopback for tests: a small routed server and the JWKS endpoint."""

from __future__ import annotations

import json
import socket
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from ._service import Service
from ._tokens import TokenIssuer

__all__ = ["JWKSServer", "LoopbackServer", "Request", "Response"]

_LOOPBACK = ("127.0.0.1", "::1", "localhost")


@dataclass
class Request:
    """One request as a route sees it."""

    method: str
    path: str
    query: str
    headers: Mapping[str, str]
    body: bytes

    def header(self, name: str) -> str:
        """The value of header ``name`` (any case), or "" when absent."""
        wanted = name.lower()
        return next((v for k, v in self.headers.items() if k.lower() == wanted), "")


@dataclass
class Response:
    """What a route answers."""

    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(
        cls, value: Any, status: int = 200, headers: Mapping[str, str] | None = None
    ) -> Response:
        """A JSON response."""
        return cls(
            status,
            json.dumps(value).encode(),
            {"Content-Type": "application/json", **(headers or {})},
        )


Route = Callable[[Request], Response]


class _Server(ThreadingHTTPServer):
    # A burst of concurrent clients (single-flight tests send hundreds) must not overflow the
    # listen backlog, whose default of 5 drops connections.
    request_queue_size = 1024
    allow_reuse_address = True
    daemon_threads = True

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler]) -> None:
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        super().__init__(address, handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that stopped waiting (a time-out, a request given up after max_wait) is a
        # case the tests create on purpose, not a server fault worth a traceback.
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


class LoopbackServer(Service):
    """A threaded HTTP/1.1 server on a loopback address, routing by exact path.

    Refuses to bind anything but loopback: test servers must never be reachable from outside.

    Example::

        server = LoopbackServer({"/ping": lambda req: Response(200, b"pong")})
        with server:
            httpx.get(server.url + "/ping")

    ``fallback`` answers paths no route matches (default 404); ``requests`` counts per path.
    """

    def __init__(
        self,
        routes: Mapping[str, Route] | None = None,
        *,
        fallback: Route | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        if host not in _LOOPBACK:
            raise ValueError(f"test servers bind loopback only, not {host!r}")
        self.routes: dict[str, Route] = dict(routes or {})
        self.fallback = fallback or (lambda _req: Response.json({"error": "not_found"}, 404))
        self.requests: dict[str, int] = {}
        self._count_lock = threading.Lock()
        self._host = host
        self._port = port
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT`` of the running server."""
        if self._httpd is None:
            raise RuntimeError("the server is not running")
        host, port = self._httpd.server_address[:2]
        text = host.decode() if isinstance(host, bytes) else host
        return f"http://[{text}]:{port}" if ":" in text else f"http://{text}:{port}"

    def request_count(self, path: str | None = None) -> int:
        """Requests received for ``path``, or in all."""
        with self._count_lock:
            return self.requests.get(path, 0) if path else sum(self.requests.values())

    def handle(self, request: Request) -> Response:
        """Route one request (runs on a server thread)."""
        with self._count_lock:
            self.requests[request.path] = self.requests.get(request.path, 0) + 1
        route = self.routes.get(request.path, self.fallback)
        return route(request)

    def start(self) -> LoopbackServer:
        """Start serving on a background thread."""
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                request = Request(
                    self.command, parts.path, parts.query, dict(self.headers.items()), body
                )
                response = server.handle(request)
                self.send_response(response.status)
                for name, value in response.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(response.body)))
                self.end_headers()
                self.wfile.write(response.body)

            do_GET = do_POST = do_PUT = do_DELETE = _serve

            def log_message(self, format: str, *args: Any) -> None:
                pass  # keep test output clean; requests are counted instead

        self._httpd = _Server((self._host, self._port), Handler)
        # A short poll interval makes stop() quick: tests start and stop many servers.
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and free the port."""
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None


class JWKSServer(LoopbackServer):
    """Serves a :class:`LocalIssuer`'s live JWKS at ``/.well-known/jwks.json`` below any path.

    It takes the issuer's keys and tokens (a ``TokenIssuer``, which every LocalIssuer is), so
    that the issuer needs no knowledge of its servers.

    Faults can be injected to test outages: ``status`` (answer with this HTTP status), ``delay``
    (seconds to wait before answering) and ``body`` (answer with these bytes instead of the JWKS).

    Example::

        with issuer.serve() as server:
            verifier = issuer.verifier(jwks_uri=server.jwks_uri)
            server.status = 500            # the endpoint fails from now on
            server.request_count()         # how many JWKS requests arrived
    """

    def __init__(self, issuer: TokenIssuer, *, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__(fallback=self._jwks, host=host, port=port)
        self.issuer = issuer
        self.status = 200
        self.delay = 0.0
        self.body: bytes | None = None

    @property
    def jwks_uri(self) -> str:
        """The JWKS URL of the issuer's pool on this server."""
        return f"{self.url}/{self.issuer.user_pool_id}/.well-known/jwks.json"

    def issuer_url(self, name: str | None = None) -> str:
        """An issuer URL on this server (``{url}/{name}``) whose JWKS this server serves."""
        return f"{self.url}/{name or self.issuer.user_pool_id}"

    def _jwks(self, request: Request) -> Response:
        if self.delay:
            time.sleep(self.delay)
        if not request.path.endswith("/.well-known/jwks.json"):
            return Response.json({"error": "not_found"}, 404)
        if self.status != 200:
            return Response.json({"message": "injected failure"}, self.status)
        if self.body is not None:
            return Response(200, self.body, {"Content-Type": "application/json"})
        return Response.json(self.issuer.jwks)
