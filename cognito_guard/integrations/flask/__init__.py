"""Flask integration: protect views with Cognito bearer tokens.

Example::

    from flask import Flask
    from cognito_guard.integrations.flask import (
        CognitoGuard, current_cognito_user, require_auth, require_group, require_scope,
    )

    app = Flask(__name__)
    app.config.update(COGNITO_USER_POOL_ID="eu-west-1_AbCdEf123", COGNITO_CLIENT_ID="4a1b...")
    CognitoGuard(app)            # or: guard = CognitoGuard(); guard.init_app(app)

    @app.get("/orders")
    @require_scope("orders/read")
    def orders():
        return {"user": current_cognito_user.sub}

Configuration is read once, in :meth:`CognitoGuard.init_app`: from ``app.config``
(``COGNITO_USER_POOL_ID``, ``COGNITO_CLIENT_ID``, ``COGNITO_TOKEN_USE``, ``COGNITO_JWKS_URI``
and the other names of :mod:`cognito_guard.config`) when it holds any ``COGNITO_*`` setting,
otherwise from the same names in the environment. Bad or missing settings raise
:class:`~cognito_guard.ConfigurationError` there, at start-up, and so does a ``COGNITO_*`` name
close to one of ours (``COGNITO_SCOPE``: "did you mean 'COGNITO_SCOPES'?").

A decorator written above ``@app.route`` would leave the route serving the unprotected function:
it is refused at decoration (when the app is set up already), in ``init_app``, or at the first
request, which is then refused with every later one.

Authentication happens on demand, not in a ``before_request`` hook: the decorators verify the
token of the request (once; the outcome is kept on :data:`flask.g`), so unprotected views pay
nothing and a bad token sent to an unprotected view is not an error there. Reading
:data:`current_cognito_user` authenticates lazily too. Async views verify with
:meth:`~cognito_guard.CognitoVerifier.averify`, so they never block their event loop.

Rejections are raised as :class:`werkzeug.exceptions.HTTPException` subclasses
(:class:`CognitoUnauthorized`, :class:`CognitoForbidden`, :class:`CognitoBadRequest`,
:class:`CognitoUnavailable`) whose response is the shared RFC 6750 answer: the status, the
``WWW-Authenticate`` / ``Retry-After`` headers and a ``{"error", "error_description"}`` JSON body.
An application's ``@app.errorhandler(401)`` receives them and may reshape the answer.

The package: :mod:`.setup` (the extension, its configuration), :mod:`.auth` (the decorators and
the current user), :mod:`.responses` (the HTTP exceptions), :mod:`.sessions` (web sign-in's
routes) and :mod:`._compat` (every reach into Flask and werkzeug internals).
"""

from __future__ import annotations

from . import auth, responses
from .auth import *  # noqa: F403 - exactly the names of auth.__all__
from .responses import *  # noqa: F403 - exactly the names of responses.__all__
from .setup import EXTENSION_KEY as EXTENSION_KEY  # the key of app.extensions
from .setup import CognitoGuard

__all__ = ["CognitoGuard"]
__all__ += auth.__all__
__all__ += responses.__all__
