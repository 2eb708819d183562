"""Shared helpers of the token-client tests: a pinned clock and a protected API on loopback."""

from __future__ import annotations

import threading
from typing import Any

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
