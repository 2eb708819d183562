"""Shared pieces of the web sign-in tests: the double, the example apps, a signing-in client."""

from __future__ import annotations

import html
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx

from cognito_guard.testing import AppProcess, LocalIssuer, OAuthServer

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
SECRET = "s3cret-client-secret-value"
PASSWORD = "correct horse battery staple"
SCOPES = "openid email orders/read orders/write"

# name -> (target, server, paths)
APPS: dict[str, tuple[str, str, list[Path]]] = {
    "flask": ("flask_app:app", "waitress", [EXAMPLES]),
    "fastapi": ("fastapi_app:app", "uvicorn", [EXAMPLES]),
    "django": ("wsgi:application", "waitress", [EXAMPLES / "django_app"]),
    "django-asgi": ("asgi:application", "uvicorn", [EXAMPLES / "django_app"]),
}


def app_env(oauth: OAuthServer, **extra: str) -> dict[str, str]:
    """The COGNITO_* variables that point an example app at the double, with web sign-in."""
    issuer = oauth.issuer
    return {
        "COGNITO_USER_POOL_ID": issuer.user_pool_id,
        "COGNITO_CLIENT_ID": issuer.client_id,
        "COGNITO_JWKS_URI": oauth.jwks_uri,
        "COGNITO_SIGN_IN_DOMAIN": oauth.domain,
        "COGNITO_SIGN_IN_CLIENT_SECRET": SECRET,
        "COGNITO_SIGN_IN_SCOPES": SCOPES,
        "COGNITO_SIGN_IN_INSECURE_DEV_COOKIES": "1",  # plain http on 127.0.0.1
        **extra,
    }


@contextmanager
def serve_app(name: str, oauth: OAuthServer, **extra: str) -> Iterator[AppProcess]:
    """One example app with web sign-in, allowed as the double's sign-out URL."""
    target, server, paths = APPS[name]
    cwd = paths[0] if name.startswith("django") else None
    with AppProcess(
        target,
        server=server,  # type: ignore[arg-type]
        paths=paths,
        env={**app_env(oauth, **extra), "DJANGO_SETTINGS_MODULE": "settings"},
        cwd=cwd,
    ) as app:
        oauth.allowed_logout_uris = (*oauth.allowed_logout_uris, app.url + "/")
        yield app


DUE_TOKEN_TTL = 2
"""An access token lifetime to sign in with, then :func:`wait_until_due`: a refresh is due."""


def wait_until_due() -> None:
    """Wait until a token of :data:`DUE_TOKEN_TTL` s is due: past half its life (the skew cap)."""
    time.sleep(DUE_TOKEN_TTL / 2 + 0.1)


def new_oauth() -> OAuthServer:
    """The double: a confidential client rotating its refresh tokens."""
    return LocalIssuer().serve_oauth(client_secret=SECRET, rotate_refresh_tokens=True)


def form_query(page: str) -> str:
    """The hidden ``query`` field of the double's sign-in form."""
    found = re.search(r'name="query" value="([^"]*)"', page)
    assert found, page
    return html.unescape(found.group(1))


def query_of(url: str) -> dict[str, str]:
    """The query parameters of ``url`` (first values)."""
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query, keep_blank_values=True).items()}


def submit_form(
    http: httpx.Client, oauth: OAuthServer, page: str, username: str, password: str
) -> httpx.Response:
    """Post the double's sign-in form as a browser would (no redirects followed)."""
    return http.post(
        oauth.url + "/login",
        data={
            "query": form_query(page),
            "username": username,
            "password": password,
            "action": "sign_in",
        },
    )


def sign_in(
    http: httpx.Client,
    app_url: str,
    oauth: OAuthServer,
    *,
    username: str = "alice",
    return_to: str = "/account",
) -> httpx.Response:
    """The whole browser round trip; returns the app's callback answer (a 302 to return_to)."""
    start = http.get(app_url + "/auth/login", params={"return_to": return_to})
    assert start.status_code == 302, start.text
    form = http.get(start.headers["location"])
    if form.status_code == 302:  # still signed in at Cognito: a code at once, like Cognito
        return http.get(form.headers["location"])
    assert form.status_code == 200 and "<form" in form.text
    posted = submit_form(http, oauth, form.text, username, PASSWORD)
    assert posted.status_code == 302, posted.text
    return http.get(posted.headers["location"])


def session_cookie(http: httpx.Client) -> str | None:
    """The app's session cookie in the client's jar (loopback dev name)."""
    for cookie in http.cookies.jar:
        if cookie.name == "cognito_session":
            return cookie.value
    return None
