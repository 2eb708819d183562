"""The Django admin signing in through Cognito, end to end: the example project with web sign-in
behind waitress (sync) and uvicorn (async), the OAuth double's managed login, and an httpx client
keeping the cookies, as a browser would.

``alice`` is in Cognito's ``admins`` group (the example's ``STAFF_GROUPS`` and
``SUPERUSER_GROUPS``), ``bob`` only in ``readers``.
"""

from __future__ import annotations

import contextlib
import html
import re
import secrets
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from cognito_guard.testing import AppProcess, OAuthServer

from ..integration._sessions_support import (
    PASSWORD,
    new_oauth,
    query_of,
    serve_app,
    session_cookie,
    submit_form,
)

ADD_GROUP = "/admin/auth/group/add/"


@pytest.fixture(scope="module")
def oauth() -> Iterator[OAuthServer]:
    with new_oauth() as server:
        yield server


@pytest.fixture(scope="module", params=["django", "django-asgi"])
def site(
    request: pytest.FixtureRequest, oauth: OAuthServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[AppProcess, Path]]:
    """The example project served with web sign-in, and its database file."""
    database = tmp_path_factory.mktemp("admin") / "db.sqlite3"
    with serve_app(request.param, oauth, DJANGO_DB_PATH=str(database)) as app:
        yield app, database


@pytest.fixture
def http(oauth: OAuthServer) -> Iterator[httpx.Client]:
    oauth.reset()
    oauth.add_user("alice", password=PASSWORD, groups=["admins"])
    oauth.add_user("bob", password=PASSWORD, groups=["readers"])
    with httpx.Client(timeout=10) as client:
        yield client


def sign_in_at_the_admin(
    http: httpx.Client, app: AppProcess, oauth: OAuthServer, username: str, path: str
) -> None:
    """Open ``path`` of the admin signed out: the admin's login, Cognito's form, back to it."""
    first = http.get(app.url + path)
    assert first.status_code == 302 and first.headers["location"] == f"/admin/login/?next={path}"
    login = http.get(app.url + first.headers["location"])
    assert login.status_code == 302 and login.headers["location"].startswith("/auth/login?")
    start = http.get(app.url + login.headers["location"])
    form = http.get(start.headers["location"])
    assert form.status_code == 200 and "<form" in form.text, form.text
    posted = submit_form(http, oauth, form.text, username, PASSWORD)
    callback = http.get(posted.headers["location"])
    assert callback.status_code == 302 and callback.headers["location"] == path, callback.text


def csrf_token(page: str) -> str:
    """The ``csrfmiddlewaretoken`` of a Django form."""
    found = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
    assert found, page
    return html.unescape(found.group(1))


def groups_in(database: Path) -> set[str]:
    # A sqlite3 connection's "with" commits but does not close (3.13 warns of the leak).
    with contextlib.closing(sqlite3.connect(database)) as connection:
        return {name for (name,) in connection.execute("SELECT name FROM auth_group")}


def test_the_admins_add_group_form_saves_with_djangos_csrf_token(
    site: tuple[AppProcess, Path], http: httpx.Client, oauth: OAuthServer
) -> None:
    app, database = site
    sign_in_at_the_admin(http, app, oauth, "alice", ADD_GROUP)
    page = http.get(app.url + ADD_GROUP)
    assert page.status_code == 200
    name = f"editors-{secrets.token_hex(4)}"
    form = {"name": name, "_save": "Save"}
    # No token: Django's own CSRF protection refuses it, and nothing is saved.
    refused = http.post(app.url + ADD_GROUP, data=form)
    assert refused.status_code == 403 and "CSRF verification failed" in refused.text
    assert name not in groups_in(database)
    # The form as the browser posts it: the session cookie and Django's token, no X-CSRF.
    saved = http.post(
        app.url + ADD_GROUP, data={**form, "csrfmiddlewaretoken": csrf_token(page.text)}
    )
    assert saved.status_code == 302, saved.text
    assert saved.headers["location"] == "/admin/auth/group/"
    assert name in groups_in(database)
    assert name in http.get(app.url + "/admin/auth/group/").text
    # An XHR of the same session to an API view still goes with the header.
    order = http.post(app.url + "/orders", params={"item": "lamp"}, headers={"X-CSRF": "1"})
    assert order.status_code == 201
    refused_api = http.post(app.url + "/orders")
    assert refused_api.status_code == 403
    assert refused_api.json()["error"] == "csrf_header_missing"


def test_the_admins_logout_ends_the_session_and_signs_out_at_cognito(
    site: tuple[AppProcess, Path], http: httpx.Client, oauth: OAuthServer
) -> None:
    app, _database = site
    sign_in_at_the_admin(http, app, oauth, "alice", "/admin/")
    index = http.get(app.url + "/admin/")
    assert index.status_code == 200 and 'action="/admin/logout/"' in index.text
    sid = session_cookie(http)
    assert sid
    answer = http.post(
        app.url + "/admin/logout/", data={"csrfmiddlewaretoken": csrf_token(index.text)}
    )
    assert answer.status_code == 302, answer.text
    logout_url = answer.headers["location"]
    assert logout_url.startswith(oauth.domain + "/logout?")
    assert query_of(logout_url) == {"client_id": oauth.client_id, "logout_uri": app.url + "/"}
    assert session_cookie(http) is None
    assert oauth.request_count("/oauth2/revoke") >= 1
    with httpx.Client(cookies={"cognito_session": sid}, timeout=10) as stale:
        assert stale.get(app.url + "/me").status_code == 401
        assert stale.get(app.url + "/admin/").headers["location"] == "/admin/login/?next=/admin/"
    back = http.get(logout_url)
    assert back.status_code == 302 and back.headers["location"] == app.url + "/"
    # Signed out at Cognito too: the admin's sign-in asks for the password again.
    login = http.get(app.url + "/admin/login/")
    start = http.get(app.url + login.headers["location"])
    assert "<form" in http.get(start.headers["location"]).text


def test_a_signed_in_user_without_staff_gets_403_instead_of_a_sign_in_loop(
    site: tuple[AppProcess, Path], http: httpx.Client, oauth: OAuthServer
) -> None:
    app, _database = site
    sign_in_at_the_admin(http, app, oauth, "bob", "/admin/")
    admin = http.get(app.url + "/admin/")
    assert admin.status_code == 302 and admin.headers["location"] == "/admin/login/?next=/admin/"
    login = http.get(app.url + admin.headers["location"])
    assert login.status_code == 403
    assert "You are signed in as bob" in login.text
    assert oauth.grant_counts["authorization_code"] == 1  # one sign-in, no loop through Cognito
    # The page's sign-out button works (the admin's logout view takes bob's form).
    out = http.post(
        app.url + "/admin/logout/", data={"csrfmiddlewaretoken": csrf_token(login.text)}
    )
    assert out.status_code == 302 and out.headers["location"].startswith(oauth.domain + "/logout?")
