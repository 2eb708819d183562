"""The set-up of an application: :class:`CognitoGuard` puts the guard on ``app.state``, mounts
web sign-in's routes, registers the answer handler and the start-up route checks."""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.middleware.authentication import AuthenticationMiddleware

from ...bearer import BearerGuard
from ...config import verifier_from_env
from ...errors import ConfigurationError
from ...revocation import RevocationWrites
from ...sessions.signin import WebSignIn, guard_for
from ...verifier import CognitoVerifier
from .._resource import ServedMetadata
from ..asgi import MetadataMiddleware
from .auth import STATE_ATTR
from .backend import CognitoAuthBackend, on_auth_error
from .openapi import document_in_openapi
from .responses import CognitoHTTPException, cognito_exception_handler
from .routes import check_routes_when_built, route_scopes
from .sessions import install

if TYPE_CHECKING:
    from starlette.applications import Starlette

__all__ = ["CognitoGuard"]


class CognitoGuard:
    """Protects a Starlette or FastAPI application with Amazon Cognito tokens.

    Stores the :class:`~cognito_guard.bearer.BearerGuard` on ``app.state`` for the dependencies
    and registers :func:`cognito_exception_handler`. ``verifier`` defaults to
    :func:`~cognito_guard.config.verifier_from_env`, so configuration errors surface here, at
    start-up. ``authentication=True`` also installs ``AuthenticationMiddleware`` with
    :class:`CognitoAuthBackend` (``request.user``, Starlette's ``@requires``). ``sign_in=`` (a
    :class:`~cognito_guard.sessions.WebSignIn`) mounts its routes and lets the dependencies and
    :func:`requires` accept its session cookie as well as bearer tokens. ``resource=`` (the API's
    resource identifier, one of the verifier's audiences) serves its RFC 9728 metadata at
    ``/.well-known/oauth-protected-resource`` (the resource's path after it), ahead of every route
    and middleware, and names that URL in every challenge.

    Example::

        app = Starlette(routes=routes)
        CognitoGuard(app, verifier=CognitoVerifier(user_pool_id=..., client_id=...),
                     authentication=True)
    """

    def __init__(
        self,
        app: Starlette,
        verifier: CognitoVerifier | None = None,
        *,
        realm: str | None = None,
        authentication: bool = False,
        sign_in: WebSignIn | None = None,
        resource: str | None = None,
    ) -> None:
        if isinstance(getattr(app.state, STATE_ATTR, None), BearerGuard):
            raise ConfigurationError(
                "CognitoGuard is already set up on this application: call CognitoGuard(app) "
                "once (a second call would replace the first verifier)"
            )
        self.verifier = verifier if verifier is not None else verifier_from_env()
        self.guard = guard_for(self.verifier, sign_in, realm=realm, resource=resource)
        if sign_in is not None:
            install(app, sign_in)
        setattr(app.state, STATE_ATTR, self.guard)
        app.add_exception_handler(CognitoHTTPException, cognito_exception_handler)
        if authentication:
            backend = CognitoAuthBackend(self.verifier, realm=realm)
            backend.guard = self.guard  # the app's guard: with sign_in=, the cookie counts too
            app.add_middleware(
                AuthenticationMiddleware,
                backend=backend,
                on_error=on_auth_error,
            )
        if self.guard.resource is not None:
            # Added last, so outermost: before the authentication middleware and the routes.
            metadata = ServedMetadata(self.guard.resource, lambda: route_scopes(app))
            app.add_middleware(MetadataMiddleware, metadata=metadata)
        check_routes_when_built(app)
        if callable(getattr(app, "openapi", None)) and hasattr(app, "openapi_schema"):
            document_in_openapi(app)

    @property
    def revocations(self) -> RevocationWrites:
        """The verifier's revocation list (the one ``COGNITO_REVOCATIONS_URL`` built): pass it to
        ``sign_out``/``global_sign_out``. In a route it is
        ``request.app.state.cognito_guard.revocations`` too.

        Raises :class:`~cognito_guard.ConfigurationError` when the verifier has none.

        Example: ``await client.asign_out(tokens, revocations=guard.revocations)``
        """
        return self.guard.revocations
