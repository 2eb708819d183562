"""Flask: a cookie-authenticated unsafe request passes with ``X-CSRF: 1`` or with the CSRF token
Flask-WTF's ``CSRFProtect`` validated (an HTML form), through a real waitress server.

Needs Flask-WTF (a development dependency); skipped without it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

flask_wtf = pytest.importorskip("flask_wtf")
from flask import Flask, g  # noqa: E402 - after the skip
from flask_wtf.csrf import CSRFProtect, generate_csrf  # noqa: E402

from cognito_guard.client import CognitoTokenClient  # noqa: E402
from cognito_guard.integrations.flask import (  # noqa: E402
    CognitoGuard,
    _compat,
    current_cognito_user,
    require_auth,
)
from cognito_guard.sessions import MemorySessionStore, WebSignIn  # noqa: E402
from cognito_guard.testing import LocalIssuer  # noqa: E402

from .test_flask_server import waitress  # noqa: E402

SESSION = "sid-of-alice"


def make_app(issuer: LocalIssuer, *, protect: bool) -> tuple[Flask, MemorySessionStore]:
    """An app with web sign-in, a live session of alice, and CSRFProtect when ``protect``."""
    store = MemorySessionStore()
    now = time.time()
    tokens = {
        "access_token": issuer.access_token(username="alice"),
        "refresh_token": None,  # logout then has nothing to revoke at Cognito
        "token_type": "Bearer",
        "expires_in": 3600,
        "expires_at": now + 3600,
    }
    store.put(SESSION, {"tokens": tokens, "created": now, "last_seen": now, "sub": "s"}, 3600)
    sign_in = WebSignIn(
        client=CognitoTokenClient(issuer.client_id, domain="https://auth.example.com"),
        verifier=issuer.verifier(),
        redirect_uri="/auth/callback",
        store=store,
        insecure_dev_cookies=True,  # plain http on 127.0.0.1: the cookie is "cognito_session"
    )
    app = Flask(__name__)
    app.config["SECRET_KEY"] = "flask-session-key-for-csrf-tokens"
    CognitoGuard(app, verifier=issuer.verifier(), sign_in=sign_in)
    csrf = CSRFProtect(app) if protect else None

    if not protect:

        @app.before_request
        def claim_valid() -> None:  # what only CSRFProtect may say
            g.csrf_valid = True

    @app.get("/form")
    def form() -> dict[str, Any]:
        return {"csrf_token": generate_csrf()}  # also sets Flask's session cookie

    @app.post("/orders")
    @require_auth
    def create_order() -> tuple[dict[str, Any], int]:
        return {"user": current_cognito_user.username}, 201

    def exempt_order() -> tuple[dict[str, Any], int]:
        return {"user": current_cognito_user.username}, 201

    exempt_order.__name__ = "exempt_order"
    view = require_auth(exempt_order)
    if csrf is not None:
        view = csrf.exempt(view)
    app.add_url_rule("/exempt", view_func=view, methods=["POST"])
    return app, store


@pytest.fixture
def protected(cognito_issuer: LocalIssuer) -> Iterator[tuple[str, MemorySessionStore]]:
    app, store = make_app(cognito_issuer, protect=True)
    with waitress(app) as url:
        yield url, store


def browser(url: str) -> httpx.Client:
    client = httpx.Client(base_url=url, timeout=10)
    client.cookies.set("cognito_session", SESSION, domain="127.0.0.1")
    return client


def test_a_form_post_with_flask_wtfs_token_passes_without_the_header(
    protected: tuple[str, MemorySessionStore],
) -> None:
    url, _ = protected
    with browser(url) as client:
        token = client.get("/form").json()["csrf_token"]
        created = client.post("/orders", data={"csrf_token": token})
        assert (created.status_code, created.json()) == (201, {"user": "alice"})
        refused = client.post("/orders", data={"csrf_token": "forged"})
        assert refused.status_code == 400  # Flask-WTF's own refusal, before the view
        assert client.post("/orders", headers={"X-CSRF": "1"}).status_code == 400  # still its


def test_an_exempt_view_needs_the_header(protected: tuple[str, MemorySessionStore]) -> None:
    url, _ = protected
    with browser(url) as client:
        refused = client.post("/exempt")
        assert refused.status_code == 403
        assert refused.json()["error"] == "csrf_header_missing"
        assert client.post("/exempt", headers={"X-CSRF": "1"}).status_code == 201


def test_logout_from_an_html_form(protected: tuple[str, MemorySessionStore]) -> None:
    url, store = protected
    with browser(url) as client:
        token = client.get("/form").json()["csrf_token"]
        done = client.post("/auth/logout", data={"csrf_token": token})
        assert done.status_code == 302
        assert store.get(SESSION) is None


def test_without_csrfprotect_the_flag_alone_proves_nothing(cognito_issuer: LocalIssuer) -> None:
    app, store = make_app(cognito_issuer, protect=False)
    with waitress(app) as url, browser(url) as client:
        refused = client.post("/orders")
        assert refused.status_code == 403
        assert refused.json()["error"] == "csrf_header_missing"
        assert client.post("/orders", headers={"X-CSRF": "1"}).status_code == 201
        assert client.post("/auth/logout").status_code == 403
        assert store.get(SESSION) is not None


def test_compat_csrfprotect_marks_the_requests_it_validated() -> None:
    """The reach of _compat.flask_wtf_validated: CSRFProtect registers itself as
    app.extensions["csrf"] and sets g.csrf_valid on a request whose token it validated."""
    app = Flask(__name__)
    app.config["SECRET_KEY"] = "k"
    csrf = CSRFProtect(app)
    assert app.extensions["csrf"] is csrf
    seen: list[object] = []

    @app.get("/token")
    def token() -> str:
        return generate_csrf()

    @app.post("/check")
    def check() -> str:
        seen.append((g.get("csrf_valid"), _compat.flask_wtf_validated()))
        return ""

    client = app.test_client()
    valid = client.get("/token").get_data(as_text=True)
    assert client.post("/check", data={"csrf_token": valid}).status_code == 200
    assert seen == [(True, True)]
    csrf.exempt(check)
    assert client.post("/check").status_code == 200  # exempt: not validated, not marked
    assert seen[-1] == (None, False)
