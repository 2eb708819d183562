"""The reference API of cognito_guard's behaviour matrix, in Flask.

Configured from the environment (``COGNITO_USER_POOL_ID``, ``COGNITO_CLIENT_ID`` and optionally
``COGNITO_TOKEN_USE``, ``COGNITO_JWKS_URI``); a missing setting stops it at start-up.

Run it with waitress on 127.0.0.1::

    COGNITO_USER_POOL_ID=eu-west-1_AbCdEf123 COGNITO_CLIENT_ID=4a1b... python examples/flask_app.py

or serve ``examples.flask_app:app`` with any WSGI server.

With ``COGNITO_SIGN_IN_DOMAIN`` (and the other ``COGNITO_SIGN_IN_*`` variables of
:mod:`cognito_guard.sessions.settings`) it also runs web sign-in: ``/auth/login``, ...,
and a signed-in page at ``/account``; the API routes then accept the session cookie too.
On plain ``http://127.0.0.1`` add ``COGNITO_SIGN_IN_INSECURE_DEV_COOKIES=1`` (development only:
browsers refuse the ``Secure``, ``__Host-`` session cookie on plain http).

With ``COGNITO_REVOCATIONS_URL`` (a Redis URL) revoked tokens are refused in every process.
``GET /ready`` is the readiness probe (200, or 503 with the reasons: keys not loaded, revocation
list not synchronised, session store unreachable); ``GET /public`` serves as the liveness probe.
The verifier, its revocation list and the session store are made once per process, here at
import (before gunicorn's ``--preload`` fork, whose workers restart the list's thread), and
closed when the process exits (Flask's teardown hooks run after every request, not at exit).
"""

from __future__ import annotations

import atexit
import html
import os
from collections.abc import Mapping
from typing import Any

from flask import Flask, redirect

from cognito_guard import CognitoVerifier, readiness
from cognito_guard.config import verifier_from_env
from cognito_guard.integrations.flask import (
    CognitoGuard,
    current_cognito_user,
    get_cognito_user,
    require_auth,
    require_group,
    require_scope,
)
from cognito_guard.revocation import RedisRevocations
from cognito_guard.sessions import RedisSessionStore, WebSignIn, sign_in_from_env

# The signed-in page: the browser never sees a token; its script calls the API with the cookie
# and the X-CSRF header that cookie-authenticated unsafe requests need.
ACCOUNT_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>Account</title></head><body>
<h1>Account</h1><p id="user">Signed in as {username}</p>
<button id="sign-out">Sign out</button>
<script>
document.getElementById("sign-out").onclick = async () => {{
  const answer = await fetch("/auth/logout", {{method: "POST",
    headers: {{"X-CSRF": "1", "Accept": "application/json"}}}});
  window.location = (await answer.json()).logout_url;
}};
</script></body></html>"""
HOME_PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>Home</title></head>
<body><h1>Home</h1><p id="home">Signed out.</p><a href="/account">Sign in</a></body></html>"""


def create_app(
    config: Mapping[str, Any] | None = None,
    *,
    verifier: CognitoVerifier | None = None,
    sign_in: WebSignIn | None = None,
) -> Flask:
    """The reference app; settings from ``config``, else from the environment."""
    app = Flask(__name__)
    app.config.from_mapping(config or {})
    CognitoGuard(app, verifier=verifier, sign_in=sign_in)

    if sign_in is not None:

        @app.get("/")
        def home() -> str:
            return HOME_PAGE

        @app.get("/account")
        def account() -> Any:
            user = get_cognito_user()
            if user is None:  # a page, not an API: send the browser to sign in
                return redirect(sign_in.login_url("/account"))
            return ACCOUNT_PAGE.format(username=html.escape(user.username or user.sub))

    @app.get("/public")
    def public() -> dict[str, Any]:
        return {"ok": True}

    @app.get("/ready")
    def ready() -> tuple[dict[str, Any], int]:
        """The readiness probe: 200 when this process can verify tokens, else 503 and why."""
        state = readiness.check(CognitoGuard.verifier(), sign_in)
        return state.as_dict(), state.status_code

    @app.get("/me")
    @require_auth
    def me() -> dict[str, Any]:
        return {
            "sub": current_cognito_user.sub,
            "username": current_cognito_user.username,
            "scopes": sorted(current_cognito_user.scopes),
        }

    @app.get("/orders")
    @require_scope("orders/read")
    def list_orders() -> dict[str, Any]:
        return {"user": current_cognito_user.sub, "orders": []}

    @app.post("/orders")
    @require_scope("orders/write")
    def create_order() -> tuple[dict[str, Any], int]:
        return {"user": current_cognito_user.sub, "created": True}, 201

    @app.get("/admin")
    @require_group("admins")
    def admin() -> dict[str, Any]:
        return {"user": current_cognito_user.sub}

    return app


def close(app: Flask, sign_in: WebSignIn | None = None) -> None:
    """Stop what ``app`` holds open: the revocation list's thread, the Redis clients."""
    revocations = CognitoGuard.verifier(app).revocations
    if isinstance(revocations, RedisRevocations):
        revocations.close()
    if sign_in is not None and isinstance(sign_in.store, RedisSessionStore):
        sign_in.store.close()


def _from_env() -> Flask:
    if not os.environ.get("COGNITO_SIGN_IN_DOMAIN"):
        made = create_app()
        atexit.register(close, made)
        return made
    verifier = verifier_from_env()
    sign_in = sign_in_from_env(verifier)
    made = create_app(verifier=verifier, sign_in=sign_in)
    atexit.register(close, made, sign_in)
    return made


app = _from_env()

if __name__ == "__main__":
    from waitress import serve

    serve(app, host="127.0.0.1", port=int(os.environ.get("PORT", "8000")))
