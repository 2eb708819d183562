"""The werkzeug HTTP exceptions a rejected request is answered with (the shared RFC 6750 answer)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from werkzeug.exceptions import (
    BadRequest,
    Forbidden,
    HTTPException,
    InternalServerError,
    ServiceUnavailable,
    Unauthorized,
)

from ...bearer import Answer, BearerGuard
from ...errors import CognitoGuardError
from ._compat import request_object

__all__ = [
    "CognitoBadRequest",
    "CognitoForbidden",
    "CognitoHTTPException",
    "CognitoServerError",
    "CognitoUnauthorized",
    "CognitoUnavailable",
]


class CognitoHTTPException(HTTPException):
    """Base of the werkzeug exceptions this integration raises.

    ``answer`` is the shared :class:`~cognito_guard.bearer.Answer` and ``error`` the
    :class:`~cognito_guard.CognitoGuardError` behind it. The response is the JSON answer with its
    headers; an error handler can build its own from them::

        @app.errorhandler(401)
        def unauthorized(exc):
            if isinstance(exc, CognitoHTTPException):
                return {"message": exc.answer.description}, 401, exc.answer.headers
            return exc
    """

    def __init__(self, answer: Answer, error: CognitoGuardError) -> None:
        super().__init__(description=answer.description)
        self.answer = answer
        self.error = error

    def get_headers(
        self,
        environ: Any = None,
        scope: dict[str, Any] | None = None,
    ) -> list[tuple[str, str]]:
        """``Content-Type: application/json`` and the answer's headers."""
        return [("Content-Type", "application/json"), *self.answer.headers]

    def get_body(
        self,
        environ: Any = None,
        scope: dict[str, Any] | None = None,
    ) -> str:
        """The JSON body ``{"error": ..., "error_description": ...}``."""
        return self.answer.json().decode()


class CognitoBadRequest(CognitoHTTPException, BadRequest):
    """400 ``invalid_request``: a malformed ``Authorization`` header."""


class CognitoUnauthorized(CognitoHTTPException, Unauthorized):
    """401: no bearer token on a protected view, or an invalid one (``invalid_token``)."""


class CognitoForbidden(CognitoHTTPException, Forbidden):
    """403 ``insufficient_scope``: a missing scope or group."""


class CognitoUnavailable(CognitoHTTPException, ServiceUnavailable):
    """503 with ``Retry-After``: the signing keys cannot be fetched."""


class CognitoServerError(CognitoHTTPException, InternalServerError):
    """500: an unexpected :class:`~cognito_guard.CognitoGuardError` (never a token's fault)."""


_BY_STATUS: Mapping[int, type[CognitoHTTPException]] = {
    400: CognitoBadRequest,
    401: CognitoUnauthorized,
    403: CognitoForbidden,
    503: CognitoUnavailable,
}


def http_exception(guard: BearerGuard, error: CognitoGuardError) -> CognitoHTTPException:
    """The exception answering ``error`` on the current request (logged once, by ``guard``).

    Example: ``raise http_exception(guard, MissingTokenError("no bearer token"))``
    """
    current = request_object()
    answer = guard.answer(error, method=current.method, path=current.path)
    return _BY_STATUS.get(answer.status, CognitoServerError)(answer, error)
