"""Plain WSGI middleware: Cognito bearer tokens for any WSGI application.

Example::

    from cognito_guard.bearer import Requirement
    from cognito_guard.integrations.wsgi import CognitoWSGIMiddleware

    application = CognitoWSGIMiddleware(
        application,
        verifier,                               # None: built from the COGNITO_* environment
        protect={
            "/": Requirement(),                 # everything needs a valid token ...
            "/health": None,                    # ... except the health check
            "GET /orders": Requirement.of(scopes="orders/read"),
            "POST /orders": Requirement.of(scopes="orders/write"),
        },
    )

    def orders(environ, start_response):
        claims = environ["cognito_guard.claims"]   # CognitoClaims on a protected path

``protect`` takes :class:`cognito_guard.rules.PathRules`, shared with the ASGI middleware: the
longest matching prefix wins, a rule for the request's method beats a method-less one, ``HEAD``
follows ``GET``, ``None`` is public, and the default ``{"/": Requirement()}`` protects every path.
Rules match ``PATH_INFO``, the path below the mount point. One with ``.``, ``..`` or empty
segments (``/public/../admin``, ``/admin//x``, percent-encoded forms included) is refused with
400 ``invalid_request`` before any rule is chosen: the application would route it differently
from any normalised form the rules could judge.

On a protected path a request that fails gets the shared answer (400, 401, 403 or 503 with its
``WWW-Authenticate`` or ``Retry-After`` header and a small JSON body) and never reaches the
application; one that passes reaches it with ``environ["cognito_guard.claims"]`` set. Public
paths pass through untouched (``environ["cognito_guard.claims"]`` is None there).

With ``resource="https://api.example.com"`` (one of the verifier's audiences) the middleware
answers ``GET /.well-known/oauth-protected-resource`` (RFC 9728; for a resource with a path, the
path follows: ``/.well-known/oauth-protected-resource/orders``) itself, whatever ``protect``
says, and every challenge carries ``resource_metadata="<that URL>"``. The path is matched against
``PATH_INFO``, like the rules.
"""

from __future__ import annotations

from collections.abc import Iterable
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, TypeAlias

from ..errors import CognitoGuardError, InvalidPathError
from ._middleware import CLAIMS_KEY, PathMiddleware, answer_response

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication

__all__ = ["CLAIMS_KEY", "CognitoWSGIMiddleware", "Environ"]

Environ: TypeAlias = "dict[str, Any]"
_WSGIApp: TypeAlias = "WSGIApplication"


class CognitoWSGIMiddleware(PathMiddleware[_WSGIApp]):
    """WSGI middleware that verifies bearer tokens and enforces :class:`Requirement` rules.

    Example::

        app.wsgi_app = CognitoWSGIMiddleware(
            app.wsgi_app, verifier, protect={"/api": Requirement()}
        )

    Args:
        app: the WSGI application to protect.
        verifier: the verifier; None builds one from the ``COGNITO_*`` environment variables now
            (a :class:`~cognito_guard.ConfigurationError` at start-up when they are wrong).
        protect: what is protected (see the module documentation); by default every path needs
            any valid token.
        realm: the ``realm`` of the ``WWW-Authenticate`` challenges.
        resource: the API's resource identifier: serves its RFC 9728 metadata document and
            names it in every challenge (the verifier needs it among its ``audience=``).
    """

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        method = str(environ.get("REQUEST_METHOD", "GET"))
        path = environ.get("PATH_INFO") or "/"
        if path == self.metadata_path:
            return self._metadata(method, start_response)
        try:
            requirement = self.rules.requirement_for(method, path)
        except InvalidPathError as exc:
            return self._answer(exc, method, environ, start_response)
        environ[CLAIMS_KEY] = None
        if requirement is None:
            return self.app(environ, start_response)
        # Bearer-only: the plain header values, no Credentials (there is no cookie to offer).
        header = environ.get("HTTP_AUTHORIZATION")
        try:
            claims = self.guard.authenticate(() if header is None else (header,))
            environ[CLAIMS_KEY] = self.guard.authorize(claims, requirement)
        except CognitoGuardError as exc:
            return self._answer(exc, method, environ, start_response)
        return self.app(environ, start_response)

    def _metadata(self, method: str, start_response: StartResponse) -> list[bytes]:
        assert self.metadata is not None  # noqa: S101 - metadata_path is set only with it
        response = self.metadata.response(method)
        start_response(
            f"{response.status} {HTTPStatus(response.status).phrase}", list(response.headers)
        )
        return [response.body]

    def _answer(
        self, exc: CognitoGuardError, method: str, environ: Environ, start_response: StartResponse
    ) -> list[bytes]:
        path = f"{environ.get('SCRIPT_NAME') or ''}{environ.get('PATH_INFO') or '/'}"
        answer = self.guard.answer(exc, method=method, path=path)
        headers, body = answer_response(answer)
        start_response(f"{answer.status} {HTTPStatus(answer.status).phrase}", headers)
        return [body]
