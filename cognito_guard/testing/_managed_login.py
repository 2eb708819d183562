"""ManagedLogin: the OAuth double's hosted sign-in, ``/oauth2/authorize``, ``/login``, ``/logout``.

Like Cognito's managed login it signs a user in with its own cookie, then redirects to the app
with an authorization code. The users and their passwords live in the :class:`UserPool`; this
module holds the browser side: the sign-ins (by cookie), the routes and the sign-in page.
"""

from __future__ import annotations

import html
import http.cookies
import secrets
import threading
from collections.abc import Mapping
from urllib.parse import parse_qsl, urlencode

from ._pool import UserPool
from ._refusals import Refused
from ._resources import bind_resource
from .server import Request, Response

__all__ = ["ManagedLogin"]

_LOGIN_COOKIE = "cognito_double_login"


class ManagedLogin:
    """The sign-in routes over a :class:`UserPool`.

    ``auto_sign_in`` — True: ``/oauth2/authorize`` signs ``signed_in_user`` in without a form;
    False: always the form; None (default): the form when a user was added with a password.
    ``allowed_logout_uris`` — the sign-out URLs ``/logout`` may redirect to.
    """

    def __init__(self, pool: UserPool, signed_in_user: str = "alice") -> None:
        self.pool = pool
        self.signed_in_user = signed_in_user
        self.auto_sign_in: bool | None = None
        self.allowed_logout_uris: tuple[str, ...] = ()
        self._lock = threading.Lock()
        self._sessions: dict[str, str] = {}  # the double's sign-in cookie -> username

    def reset(self) -> None:
        """End every sign-in."""
        with self._lock:
            self._sessions.clear()

    def signed_in_users(self) -> list[str]:
        """The users signed in at the double's managed login (its own cookie), for tests."""
        with self._lock:
            return sorted(self._sessions.values())

    def authorize(self, request: Request) -> Response:
        """``GET /oauth2/authorize``: a code redirect for a signed-in user, else the form."""
        params = _Params(request.query)
        refused = self._check_authorize(params)
        if refused is not None:
            return refused
        with self._lock:
            signed_in = self._sessions.get(_cookie(request, _LOGIN_COOKIE))
        if signed_in is not None and signed_in in self.pool.users:  # its own, like Cognito's
            return self._code_redirect(params, signed_in)
        auto = self.auto_sign_in if self.auto_sign_in is not None else not self.pool.has_passwords()
        if auto:
            return self._code_redirect(params, self.signed_in_user)
        return _login_page(request.query)

    def login(self, request: Request) -> Response:
        """``POST /login``: the sign-in form's answer (sign in, or cancel)."""
        if request.method != "POST":
            return Response(405, b"", {"Allow": "POST"})
        form = dict(parse_qsl(request.body.decode("utf-8", "replace"), keep_blank_values=True))
        query = form.get("query", "")
        params = _Params(query)
        refused = self._check_authorize(params)
        if refused is not None:
            return refused
        if form.get("action") == "cancel":
            denied = urlencode({"error": "access_denied", "state": params.get("state", "")})
            return Response(302, b"", {"Location": f"{params['redirect_uri']}?{denied}"})
        username = form.get("username", "")
        if not self.pool.check_password(username, form.get("password", "")):
            return _login_page(query, error="Incorrect username or password.")
        login = secrets.token_urlsafe(24)
        with self._lock:
            self._sessions[login] = username
        cookie = f"{_LOGIN_COOKIE}={login}; Path=/; HttpOnly; SameSite=Lax"
        return self._code_redirect(params, username, {"Set-Cookie": cookie})

    def logout(self, request: Request) -> Response:
        """``GET /logout``: end the double's own sign-in, then go to an allowed ``logout_uri``."""
        params = dict(parse_qsl(request.query, keep_blank_values=True))
        logout_uri = params.get("logout_uri", "")
        if (
            params.get("client_id") != self.pool.client_id
            or logout_uri not in self.allowed_logout_uris
        ):
            return Response(
                400,
                b"<!doctype html><p>An error was encountered with the requested page: "
                b"the client or logout_uri is not allowed.</p>",
                {"Content-Type": "text/html; charset=utf-8"},
            )
        with self._lock:
            self._sessions.pop(_cookie(request, _LOGIN_COOKIE), None)
        return Response(
            302,
            b"",
            {
                "Location": logout_uri,
                "Set-Cookie": f"{_LOGIN_COOKIE}=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax",
            },
        )

    def _check_authorize(self, params: _Params) -> Response | None:
        if params.get("client_id") != self.pool.client_id or not params.get("redirect_uri"):
            return Response.json({"error": "invalid_request"}, 400)
        redirect_uri = params["redirect_uri"]
        if params.get("response_type") != "code":
            query = urlencode(
                {"error": "unsupported_response_type", "state": params.get("state", "")}
            )
            return Response(302, b"", {"Location": f"{redirect_uri}?{query}"})
        challenge = params.get("code_challenge")
        if challenge is not None and params.get("code_challenge_method") != "S256":
            query = urlencode({"error": "invalid_request", "state": params.get("state", "")})
            return Response(302, b"", {"Location": f"{redirect_uri}?{query}"})
        try:
            bind_resource(self.pool.resources, params.resources)
        except Refused as refused:  # RFC 8707 section 2: invalid_target, to the client
            query = urlencode(
                {
                    "error": "invalid_target",
                    "error_description": refused.message,
                    "state": params.get("state", ""),
                }
            )
            return Response(302, b"", {"Location": f"{redirect_uri}?{query}"})
        return None

    def _code_redirect(
        self, params: _Params, username: str, headers: Mapping[str, str] | None = None
    ) -> Response:
        code = self.pool.issue_code(
            username,
            redirect_uri=params["redirect_uri"],
            scopes=params.get("scope", "openid").split(),
            code_challenge=params.get("code_challenge"),
            nonce=params.get("nonce"),
            resources=params.resources,
        )
        query = urlencode(
            {"code": code, **({"state": params["state"]} if "state" in params else {})}
        )
        location = f"{params['redirect_uri']}?{query}"
        return Response(302, b"", {"Location": location, **(headers or {})})


class _Params(dict[str, str]):
    """An authorization request's parameters, one value each, with its repeatable ``resource``."""

    def __init__(self, query: str) -> None:
        pairs = parse_qsl(query, keep_blank_values=True)
        super().__init__(pairs)
        self.resources = [value for name, value in pairs if name == "resource"]


def _cookie(request: Request, name: str) -> str:
    jar = http.cookies.SimpleCookie()
    try:
        jar.load(request.header("cookie"))
    except http.cookies.CookieError:
        return ""
    morsel = jar.get(name)
    return morsel.value if morsel is not None else ""


def _login_page(query: str, error: str = "") -> Response:
    message = f"<p id='error' role='alert'>{html.escape(error)}</p>" if error else ""
    page = f"""<!doctype html>
<html><head><meta charset="utf-8"><title>Sign in</title></head>
<body><h1>Sign in</h1>{message}
<form method="post" action="/login">
<input type="hidden" name="query" value="{html.escape(query, quote=True)}">
<label>Username <input id="username" name="username" autocomplete="username"></label>
<label>Password <input id="password" name="password" type="password"></label>
<button id="sign-in" type="submit" name="action" value="sign_in">Sign in</button>
<button id="cancel" type="submit" name="action" value="cancel">Cancel</button>
</form></body></html>"""
    return Response(
        200,
        page.encode(),
        {"Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-store"},
    )
