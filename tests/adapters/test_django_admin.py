"""A staff site signing in through Cognito, in process: the CSRF rule for Django's forms, Django's
logout ending the web sign-in session, the admin's login page, staff from Cognito's groups.

Web sign-in runs against the OAuth double on loopback (managed login signs the chosen user in at
once); Django's test client carries the cookies. ``tests/adapters/test_django_admin_server.py``
runs the same through the example project behind real servers.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from django.test import Client, override_settings
from django.test.utils import setup_databases, teardown_databases

from cognito_guard import ConfigurationError
from cognito_guard.sessions import MemorySessionStore, WebSignIn
from cognito_guard.testing import LocalIssuer, OAuthServer

from .django_project import setup

setup()

from django.contrib.auth import get_user_model  # noqa: E402 - needs setup()
from django.contrib.auth.models import Group  # noqa: E402
from django.contrib.sessions.backends.db import SessionStore  # noqa: E402
from django.core.checks import run_checks  # noqa: E402

from cognito_guard.integrations.django import (  # noqa: E402
    CognitoMiddleware,
)
from cognito_guard.integrations.django.models import CognitoIdentity  # noqa: E402
from cognito_guard.integrations.django.users import identity_cache  # noqa: E402

from .django_project.shop.models import Order  # noqa: E402

User = get_user_model()
SESSION = "__Host-cognito_session"  # Django's test client speaks plain http to "testserver"
SECRET = "s3cret-client-secret-value"
BACKENDS = ["cognito_guard.integrations.django.CognitoBackend"]
POOL = {"USER_POOL_ID": "us-east-1_LocalPool1", "CLIENT_ID": "local0client0id0123456789a"}
SESSIONS = "django.contrib.sessions.middleware.SessionMiddleware"
CSRF = "django.middleware.csrf.CsrfViewMiddleware"
AUTH = "django.contrib.auth.middleware.AuthenticationMiddleware"
MESSAGES = "django.contrib.messages.middleware.MessageMiddleware"
OURS = "cognito_guard.integrations.django.CognitoMiddleware"
# Where CsrfViewMiddleware stands (or that it is absent) does not change the CSRF rule's answer.
MIDDLEWARES = {
    "no-csrf-middleware": [SESSIONS, AUTH, OURS, MESSAGES],
    "csrf-middleware-before": [SESSIONS, CSRF, AUTH, OURS, MESSAGES],
    "csrf-middleware-after": [SESSIONS, AUTH, OURS, CSRF, MESSAGES],
}


@pytest.fixture(scope="module")
def database() -> Iterator[None]:
    state = setup_databases(verbosity=0, interactive=False)
    yield
    teardown_databases(state, verbosity=0)


@pytest.fixture(scope="module")
def oauth(cognito_signing_keys: list[RSAPrivateKey]) -> Iterator[OAuthServer]:
    issuer = LocalIssuer(*POOL.values(), keys=cognito_signing_keys)
    with issuer.serve_oauth(client_secret=SECRET) as server:
        server.auto_sign_in = True
        yield server


Project = Callable[..., WebSignIn]


@pytest.fixture
def project(database: None, oauth: OAuthServer) -> Iterator[Project]:
    """``project(middleware=..., **COGNITO_GUARD keys)``: the staff-site project with web sign-in
    (a fresh session store), CognitoBackend on; rows, users and sign-ins wiped after."""
    managers: list[Any] = []

    def configure(middleware: list[str] = MIDDLEWARES["no-csrf-middleware"], **keys: Any) -> Any:
        sign_in = WebSignIn(
            client=oauth.client(),
            verifier=oauth.issuer.verifier(),
            redirect_uri="/auth/callback",
            store=MemorySessionStore(),
            scopes=["openid", "email", "orders/write"],
            logout_uri="/",
        )
        manager = override_settings(
            COGNITO_GUARD_VERIFIER=oauth.issuer.verifier(),
            COGNITO_GUARD={**POOL, "SIGN_IN": sign_in, **keys},
            AUTHENTICATION_BACKENDS=BACKENDS,
            MIDDLEWARE=middleware,
            ROOT_URLCONF="tests.adapters.django_project.admin_urls",
        )
        manager.enable()
        managers.append(manager)
        return sign_in

    yield configure
    for manager in reversed(managers):
        manager.disable()
    Order.objects.all().delete()
    CognitoIdentity.objects.all().delete()
    User.objects.all().delete()
    Group.objects.all().delete()
    identity_cache.clear()
    oauth.reset()
    oauth.auto_sign_in = True


def browser(enforce_csrf_checks: bool = True) -> Client:
    """A test client checking CSRF tokens unless told otherwise. It sends no ``Host`` header:
    the sign-in URLs are then built on the host Django takes (``testserver``)."""
    return Client(enforce_csrf_checks=enforce_csrf_checks)


def sign_in_as(client: Client, oauth: OAuthServer, username: str, groups: list[str]) -> str:
    """Sign ``username`` in through the Django routes and the double; the session id."""
    oauth.add_user(username, groups=groups)
    oauth.signed_in_user = username
    start = client.get("/auth/login", {"return_to": "/me"})
    assert start.status_code == 302, start.content
    code = httpx.get(start["Location"])  # the double's managed login: a code at once
    assert code.status_code == 302, code.text
    callback = urlsplit(code.headers["location"])
    answer = client.get(f"{callback.path}?{callback.query}")
    assert answer.status_code == 302 and answer["Location"] == "/me", answer.content
    return client.cookies[SESSION].value


def with_csrf_token(client: Client) -> str:
    """A CSRF cookie for ``client``, and the token a form carries for it."""
    secret = secrets.token_hex(16)  # Django takes a 32-character secret as cookie and token
    client.cookies["csrftoken"] = secret
    return secret


def error_of(response: Any) -> str:
    return str(json.loads(response.content)["error"])


def test_without_a_host_header_the_sign_in_takes_djangos_host(project: Project) -> None:
    project()
    start = Client().get("/auth/login")  # Django's test client sends no Host header
    assert start.status_code == 302
    query = parse_qs(urlsplit(start["Location"]).query)
    assert query["redirect_uri"] == ["http://testserver/auth/callback"]
    with override_settings(ALLOWED_HOSTS=["staff.example.com"]):
        assert Client().get("/auth/login").status_code == 400  # DisallowedHost, as Django does


# -- the CSRF rule: X-CSRF: 1, or Django's own CSRF check ----------------------------------------


@pytest.mark.parametrize("middleware", MIDDLEWARES)
def test_a_form_posted_with_djangos_token_is_accepted_without_the_header(
    project: Project, oauth: OAuthServer, middleware: str
) -> None:
    project(middleware=MIDDLEWARES[middleware])
    client = browser()
    sign_in_as(client, oauth, "alice", [])
    token = with_csrf_token(client)
    answer = client.post("/orders?item=lamp", {"csrfmiddlewaretoken": token})
    assert answer.status_code == 201, answer.content
    assert Order.objects.get().owner.username == "alice"
    # an XHR sends the token as a header instead of a form field
    assert client.post("/orders", headers={"X-CSRFToken": token}).status_code == 201


@pytest.mark.parametrize("middleware", MIDDLEWARES)
def test_a_post_with_neither_the_header_nor_the_token_is_refused(
    project: Project, oauth: OAuthServer, middleware: str
) -> None:
    project(middleware=MIDDLEWARES[middleware])
    client = browser()
    sign_in_as(client, oauth, "alice", [])
    token = with_csrf_token(client)
    for refused in (
        client.post("/orders"),
        client.post("/orders", {"csrfmiddlewaretoken": "x" * 32}),  # a token of another cookie
        client.post("/orders", {"csrfmiddlewaretoken": token}, headers={"Origin": "https://e.vil"}),
    ):
        assert refused.status_code == 403
        if CSRF not in MIDDLEWARES[middleware]:  # else Django's own refusal comes first
            assert error_of(refused) == "csrf_header_missing"
    assert not Order.objects.exists()


def test_the_header_still_works_and_an_exempt_view_needs_it(
    project: Project, oauth: OAuthServer
) -> None:
    project()
    client = browser()
    sign_in_as(client, oauth, "alice", [])
    token = with_csrf_token(client)
    assert client.post("/orders", headers={"X-CSRF": "1"}).status_code == 201
    # csrf_exempt: the view opted out of Django's check, so its token proves nothing there
    exempt = client.post("/exempt-orders", {"csrfmiddlewaretoken": token})
    assert exempt.status_code == 403 and error_of(exempt) == "csrf_header_missing"
    assert client.post("/exempt-orders", headers={"X-CSRF": "1"}).status_code == 201


def test_djangos_test_client_turns_the_token_check_off_as_it_does_for_django(
    project: Project, oauth: OAuthServer
) -> None:
    project()
    client = browser(enforce_csrf_checks=False)  # Django skips its CSRF checks
    sign_in_as(client, oauth, "alice", [])
    assert client.post("/orders").status_code == 201
    assert client.post("/exempt-orders").status_code == 403  # the header rule stays


# -- Django's logout ends the web sign-in session ------------------------------------------------


def test_djangos_own_admin_logout_ends_the_web_sign_in_session(
    project: Project, oauth: OAuthServer
) -> None:
    sign_in = project(STAFF_GROUPS=["admins"], middleware=MIDDLEWARES["csrf-middleware-before"])
    client = browser()
    sid = sign_in_as(client, oauth, "alice", ["admins"])
    refresh_token = sign_in.store.get(sid)["tokens"]["refresh_token"]  # type: ignore[index]
    assert client.get("/admin/").status_code == 200
    token = with_csrf_token(client)
    assert client.post("/admin/logout/", {"csrfmiddlewaretoken": token}).status_code == 200
    assert sign_in.store.get(sid) is None
    assert oauth.is_revoked(refresh_token)
    stale = browser()
    stale.cookies[SESSION] = sid
    answer = stale.get("/me")
    assert answer.status_code == 401 and error_of(answer) == "session_ended"


def test_the_logout_view_signs_out_of_django_and_sends_the_browser_to_cognito(
    project: Project, oauth: OAuthServer
) -> None:
    sign_in = project()
    client = browser()
    sid = sign_in_as(client, oauth, "alice", [])
    django_session = client.session
    django_session["kept"] = "until logout"
    django_session.save()
    assert client.get("/signout").status_code == 405
    refused = client.post("/signout")
    assert refused.status_code == 403 and error_of(refused) == "csrf_header_missing"
    assert sign_in.store.get(sid) is not None and client.get("/me").status_code == 200
    answer = client.post("/signout", {"csrfmiddlewaretoken": with_csrf_token(client)})
    assert answer.status_code == 302
    assert answer["Location"].startswith(oauth.domain + "/logout?client_id=")
    assert answer.cookies[SESSION]["max-age"] == "0"
    assert sign_in.store.get(sid) is None
    assert not SessionStore().exists(django_session.session_key)  # Django's session ended too


def test_the_logout_view_takes_the_header_as_well(project: Project, oauth: OAuthServer) -> None:
    sign_in = project()
    client = browser()
    sid = sign_in_as(client, oauth, "alice", [])
    answer = client.post("/signout", headers={"X-CSRF": "1", "Accept": "application/json"})
    assert answer.status_code == 200
    assert json.loads(answer.content)["logout_url"].startswith(oauth.domain + "/logout?")
    assert sign_in.store.get(sid) is None


def test_the_sign_in_routes_logout_takes_djangos_token_from_a_form(
    project: Project, oauth: OAuthServer
) -> None:
    sign_in = project()
    client = browser()
    sid = sign_in_as(client, oauth, "alice", [])
    refused = client.post("/auth/logout")
    assert refused.status_code == 403 and error_of(refused) == "csrf_header_missing"
    answer = client.post("/auth/logout", {"csrfmiddlewaretoken": with_csrf_token(client)})
    assert answer.status_code == 302 and sign_in.store.get(sid) is None


# -- the admin's login page -----------------------------------------------------------------------


def test_the_admin_login_sends_an_anonymous_browser_to_cognito_and_back(
    project: Project,
) -> None:
    sign_in = project()
    answer = browser().get("/admin/login/", {"next": "/admin/auth/group/"})
    assert answer.status_code == 302
    assert answer["Location"] == sign_in.login_url("/admin/auth/group/")
    assert browser().get("/admin/login/")["Location"] == sign_in.login_url("/admin/")
    hostile = browser().get("/admin/login/", {"next": "//evil.example/"})
    assert hostile["Location"] == sign_in.login_url("/")
    assert browser().post("/admin/login/").status_code == 405  # no password form to post


def test_the_login_of_another_admin_site_names_that_sites_pages(project: Project) -> None:
    sign_in = project()
    assert Client().get("/staff/")["Location"] == "/staff/login/?next=/staff/"
    assert Client().get("/staff/login/")["Location"] == sign_in.login_url("/staff/")


def test_a_staff_user_at_the_admin_login_goes_on(project: Project, oauth: OAuthServer) -> None:
    project(STAFF_GROUPS=["admins"])
    client = browser()
    sign_in_as(client, oauth, "alice", ["admins"])
    answer = client.get("/admin/login/", {"next": "/admin/auth/"})
    assert answer.status_code == 302 and answer["Location"] == "/admin/auth/"


def test_a_signed_in_user_without_staff_gets_403_instead_of_another_sign_in(
    project: Project, oauth: OAuthServer
) -> None:
    project(STAFF_GROUPS=["admins"])
    client = browser()
    sign_in_as(client, oauth, "bob", ["readers"])
    admin = client.get("/admin/")
    assert admin.status_code == 302 and admin["Location"] == "/admin/login/?next=/admin/"
    login = client.get(admin["Location"])
    assert login.status_code == 403 and login["Cache-Control"] == "no-store"
    assert "You are signed in as bob" in login.content.decode()
    assert 'action="/admin/logout/"' in login.content.decode()


def test_a_signed_in_user_the_site_refuses_gets_403_too(
    project: Project, oauth: OAuthServer
) -> None:
    project()
    client = browser()
    sign_in_as(client, oauth, "carol", [])
    assert client.get("/me").status_code == 200  # her first request makes her row
    User.objects.filter(username="carol").update(is_active=False)
    identity_cache.clear()
    assert client.get("/me").status_code == 403  # the middleware refuses the inactive user
    login = client.get("/admin/login/")
    assert login.status_code == 403 and "signed in as carol" in login.content.decode()


# -- staff and superusers from Cognito's groups ---------------------------------------------------


def test_staff_and_superuser_follow_the_cognito_groups(
    project: Project, oauth: OAuthServer
) -> None:
    project(STAFF_GROUPS=["admins", "support"], SUPERUSER_GROUPS="admins")
    issuer = oauth.issuer

    def flags(*groups: str) -> tuple[bool, bool]:
        token = issuer.access_token(username="dora", groups=list(groups), scopes=["openid"])
        assert browser().get("/me", headers={"Authorization": f"Bearer {token}"}).status_code == 200
        user = User.objects.get(username="dora")
        return user.is_staff, user.is_superuser

    assert flags("admins") == (True, True)
    assert flags("support", "readers") == (True, False)
    assert flags() == (False, False)  # taken away by Cognito, on the next token
    assert flags("support") == (True, False)


def test_without_the_settings_the_flags_are_the_sites_own(
    project: Project, oauth: OAuthServer
) -> None:
    project()
    token = oauth.issuer.access_token(username="erin", groups=["admins"])
    browser().get("/me", headers={"Authorization": f"Bearer {token}"})
    User.objects.filter(username="erin").update(is_staff=True)
    identity_cache.clear()
    browser().get("/me", headers={"Authorization": f"Bearer {token}"})
    assert User.objects.get(username="erin").is_staff  # set by hand, left alone


@pytest.mark.parametrize("value", [42, ["admins", ""], ["admins staff"], {"admins": True}, [None]])
def test_bad_group_flag_settings_fail_at_startup(project: Project, value: Any) -> None:
    project(STAFF_GROUPS=value)
    with pytest.raises(ConfigurationError, match="STAFF_GROUPS"):
        CognitoMiddleware(lambda r: None)  # type: ignore[arg-type, return-value]
    assert [m.id for m in run_checks() if m.id.startswith("cognito_guard")] == [
        "cognito_guard.E001"
    ]


def test_check_flags_on_a_user_model_without_them(database: None) -> None:
    with override_settings(
        AUTH_USER_MODEL="shop.EmailUser",
        AUTHENTICATION_BACKENDS=BACKENDS,
        COGNITO_GUARD={**POOL, "STAFF_GROUPS": ["admins"], "USER_MAPPER": "builtins.print"},
    ):
        ids = [m.id for m in run_checks() if m.id.startswith("cognito_guard")]
    assert ids == ["cognito_guard.E007"]


def test_check_csrf_in_the_session_needs_the_session_middleware_first(project: Project) -> None:
    project()

    def ids(middleware: list[str]) -> list[str]:
        with override_settings(CSRF_USE_SESSIONS=True, MIDDLEWARE=middleware):
            return [m.id for m in run_checks() if m.id.startswith("cognito_guard")]

    assert ids([SESSIONS, AUTH, OURS]) == []
    assert sorted(ids([OURS, SESSIONS, AUTH])) == ["cognito_guard.E008", "cognito_guard.W002"]
