"""The answers of rejected requests: an ``HTTPException`` carrying the RFC 6750 answer, its
handler, and the close codes of rejected WebSocket handshakes."""

from __future__ import annotations

from starlette.exceptions import HTTPException, WebSocketException
from starlette.requests import HTTPConnection, Request
from starlette.responses import Response
from starlette.status import WS_1008_POLICY_VIOLATION, WS_1013_TRY_AGAIN_LATER

from ...bearer import Answer, BearerGuard
from ...errors import CognitoGuardError

__all__ = ["CognitoHTTPException", "answer_response", "cognito_exception_handler"]


class CognitoHTTPException(HTTPException):
    """A rejected request: an ``HTTPException`` carrying the :class:`Answer` to send.

    ``status_code``, ``headers`` and ``detail`` come from the answer, so even a generic
    ``HTTPException`` handler sends the right status and challenge. ``error`` is the rejection.

    Example (reshape every rejection)::

        @app.exception_handler(CognitoHTTPException)
        async def problem(request, exc):
            return JSONResponse({"title": exc.answer.description}, exc.status_code,
                                dict(exc.answer.headers))
    """

    def __init__(self, answer: Answer, error: CognitoGuardError | None = None) -> None:
        super().__init__(answer.status, answer.description, dict(answer.headers))
        self.answer = answer
        self.error = error


def answer_response(answer: Answer) -> Response:
    """A Starlette response for an :class:`Answer`: its status, headers and JSON body.

    Example: ``return answer_response(guard.answer(exc))``
    """
    return Response(
        answer.json(),
        status_code=answer.status,
        headers=dict(answer.headers),
        media_type="application/json",
    )


async def cognito_exception_handler(request: Request, exc: Exception) -> Response:
    """The exception handler :class:`CognitoGuard` registers for :class:`CognitoHTTPException`.

    Example: ``app.add_exception_handler(CognitoHTTPException, cognito_exception_handler)``
    """
    if not isinstance(exc, CognitoHTTPException):
        raise exc
    return answer_response(exc.answer)


def answer_of(conn: HTTPConnection, guard: BearerGuard, exc: CognitoGuardError) -> Answer:
    """``guard``'s answer to ``exc`` on ``conn`` (logged with the method, or ``WEBSOCKET``)."""
    scope = conn.scope
    method = "WEBSOCKET" if scope["type"] == "websocket" else scope.get("method")
    return guard.answer(exc, method=method, path=scope.get("path"))


def rejection(conn: HTTPConnection, guard: BearerGuard, exc: CognitoGuardError) -> Exception:
    """What to raise for ``exc``: a :class:`CognitoHTTPException`, or for a WebSocket handshake a
    ``WebSocketException`` closing it with 1008 (1013 when the service is unavailable)."""
    answer = answer_of(conn, guard, exc)
    if conn.scope["type"] == "websocket":
        code = WS_1013_TRY_AGAIN_LATER if answer.status == 503 else WS_1008_POLICY_VIOLATION
        return WebSocketException(code, reason=answer.error)
    return CognitoHTTPException(answer, exc)
