"""The Flask extension: :class:`CognitoGuard` builds an app's guard at start-up, from its config."""

from __future__ import annotations

import logging
import weakref
from collections.abc import Callable
from typing import Any

from flask import Flask, Response

from ...bearer import BearerGuard
from ...config import SETTING_NAMES, check_setting_names, verifier_from_env, verifier_from_settings
from ...errors import ConfigurationError
from ...revocation import RevocationWrites
from ...sessions.signin import WebSignIn, guard_for
from ...sessions.web import WebResponse
from ...verifier import CognitoVerifier
from .._resource import ServedMetadata, marked_scopes
from ._compat import app_object, request_object
from .sessions import install, to_response

__all__ = ["EXTENSION_KEY", "CognitoGuard", "bearer_guard"]

EXTENSION_KEY = "cognito_guard"
"""The key of ``app.extensions`` holding the app's :class:`~cognito_guard.bearer.BearerGuard`."""

_DEMANDS = ("COGNITO_SCOPES", "COGNITO_GROUPS")
RESOURCE_KEY = "COGNITO_RESOURCE"
"""The ``app.config`` key read as ``resource=`` when the extension is given none."""

log = logging.getLogger("cognito_guard")

# The functions the require_* decorators wrapped. One of them registered as a view itself means
# the decorator was written above @app.route: the route would serve the unprotected function.
_GUARDED: weakref.WeakSet[Callable[..., Any]] = weakref.WeakSet()
# The apps set up by CognitoGuard, so a decorator can tell at once that it wraps a registered view.
_APPS: weakref.WeakSet[Flask] = weakref.WeakSet()


class CognitoGuard:
    """The Flask extension: builds the verifier of an app at start-up.

    Example::

        guard = CognitoGuard(app)                                  # settings from app.config
        guard = CognitoGuard(app, verifier=CognitoVerifier(...))   # or a verifier of your own
        guard = CognitoGuard(); guard.init_app(app)                # application factories

    Args:
        app: the application to set up now; omit it and call :meth:`init_app` later.
        verifier: use this verifier instead of building one from the settings.
        realm: the ``realm`` of the ``WWW-Authenticate`` challenges.
        sign_in: a :class:`~cognito_guard.sessions.WebSignIn`: mounts its routes and lets the
            decorators accept its session cookie as well as bearer tokens.
        resource: the API's resource identifier (RFC 8707), one of the verifier's audiences:
            serves its RFC 9728 metadata at ``/.well-known/oauth-protected-resource`` (with the
            resource's path after it) and names that URL in every challenge. Without it,
            ``app.config["COGNITO_RESOURCE"]`` is read.
    """

    def __init__(
        self,
        app: Flask | None = None,
        *,
        verifier: CognitoVerifier | None = None,
        realm: str | None = None,
        sign_in: WebSignIn | None = None,
        resource: str | None = None,
    ) -> None:
        self._verifier = verifier
        self.realm = realm
        self.sign_in = sign_in
        self.resource = resource
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> None:
        """Build (or take) the verifier and register it in ``app.extensions["cognito_guard"]``.

        Raises :class:`~cognito_guard.ConfigurationError` when the settings are missing or wrong
        (a misspelt ``COGNITO_*`` name included), when the app was set up already, or when a view
        is registered undecorated although a ``require_*`` decorator wrapped it (the decorator
        was written above ``@app.route``). Views registered later are checked at the first
        request, which is refused while one of them is in that state.
        """
        if EXTENSION_KEY in app.extensions:
            raise ConfigurationError(
                "CognitoGuard is already set up on this app: call CognitoGuard(app) or "
                "init_app(app) once (a second call would silently replace the first verifier)"
            )
        check_setting_names(app.config, prefix="COGNITO_", source="app.config")
        if self._verifier is not None:
            ignored = [n for n in _DEMANDS if app.config.get(n) not in (None, "", (), [])]
            if ignored:
                # They would silently not apply: the routes would demand less than written.
                raise ConfigurationError(
                    f"app.config sets {ignored}, which CognitoGuard(verifier=...) does not apply "
                    "to the verifier given: pass scopes=/groups= to that CognitoVerifier, or "
                    "drop verifier= to build it from app.config"
                )
        verifier = self._verifier if self._verifier is not None else self._from_settings(app)
        # The app's own setting when the extension was given none (factories share one).
        resource = self.resource if self.resource is not None else app.config.get(RESOURCE_KEY)
        guard = guard_for(verifier, self.sign_in, realm=self.realm, resource=resource or None)
        if self.sign_in is not None:
            install(app, self.sign_in)
        _check_views(app)
        _serve_metadata(app, guard)
        app.extensions[EXTENSION_KEY] = guard
        _APPS.add(app)
        checked: list[bool] = []

        def check_views_once() -> None:
            # Routes cannot be added after the first request (Flask refuses), so one scan that
            # passed covers the app for good; one that failed refuses every request.
            if not checked:
                _check_views(app)
                checked.append(True)

        app.before_request(check_views_once)

    @staticmethod
    def _from_settings(app: Flask) -> CognitoVerifier:
        # Half a configuration in app.config must fail loudly, not be replaced by the environment.
        if any(app.config.get("COGNITO_" + name) not in (None, "") for name in SETTING_NAMES):
            return verifier_from_settings(app.config, prefix="COGNITO_", source="app.config")
        return verifier_from_env()

    @staticmethod
    def revocations(app: Flask | None = None) -> RevocationWrites:
        """The revocation list of ``app``'s verifier (default: the current app), the one
        ``COGNITO_REVOCATIONS_URL`` built: pass it to ``sign_out``/``global_sign_out``.

        Raises :class:`~cognito_guard.ConfigurationError` when the verifier has none.

        Example: ``client.sign_out(tokens, revocations=CognitoGuard.revocations())``
        """
        return bearer_guard(app).revocations

    @staticmethod
    def verifier(app: Flask | None = None) -> CognitoVerifier:
        """The verifier of ``app`` (default: the current app)."""
        return bearer_guard(app).verifier


def _serve_metadata(app: Flask, guard: BearerGuard) -> None:
    """Route the resource's metadata path (RFC 9728) to its document, with no decorator: public.

    ``scopes_supported`` adds the scopes of the decorated views to the verifier's, read at the
    first request for it (Flask takes no new route after the first request).
    """
    if guard.resource is None:
        return
    metadata = ServedMetadata(
        guard.resource,
        lambda: [scope for view in app.view_functions.values() for scope in marked_scopes(view)],
    )

    def resource_metadata() -> Response:
        answer = metadata.response(request_object().method)
        return to_response(WebResponse(answer.status, answer.headers, answer.body))

    app.add_url_rule(
        metadata.path,
        endpoint="cognito_guard_resource_metadata",
        view_func=resource_metadata,
        methods=["GET", "HEAD", "OPTIONS"],
        provide_automatic_options=False,
    )


def _check_views(app: Flask) -> None:
    wrong = sorted(endpoint for endpoint, view in app.view_functions.items() if _was_guarded(view))
    if wrong:
        message = (
            f"view(s) {wrong} are registered unprotected: a require_* decorator was written "
            "above @app.route (or @bp.route), so the route serves the undecorated function. "
            "Put @app.route(...) first (outermost) and the require_* decorator below it"
        )
        log.error("%s", message)
        raise ConfigurationError(message)


def _was_guarded(view: Callable[..., Any]) -> bool:
    try:
        return view in _GUARDED
    except TypeError:  # not weak-referenceable, so never added
        return False


def bearer_guard(app: Flask | None = None) -> BearerGuard:
    """The guard :class:`CognitoGuard` set up on ``app`` (default: the current app).

    Raises :class:`~cognito_guard.ConfigurationError` when the app has none.

    Example: ``bearer_guard(app).verifier``
    """
    guard = (app if app is not None else app_object()).extensions.get(EXTENSION_KEY)
    if not isinstance(guard, BearerGuard):
        raise ConfigurationError("call CognitoGuard(app) or init_app(app) first")
    return guard
