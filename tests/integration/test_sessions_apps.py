"""Web sign-in end to end: each framework's example app on a real server, a cookie-keeping client.

One double (managed login, token endpoints) for the module, one app process per framework.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from cognito_guard.testing import AppProcess, OAuthServer, Response

from ._sessions_support import (
    DUE_TOKEN_TTL,
    PASSWORD,
    form_query,
    new_oauth,
    query_of,
    serve_app,
    session_cookie,
    sign_in,
    submit_form,
    wait_until_due,
)

FRAMEWORKS = ["flask", "fastapi", "django", "django-asgi"]


@pytest.fixture(scope="module")
def oauth() -> Iterator[OAuthServer]:
    with new_oauth() as server:
        yield server


@pytest.fixture(scope="module", params=FRAMEWORKS)
def framework(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="module")
def app(framework: str, oauth: OAuthServer) -> Iterator[AppProcess]:
    with serve_app(framework, oauth) as process:
        yield process


@pytest.fixture
def http(oauth: OAuthServer, app: AppProcess) -> Iterator[httpx.Client]:
    oauth.reset()
    oauth.access_token_ttl = 3600
    oauth.add_user("alice", password=PASSWORD, email="alice@example.com")
    oauth.add_user("bob", password=PASSWORD)
    with httpx.Client(timeout=10) as client:
        yield client


def signed_in(http: httpx.Client, app: AppProcess, oauth: OAuthServer) -> str:
    answer = sign_in(http, app.url, oauth)
    assert answer.status_code == 302, answer.text
    sid = session_cookie(http)
    assert sid
    return sid


# -- the sign-in round trip ---------------------------------------------------------------------


def test_a_protected_page_signs_in_through_the_form_and_comes_back(
    http: httpx.Client, app: AppProcess, oauth: OAuthServer
) -> None:
    page = http.get(app.url + "/account")
    assert page.status_code == 302
    login = page.headers["location"]
    assert login.startswith("/auth/login") and query_of(login)["return_to"] == "/account"
    callback = sign_in(http, app.url, oauth)
    assert callback.headers["location"] == "/account"
    cookie = callback.headers["set-cookie"]
    assert "HttpOnly" in cookie and "Path=/" in cookie and "SameSite=Lax" in cookie
    assert "domain=" not in cookie.lower()
    # nothing secret in the redirect: the code and the session id stay out of the Location
    assert "code" not in callback.headers["location"]
    account = http.get(app.url + "/account")
    assert account.status_code == 200 and "Signed in as alice" in account.text
    me = http.get(app.url + "/me")
    assert me.status_code == 200 and me.json()["username"] == "alice"
    user = http.get(app.url + "/auth/user").json()
    assert user["username"] == "alice" and user["email"] == "alice@example.com"
    assert set(user) == {"sub", "username", "email", "groups", "scopes", "expires_at", "logout_url"}
    assert "orders/read" in user["scopes"]
    assert oauth.grant_counts["authorization_code"] == 1


def test_login_redirects_to_authorize_with_pkce_state_nonce_and_pass_through(
    http: httpx.Client, app: AppProcess, oauth: OAuthServer
) -> None:
    answer = http.get(
        app.url + "/auth/login",
        params={"return_to": "/orders", "lang": "fr", "prompt": "login", "identity_provider": "G"},
    )
    assert answer.status_code == 302
    location = answer.headers["location"]
    assert location.startswith(oauth.domain + "/oauth2/authorize?")
    params = query_of(location)
    assert params["response_type"] == "code" and params["client_id"] == oauth.client_id
    assert params["redirect_uri"] == app.url + "/auth/callback"
    assert params["scope"].split() == ["openid", "email", "orders/read", "orders/write"]
    assert params["code_challenge_method"] == "S256" and len(params["code_challenge"]) == 43
    assert params["state"] and params["nonce"]
    assert (params["lang"], params["prompt"], params["identity_provider"]) == ("fr", "login", "G")
    assert "code_verifier" not in location


def test_the_user_route_is_401_without_a_session(http: httpx.Client, app: AppProcess) -> None:
    answer = http.get(app.url + "/auth/user")
    assert answer.status_code == 401 and answer.json()["error"] == "unauthorized"
    assert http.get(app.url + "/me").status_code == 401


def test_several_tabs_can_sign_in_at_once(
    http: httpx.Client, app: AppProcess, oauth: OAuthServer
) -> None:
    first = http.get(app.url + "/auth/login", params={"return_to": "/one"})
    second = http.get(app.url + "/auth/login", params={"return_to": "/two"})
    forms = [http.get(r.headers["location"]).text for r in (first, second)]
    posted = [submit_form(http, oauth, form, "alice", PASSWORD) for form in forms]
    assert http.get(posted[1].headers["location"]).headers["location"] == "/two"
    assert http.get(posted[0].headers["location"]).headers["location"] == "/one"


# -- refusals at the callback -------------------------------------------------------------------


def _form_and_post(http: httpx.Client, app: AppProcess, oauth: OAuthServer) -> str:
    start = http.get(app.url + "/auth/login", params={"return_to": "/account"})
    form = http.get(start.headers["location"]).text
    return submit_form(http, oauth, form, "alice", PASSWORD).headers["location"]


def test_a_replayed_state_is_a_400_and_makes_no_session(
    http: httpx.Client, app: AppProcess, oauth: OAuthServer
) -> None:
    callback = _form_and_post(http, app, oauth)
    assert http.get(callback).status_code == 302
    http.cookies.clear()
    replay = http.get(callback)
    assert replay.status_code == 400 and "text/html" in replay.headers["content-type"]
    assert "set-cookie" not in replay.headers or "cognito_session=" not in replay.headers.get(
        "set-cookie", ""
    )
    assert query_of(callback)["code"] not in replay.text


@pytest.mark.parametrize(
    "query",
    [{"state": "unknown", "code": "x"}, {"code": "x"}, {}],
    ids=["unknown-state", "no-state", "nothing"],
)
def test_an_unknown_or_missing_state_is_a_400(
    http: httpx.Client, app: AppProcess, query: dict[str, str]
) -> None:
    answer = http.get(app.url + "/auth/callback", params=query)
    assert answer.status_code == 400 and "Sign-in failed" in answer.text
    assert session_cookie(http) is None


def test_a_missing_code_is_a_400(http: httpx.Client, app: AppProcess, oauth: OAuthServer) -> None:
    callback = _form_and_post(http, app, oauth)
    answer = http.get(app.url + "/auth/callback", params={"state": query_of(callback)["state"]})
    assert answer.status_code == 400 and "no authorization code" in answer.text
    assert session_cookie(http) is None


def test_cancelling_at_cognito_is_a_400_access_denied(
    http: httpx.Client, app: AppProcess, oauth: OAuthServer
) -> None:
    start = http.get(app.url + "/auth/login")
    form = http.get(start.headers["location"]).text
    cancel = http.post(oauth.url + "/login", data={"query": form_query(form), "action": "cancel"})
    assert query_of(cancel.headers["location"])["error"] == "access_denied"
    answer = http.get(cancel.headers["location"])
    assert answer.status_code == 400 and "access_denied" in answer.text
    assert session_cookie(http) is None


def test_a_wrong_password_shows_the_form_again(
    http: httpx.Client, app: AppProcess, oauth: OAuthServer
) -> None:
    start = http.get(app.url + "/auth/login")
    form = http.get(start.headers["location"]).text
    answer = submit_form(http, oauth, form, "alice", "wrong")
    assert answer.status_code == 200 and "Incorrect username or password" in answer.text


def test_a_wrong_nonce_is_a_400(http: httpx.Client, app: AppProcess, oauth: OAuthServer) -> None:
    start = http.get(app.url + "/auth/login")
    params = query_of(start.headers["location"])
    code = oauth.issue_code(
        "alice",
        redirect_uri=params["redirect_uri"],
        scopes=params["scope"].split(),
        code_challenge=params["code_challenge"],
        nonce="not-the-nonce",
    )
    answer = http.get(app.url + "/auth/callback", params={"state": params["state"], "code": code})
    assert answer.status_code == 400 and "nonce" in answer.text
    assert session_cookie(http) is None


def test_a_callback_in_another_browser_is_a_400(
    http: httpx.Client, app: AppProcess, oauth: OAuthServer
) -> None:
    callback = _form_and_post(http, app, oauth)  # the attacker's own sign-in ...
    with httpx.Client() as victim:  # ... whose callback URL is sent to a victim
        answer = victim.get(callback)
    assert answer.status_code == 400 and session_cookie(victim) is None


# -- sessions -----------------------------------------------------------------------------------


def test_every_sign_in_makes_a_new_session_id_and_deletes_the_old(
    http: httpx.Client, app: AppProcess, oauth: OAuthServer
) -> None:
    old = signed_in(http, app, oauth)
    new = signed_in(http, app, oauth)
    assert new != old
    with httpx.Client(cookies={"cognito_session": old}) as stale:
        answer = stale.get(app.url + "/me")
    assert answer.status_code == 401
    assert http.get(app.url + "/me").status_code == 200


@pytest.mark.parametrize(
    "return_to",
    ["https://evil.example/", "//evil.example", "/\\evil", "/a\r\nSet-Cookie:x=1", "orders"],
)
def test_return_to_outside_the_origin_falls_back_to_the_root(
    http: httpx.Client, app: AppProcess, oauth: OAuthServer, return_to: str
) -> None:
    assert sign_in(http, app.url, oauth, return_to=return_to).headers["location"] == "/"


def test_a_forged_session_id_is_401_and_clears_the_cookie(app: AppProcess) -> None:
    with httpx.Client(cookies={"cognito_session": "forged"}) as client:
        answer = client.get(app.url + "/me")
    assert answer.status_code == 401 and answer.json()["error"] == "session_ended"
    assert "Max-Age=0" in answer.headers["set-cookie"]


# -- CSRF ---------------------------------------------------------------------------------------


def test_cookie_authenticated_unsafe_requests_need_the_csrf_header(
    http: httpx.Client, app: AppProcess, oauth: OAuthServer
) -> None:
    signed_in(http, app, oauth)
    refused = http.post(app.url + "/orders")
    assert refused.status_code == 403
    assert refused.json()["error"] == "csrf_header_missing" and "X-CSRF" in refused.text
    wrong = http.post(app.url + "/orders", headers={"X-CSRF": "0"})
    assert wrong.status_code == 403
    accepted = http.post(app.url + "/orders", headers={"X-CSRF": "1"})
    assert accepted.status_code == 201
    assert http.get(app.url + "/orders").status_code == 200  # safe methods need nothing


def test_bearer_requests_are_unaffected_by_the_csrf_rule(
    app: AppProcess, oauth: OAuthServer
) -> None:
    token = oauth.issuer.access_token(scopes=["orders/write"])
    with httpx.Client() as client:
        answer = client.post(app.url + "/orders", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 201


# -- refresh ------------------------------------------------------------------------------------


def _due_session(http: httpx.Client, app: AppProcess, oauth: OAuthServer) -> None:
    oauth.access_token_ttl = DUE_TOKEN_TTL
    signed_in(http, app, oauth)
    oauth.access_token_ttl = 3600
    wait_until_due()


def test_a_token_near_expiry_is_refreshed_once_and_rotation_is_kept(
    http: httpx.Client, app: AppProcess, oauth: OAuthServer
) -> None:
    _due_session(http, app, oauth)
    assert http.get(app.url + "/me").status_code == 200
    assert http.get(app.url + "/me").status_code == 200
    assert oauth.grant_counts["refresh_token"] == 1
    # the rotated refresh token was stored: logging out revokes a live one
    assert http.post(app.url + "/auth/logout", headers={"X-CSRF": "1"}).status_code == 302


def test_invalid_grant_ends_the_session(
    http: httpx.Client, app: AppProcess, oauth: OAuthServer
) -> None:
    _due_session(http, app, oauth)
    oauth.inject_oauth_error("/oauth2/token", "invalid_grant")
    answer = http.get(app.url + "/me")
    assert answer.status_code == 401 and answer.json()["error"] == "session_ended"
    assert "Max-Age=0" in answer.headers["set-cookie"]
    assert session_cookie(http) is None
    assert http.get(app.url + "/me").status_code == 401


@pytest.mark.parametrize("status", [500, 503])
def test_a_failing_token_endpoint_keeps_the_session_and_answers_503(
    http: httpx.Client, app: AppProcess, oauth: OAuthServer, status: int
) -> None:
    _due_session(http, app, oauth)
    # Twice: a refresh that fails with a 5xx is retried once at once (the answer may have been
    # lost after Cognito rotated the refresh token); both attempts must fail here.
    oauth.inject("/oauth2/token", Response.json({"message": "down"}, status), times=2)
    answer = http.get(app.url + "/me")
    assert answer.status_code == 503 and answer.headers["retry-after"].isdigit()
    assert "set-cookie" not in answer.headers
    assert http.get(app.url + "/me").status_code == 200  # the next request refreshes


# -- logout -------------------------------------------------------------------------------------


def test_logout_needs_the_csrf_header(
    http: httpx.Client, app: AppProcess, oauth: OAuthServer
) -> None:
    signed_in(http, app, oauth)
    refused = http.post(app.url + "/auth/logout")
    assert refused.status_code == 403 and refused.json()["error"] == "csrf_header_missing"
    assert http.get(app.url + "/me").status_code == 200


def test_logout_revokes_deletes_clears_and_goes_to_cognito_logout(
    http: httpx.Client, app: AppProcess, oauth: OAuthServer
) -> None:
    before = len(oauth.signed_in_users())
    sid = signed_in(http, app, oauth)
    assert len(oauth.signed_in_users()) == before + 1
    answer = http.post(
        app.url + "/auth/logout", headers={"X-CSRF": "1", "Accept": "application/json"}
    )
    assert answer.status_code == 200
    logout_url = answer.json()["logout_url"]
    assert logout_url.startswith(oauth.domain + "/logout?")
    assert query_of(logout_url) == {"client_id": oauth.client_id, "logout_uri": app.url + "/"}
    assert "Max-Age=0" in answer.headers["set-cookie"]
    assert oauth.request_count("/oauth2/revoke") == 1
    with httpx.Client(cookies={"cognito_session": sid}) as stale:
        assert stale.get(app.url + "/me").status_code == 401
    back = http.get(logout_url)
    assert back.status_code == 302 and back.headers["location"] == app.url + "/"
    assert len(oauth.signed_in_users()) == before
    # signed out at Cognito too: the next sign-in shows the form again
    start = http.get(app.url + "/auth/login")
    assert "<form" in http.get(start.headers["location"]).text


def test_logout_without_json_redirects_to_cognito(
    http: httpx.Client, app: AppProcess, oauth: OAuthServer
) -> None:
    signed_in(http, app, oauth)
    answer = http.post(app.url + "/auth/logout", headers={"X-CSRF": "1"})
    assert answer.status_code == 302
    assert answer.headers["location"].startswith(oauth.domain + "/logout?")


def test_a_signed_in_browser_at_cognito_gets_a_code_without_the_form(
    http: httpx.Client, app: AppProcess, oauth: OAuthServer
) -> None:
    signed_in(http, app, oauth)
    start = http.get(app.url + "/auth/login")
    again = http.get(start.headers["location"])
    assert again.status_code == 302 and "code=" in again.headers["location"]


@pytest.mark.parametrize("framework", ["fastapi"], indirect=True)  # the one WebSocket example
def test_a_cookie_websocket_handshake_must_come_from_the_same_origin(
    http: httpx.Client, app: AppProcess, oauth: OAuthServer, framework: str
) -> None:
    from websockets.exceptions import InvalidStatus
    from websockets.sync.client import connect

    sid = signed_in(http, app, oauth)
    url = app.url.replace("http://", "ws://") + "/ws/orders"
    cookie = {"Cookie": f"cognito_session={sid}"}
    with connect(url, additional_headers=cookie, origin=app.url, open_timeout=10) as socket:
        assert json.loads(socket.recv(timeout=10))["orders"] == []
    with pytest.raises(InvalidStatus) as caught:
        connect(url, additional_headers=cookie, origin="http://evil.example", open_timeout=10)
    assert caught.value.response.status_code == 403
