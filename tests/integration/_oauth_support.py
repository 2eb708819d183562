"""Shared helpers of the token-client tests: a protected API on loopback, a sync/async caller,
and a transport that loses Cognito's answer after Cognito acted on the request."""

from __future__ import annotations

import functools
import threading
from typing import Any

import anyio
import httpx

from cognito_guard.client import CognitoTokenClient
from cognito_guard.errors import TokenError
from cognito_guard.testing import LocalIssuer, LoopbackServer, Request, Response

SECRET = "s3cret-client-secret-value"


class ProtectedAPI(LoopbackServer):
    """``GET /orders`` protected by the issuer's access tokens; records the tokens it saw.

    ``rejected`` tokens get a 401 even though they verify (as after a server-side revocation);
    ``always_401`` rejects everything.
    """

    def __init__(self, issuer: LocalIssuer) -> None:
        super().__init__({"/orders": self._orders})
        self.verifier = issuer.verifier(token_cache_size=0)
        self.rejected: set[str] = set()
        self.always_401 = False
        self.seen: list[str] = []
        self._seen_lock = threading.Lock()

    def start(self) -> ProtectedAPI:
        super().start()
        # socketserver listens with a backlog of 5; 200 clients connecting at once overflow it
        # and see resets. Listening again on Linux only raises the backlog.
        assert self._httpd is not None
        self._httpd.socket.listen(1024)
        return self

    def __enter__(self) -> ProtectedAPI:
        return self.start()

    @property
    def orders_url(self) -> str:
        return self.url + "/orders"

    def _orders(self, request: Request) -> Response:
        header = next((v for k, v in request.headers.items() if k.lower() == "authorization"), "")
        token = header[7:] if header.startswith("Bearer ") else ""
        with self._seen_lock:
            self.seen.append(token)
        challenge = {"WWW-Authenticate": 'Bearer error="invalid_token"'}
        if self.always_401 or token in self.rejected:
            return Response.json({"message": "rejected"}, 401, challenge)
        try:
            claims = self.verifier.verify(token)
        except TokenError:
            return Response.json({"message": "invalid"}, 401, challenge)
        body: dict[str, Any] = {"sub": claims.sub, "body": request.body.decode()}
        return Response.json(body)


def call(mode: str, client: CognitoTokenClient, method: str, *args: Any, **kwargs: Any) -> Any:
    """Run ``client.method`` (sync) or ``client.amethod`` on an event loop (async)."""
    if mode == "sync":
        return getattr(client, method)(*args, **kwargs)
    return anyio.run(functools.partial(getattr(client, "a" + method), *args, **kwargs))


def send(
    mode: str, auth: httpx.Auth, url: str, method: str = "GET", content: bytes | None = None
) -> httpx.Response:
    """One request through ``auth`` with httpx.Client (sync) or httpx.AsyncClient (async)."""
    if mode == "sync":
        with httpx.Client(auth=auth) as http:
            return http.request(method, url, content=content)

    async def go() -> httpx.Response:
        async with httpx.AsyncClient(auth=auth) as http:
            return await http.request(method, url, content=content)

    return anyio.run(go)


class LoseTheAnswer(httpx.BaseTransport, httpx.AsyncBaseTransport):
    """Fails the next ``times`` requests with ``error``, the way a network does.

    With ``after_sending`` (a timeout or a reset while the answer is on its way), each request
    really reaches the server, which acts on it (and so rotates a refresh token), and its
    answer is then thrown away; without it the request fails before anything is sent. Later
    requests pass through. ``attempts`` counts every request seen.
    """

    def __init__(
        self,
        times: int = 1,
        error: type[httpx.TransportError] = httpx.ReadTimeout,
        *,
        after_sending: bool = True,
    ) -> None:
        self.left = times
        self.error = error
        self.after_sending = after_sending
        self.attempts = 0
        self._lock = threading.Lock()

    def _fail_this_one(self) -> bool:
        with self._lock:
            self.attempts += 1
            failing = self.left > 0
            self.left -= 1 if failing else 0
            return failing

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        failing = self._fail_this_one()
        if failing and not self.after_sending:
            raise self.error("failed before sending", request=request)
        with httpx.HTTPTransport() as real:
            answer = real.handle_request(request)
            body = answer.read()
        if failing:
            raise self.error("the answer was lost", request=request)
        return httpx.Response(answer.status_code, headers=answer.headers, content=body)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        failing = self._fail_this_one()
        if failing and not self.after_sending:
            raise self.error("failed before sending", request=request)
        async with httpx.AsyncHTTPTransport() as real:
            answer = await real.handle_async_request(request)
            body = await answer.aread()
        if failing:
            raise self.error("the answer was lost", request=request)
        return httpx.Response(answer.status_code, headers=answer.headers, content=body)
