"""OAuthServer: a loopback test double of a Cognito user pool's token endpoints and user-pool API.

It serves, on 127.0.0.1, following Cognito's documented formats:

* ``POST /oauth2/token`` — ``authorization_code`` (with PKCE), ``refresh_token`` (rotation on or
  off) and ``client_credentials``; Basic auth for a client with a secret, ``client_id`` in the
  body for a public client; errors ``invalid_request``, ``invalid_client``, ``invalid_grant``,
  ``unauthorized_client``, ``unsupported_grant_type``, ``invalid_scope``;
* ``POST /oauth2/revoke`` — a revoked refresh token (and the tokens it produced) stops working;
* ``GET /oauth2/userInfo`` — the user's attributes for an access token with the ``openid`` scope;
* ``GET /oauth2/authorize`` — Cognito's managed login: a sign-in form (``POST /login``) for the
  users added with ``add_user(name, password=...)``, then a redirect with a code (or
  ``error=access_denied``); with no such user (or ``auto_sign_in = True``) it signs
  ``signed_in_user`` in at once; ``GET /logout`` ends the double's own sign-in and redirects to
  an allowed ``logout_uri`` (``allowed_logout_uris``);
* ``POST /`` — the user-pool API operations ``GetTokensFromRefreshToken`` (raw ``ClientSecret``,
  ``DeviceKey`` with device tracking), ``InitiateAuth`` (``REFRESH_TOKEN_AUTH`` with
  ``SECRET_HASH``, refused like Cognito does for a client that rotates refresh tokens),
  ``RevokeToken``, ``GetUser`` and ``GlobalSignOut`` (the user's refresh tokens stop working,
  userInfo and ``GetUser`` refuse the access tokens issued before it), errors as
  ``{"__type", "message"}``; an operation it does not have (or one named in
  ``unknown_operations``, to act like an emulator without it) is answered as AWS answers one,
  HTTP 400 ``UnknownOperationException``;
* the issuer's JWKS below any path ending in ``/.well-known/jwks.json`` (it is a JWKSServer).

Refresh-token rotation works as in Cognito on both ``/oauth2/token`` and the API: each refresh
returns a new refresh token; the one used keeps working for ``retry_grace_period`` seconds by
the issuer's clock (so a test can step through it with a ManualClock), and after that it is
``RefreshTokenReuseException`` (``invalid_grant`` at ``/oauth2/token``).

Tokens are minted by the :class:`~cognito_guard.testing.LocalIssuer`, so they verify.

Example::

    issuer = LocalIssuer()
    with issuer.serve_oauth(client_secret="s3cret", rotate_refresh_tokens=True) as server:
        client = server.client()                       # CognitoTokenClient for the domain
        tokens = client.refresh(server.issue_refresh_token("alice"))
        m2m = client.client_credentials(scopes=["orders/read"])
        server.request_count("/oauth2/token")          # 2
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import html
import http.cookies
import json
import secrets
import threading
import time
import uuid
from collections import Counter, deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode

from .._oauth import API_CONTENT_TYPE, API_TARGET_PREFIX, secret_hash
from ..errors import TokenError
from ._tokens import TokenIssuer
from .server import JWKSServer, Request, Response, Route

if TYPE_CHECKING:
    from ..client import CognitoTokenClient
    from ..verifier import CognitoVerifier

__all__ = ["OAuthServer"]

GRANTS = ("authorization_code", "refresh_token", "client_credentials")
USER_SCOPES = ("openid", "email", "profile", "aws.cognito.signin.user.admin")


class _Refused(Exception):
    """A request the double refuses; ``kind`` is neutral and rendered per endpoint style."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


# neutral kind -> (OAuth error, HTTP status, user-pool API __type)
_RENDER: dict[str, tuple[str, int, str]] = {
    "bad_request": ("invalid_request", 400, "InvalidParameterException"),
    "bad_client": ("invalid_client", 401, "ResourceNotFoundException"),
    "bad_secret": ("invalid_client", 401, "NotAuthorizedException"),
    "bad_grant": ("invalid_grant", 400, "NotAuthorizedException"),
    "grant_not_allowed": ("unauthorized_client", 400, "InvalidParameterException"),
    "unknown_grant": ("unsupported_grant_type", 400, "InvalidParameterException"),
    "bad_scope": ("invalid_scope", 400, "InvalidParameterException"),
    "bad_token_type": ("unsupported_token_type", 400, "UnsupportedTokenTypeException"),
    "bad_token": ("invalid_token", 401, "NotAuthorizedException"),
    "bad_api_token": ("invalid_token", 401, "NotAuthorizedException"),
    "bad_revoke_client": ("invalid_client", 401, "UnauthorizedException"),
    "flow_not_enabled": ("unauthorized_client", 400, "InvalidParameterException"),
    "reused_grant": ("invalid_grant", 400, "RefreshTokenReuseException"),
}


@dataclass
class _Family:
    """One sign-in: its user and scopes; every token refreshed from it shares ``origin``."""

    username: str
    scopes: tuple[str, ...]
    origin: str = field(default_factory=lambda: str(uuid.uuid4()))
    device_key: str | None = None  # with device tracking: every refresh through the API needs it


@dataclass
class _Rotated:
    """A refresh token rotation retired: usable until ``until`` while ``replacement`` is unused."""

    family: _Family
    until: float
    replacement: str


@dataclass
class _Code:
    family: _Family
    redirect_uri: str
    expires_at: float
    code_challenge: str | None
    nonce: str | None


def _looks_like_jws(token: str) -> bool:
    return token.count(".") == 2


class OAuthServer(JWKSServer):
    """The token endpoints and user-pool API of a :class:`LocalIssuer`, on loopback.

    Args:
        issuer: mints the tokens; its ``client_id`` is the only app client.
        client_secret: the app client's secret, or None for a public client.
        rotate_refresh_tokens: issue a new refresh token on every refresh (and retire the old);
            ``InitiateAuth REFRESH_TOKEN_AUTH`` is then refused, as by Cognito.
        retry_grace_period: seconds (0 to 60, Cognito's ``RetryGracePeriodSeconds``) a rotated-out
            refresh token keeps working, by the issuer's clock.
        device_tracking: the pool remembers devices: refresh tokens from
            :meth:`issue_refresh_token` belong to a device, and refreshing one through the API
            needs its ``DeviceKey`` (see :meth:`device_key_of`).
        unknown_operations: user-pool API operations to answer as unknown (HTTP 400
            ``UnknownOperationException``), like an emulator that lacks them, e.g.
            ``("GetTokensFromRefreshToken",)``; ``api_counts`` still counts them.
        allowed_grants: the OAuth grants the app client may use.
        m2m_scopes: the resource-server scopes a client-credentials token may carry.
        access_token_ttl: ``expires_in`` of the access and ID tokens it issues.
        signed_in_user: whom ``/oauth2/authorize`` signs in.
        token_delay: seconds ``/oauth2/token`` waits before answering (to test concurrency).

    Inspect it with ``request_count(path)``, ``grant_counts`` and ``api_counts``; make the next
    answer of a path a fault with :meth:`inject`.
    """

    def __init__(
        self,
        issuer: TokenIssuer,
        *,
        client_secret: str | None = None,
        rotate_refresh_tokens: bool = False,
        retry_grace_period: float = 0,
        device_tracking: bool = False,
        unknown_operations: Iterable[str] = (),
        allowed_grants: Iterable[str] = GRANTS,
        m2m_scopes: Iterable[str] = ("orders/read", "orders/write"),
        access_token_ttl: int = 3600,
        code_ttl: float = 300,
        signed_in_user: str = "alice",
        token_delay: float = 0.0,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        super().__init__(issuer, host=host, port=port)
        self.client_id = issuer.client_id
        self.client_secret = client_secret
        if (
            isinstance(retry_grace_period, bool)
            or not isinstance(retry_grace_period, (int, float))
            or not 0 <= retry_grace_period <= 60
        ):
            raise ValueError("retry_grace_period must be 0 to 60 seconds, as in Cognito")
        self.rotate_refresh_tokens = rotate_refresh_tokens
        self.retry_grace_period = float(retry_grace_period)
        self.device_tracking = device_tracking
        if isinstance(unknown_operations, str):
            raise ValueError("unknown_operations is a list of operation names, not one string")
        self.unknown_operations = frozenset(unknown_operations)
        self.last_client_metadata: dict[str, str] | None = None
        self.allowed_grants = frozenset(allowed_grants)
        self.m2m_scopes = tuple(m2m_scopes)
        self.access_token_ttl = access_token_ttl
        self.code_ttl = code_ttl
        self.signed_in_user = signed_in_user
        self.token_delay = token_delay
        self.grant_counts: Counter[str] = Counter()
        self.api_counts: Counter[str] = Counter()
        self.users: dict[str, dict[str, str]] = {}
        self._state = threading.Lock()
        self._refresh_tokens: dict[str, _Family] = {}
        self._rotated: dict[str, _Rotated] = {}
        self._codes: dict[str, _Code] = {}
        self._revoked_origins: set[str] = set()
        self._signed_out: dict[str, float] = {}  # username -> GlobalSignOut time
        self._injected: dict[str, deque[Response]] = {}
        self._verifiers: dict[tuple[str, ...], CognitoVerifier] = {}
        routes: dict[str, Callable[[Request], Response]] = {
            "/oauth2/token": self._token,
            "/oauth2/revoke": self._revoke,
            "/oauth2/userInfo": self._userinfo,
            "/oauth2/authorize": self._authorize,
            "/login": self._login_form_post,
            "/logout": self._logout,
            "/": self._api,
        }
        for path, route in routes.items():
            self.routes[path] = self._injectable(path, route)

    def __enter__(self) -> OAuthServer:
        self.start()
        return self

    # -- for tests -----------------------------------------------------------------------------

    @property
    def domain(self) -> str:
        """The "hosted domain" URL to give a :class:`CognitoTokenClient` (``domain=``)."""
        return self.url

    @property
    def api_url(self) -> str:
        """The user-pool API URL to give a :class:`CognitoTokenClient` (``endpoint_url=``)."""
        return self.url + "/"

    def client(self, **options: Any) -> CognitoTokenClient:
        """A :class:`CognitoTokenClient` of this app client talking to the OAuth endpoints."""
        from ..client import CognitoTokenClient

        options.setdefault("client_secret", self.client_secret)
        options.setdefault("clock", self.issuer.clock)
        return CognitoTokenClient(self.client_id, domain=self.domain, **options)

    def api_client(self, **options: Any) -> CognitoTokenClient:
        """A :class:`CognitoTokenClient` of this app client talking to the user-pool API."""
        from ..client import CognitoTokenClient

        options.setdefault("client_secret", self.client_secret)
        options.setdefault("clock", self.issuer.clock)
        return CognitoTokenClient(self.client_id, endpoint_url=self.api_url, **options)

    def reset(self) -> None:
        """Forget issued tokens and codes, users, injected faults and counters.

        Lets one running server serve many tests (starting and stopping one is slower).
        """
        with self._state:
            self._refresh_tokens.clear()
            self._rotated.clear()
            self.last_client_metadata = None
            self._codes.clear()
            self._revoked_origins.clear()
            self._signed_out.clear()
            self._injected.clear()
            self.users.clear()
            self.grant_counts.clear()
            self.api_counts.clear()
        with self._count_lock:
            self.requests.clear()

    def add_user(self, username: str, password: str | None = None, **attributes: str) -> None:
        """Set a user's attributes (as strings, as Cognito returns them).

        With ``password`` the user can sign in at the managed-login form of
        ``/oauth2/authorize``, which is then shown instead of signing ``signed_in_user`` in.
        """
        self.users[username] = {**self._default_attributes(username), **attributes}
        passwords = self._managed_login()[0]
        if password is None:
            passwords.pop(username, None)
        else:
            passwords[username] = password

    def issue_refresh_token(
        self,
        username: str = "alice",
        scopes: Iterable[str] = USER_SCOPES,
        *,
        device_key: str | None = None,
    ) -> str:
        """A refresh token of a new sign-in of ``username``.

        With ``device_tracking``, the sign-in is on a device: ``device_key`` (or a new key,
        read it with :meth:`device_key_of`), which every API refresh must then send.
        """
        if device_key is not None and not self.device_tracking:
            raise ValueError("a device_key needs serve_oauth(device_tracking=True)")
        if self.device_tracking and device_key is None:
            device_key = f"{self.issuer.region}_{uuid.uuid4()}"
        family = _Family(username, tuple(scopes), device_key=device_key)
        token = self._new_refresh_token()
        with self._state:
            self._refresh_tokens[token] = family
        return token

    def device_key_of(self, refresh_token: str) -> str | None:
        """The device key the sign-in of ``refresh_token`` is bound to (device tracking)."""
        with self._state:
            family = self._family_of(refresh_token)
        return family.device_key if family is not None else None

    def issue_code(
        self,
        username: str = "alice",
        *,
        redirect_uri: str,
        scopes: Iterable[str] = USER_SCOPES,
        code_challenge: str | None = None,
        nonce: str | None = None,
    ) -> str:
        """An authorization code, as ``/oauth2/authorize`` would redirect with."""
        code = str(uuid.uuid4())
        entry = _Code(
            _Family(username, tuple(scopes)),
            redirect_uri,
            self.issuer.clock() + self.code_ttl,
            code_challenge,
            nonce,
        )
        with self._state:
            self._codes[code] = entry
        return code

    def is_revoked(self, refresh_token: str) -> bool:
        """True when ``refresh_token`` no longer works: revoked, or rotated out (past grace)."""
        with self._state:
            family = self._family_of(refresh_token)
            if family is None or family.origin in self._revoked_origins:
                return True
            rotated = self._rotated.get(refresh_token)
            return rotated is not None and not self._in_grace(rotated)

    def inject(self, path: str, response: Response, times: int = 1) -> None:
        """Answer the next ``times`` requests to ``path`` with ``response`` (a fault)."""
        with self._state:
            self._injected.setdefault(path, deque()).extend([response] * times)

    def inject_oauth_error(self, path: str, error: str, status: int = 400) -> None:
        """Answer the next request to ``path`` with the OAuth error ``error``."""
        self.inject(path, Response.json({"error": error}, status))

    def inject_api_error(self, aws_type: str, message: str = "", status: int = 400) -> None:
        """Answer the next user-pool API request with the error ``__type`` ``aws_type``."""
        self.inject("/", _api_error_response(aws_type, message, status))

    # -- plumbing ------------------------------------------------------------------------------

    def _injectable(self, path: str, route: Callable[[Request], Response]) -> Route:
        def serve(request: Request) -> Response:
            with self._state:
                queue = self._injected.get(path)
                injected = queue.popleft() if queue else None
            return injected if injected is not None else route(request)

        return serve

    def _default_attributes(self, username: str) -> dict[str, str]:
        sub = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{self.issuer.user_pool_id}/{username}"))
        return {"sub": sub, "email": f"{username}@example.com", "email_verified": "true"}

    def _attributes(self, username: str) -> dict[str, str]:
        return self.users.get(username) or self._default_attributes(username)

    @staticmethod
    def _new_refresh_token() -> str:
        # Cognito's refresh tokens are opaque to clients (encrypted JWTs); so are these.
        return "rt-" + secrets.token_urlsafe(48)

    def _mint(self, family: _Family, nonce: str | None = None) -> dict[str, Any]:
        attributes = self._attributes(family.username)
        access = self.issuer.access_token(
            username=family.username,
            scopes=family.scopes,
            expires_in=self.access_token_ttl,
            origin_jti=family.origin,
            sub=attributes["sub"],
        )
        result: dict[str, Any] = {"access_token": access}
        if "openid" in family.scopes:
            result["id_token"] = self.issuer.id_token(
                username=family.username,
                email=attributes.get("email", ""),
                sub=attributes["sub"],
                expires_in=self.access_token_ttl,
                origin_jti=family.origin,
                claims={"nonce": nonce} if nonce is not None else None,
            )
        result["token_type"] = "Bearer"
        result["expires_in"] = self.access_token_ttl
        return result

    def _verifier(self) -> CognitoVerifier:
        kids = tuple(self.issuer.published_kids)
        with self._state:
            verifier = self._verifiers.get(kids)
        if verifier is None:
            verifier = self.issuer.verifier(token_use="access", token_cache_size=0)
            with self._state:
                self._verifiers = {kids: verifier}
        return verifier

    # -- the shared grant logic ----------------------------------------------------------------

    def _family_of(self, refresh_token: str) -> _Family | None:
        """The sign-in of a live or rotated-out refresh token (call with ``_state`` held)."""
        family = self._refresh_tokens.get(refresh_token)
        rotated = self._rotated.get(refresh_token) if family is None else None
        return rotated.family if rotated is not None else family

    def _in_grace(self, rotated: _Rotated) -> bool:
        # The grace period is for retrying a request whose answer was lost: once the
        # replacement has been used (or the grace period is over) the old token is spent.
        return self.issuer.clock() < rotated.until and rotated.replacement in self._refresh_tokens

    def _refresh(
        self, refresh_token: str, *, device_key: str | None = None, check_device: bool = False
    ) -> tuple[dict[str, Any], _Family]:
        """New tokens for a refresh token; with rotation also a new refresh token.

        A rotated-out token used again within the grace period gets new tokens and a newer
        replacement, and the replacement it got before stops working. (Cognito does not say
        whether a retry gets the same replacement or a new one; this is the stricter reading,
        and a client that keeps the latest answer works with both.)
        """
        with self._state:
            family = self._family_of(refresh_token)
            if family is None or family.origin in self._revoked_origins:
                raise _Refused("bad_grant", "Invalid Refresh Token")
            # With device remembering, a refresh without the sign-in's device key is refused
            # the way Cognito refuses it.
            if (
                check_device
                and family.device_key is not None
                and not (
                    isinstance(device_key, str)
                    and hmac.compare_digest(device_key.encode(), family.device_key.encode())
                )
            ):
                raise _Refused("bad_grant", "Invalid Refresh Token")
            retired = self._rotated.get(refresh_token)
            if retired is not None and not self._in_grace(retired):
                raise _Refused(
                    "reused_grant",
                    "The refresh token has been invalidated by refresh token rotation.",
                )
            rotated = None
            if self.rotate_refresh_tokens:
                rotated = self._new_refresh_token()
                self._refresh_tokens[rotated] = family
                if retired is not None:
                    del self._refresh_tokens[retired.replacement]
                    retired.replacement = rotated
                else:
                    del self._refresh_tokens[refresh_token]
                    until = self.issuer.clock() + self.retry_grace_period
                    self._rotated[refresh_token] = _Rotated(family, until, rotated)
        tokens = self._mint(family)
        if rotated is not None:
            tokens["refresh_token"] = rotated
        return tokens, family

    def _revoke_token(self, token: str) -> None:
        with self._state:
            family = self._family_of(token)
            if family is not None:
                self._revoked_origins.add(family.origin)
                for other in [t for t, f in self._refresh_tokens.items() if f is family]:
                    del self._refresh_tokens[other]
                return
        if _looks_like_jws(token):
            raise _Refused("bad_token_type", "Only refresh tokens can be revoked")
        # RFC 7009: an unknown token is not an error; the client's goal is already reached.

    def _user_of(self, access_token: str, required_scope: str) -> tuple[str, dict[str, str]]:
        try:
            claims = self._verifier().verify(access_token)
        except TokenError as exc:
            raise _Refused("bad_token", exc.description) from None
        with self._state:
            revoked = claims.origin_jti in self._revoked_origins
        if revoked or self._signed_out_before(claims.username, claims.get("iat")):
            raise _Refused("bad_token", "Access token has been revoked")
        if claims.username is None:
            raise _Refused("bad_token", "The access token does not belong to a user")
        if required_scope not in claims.scopes:
            raise _Refused("bad_scope", "Access token does not have required scopes")
        return claims.username, self._attributes(claims.username)

    # -- /oauth2/token and /oauth2/revoke ------------------------------------------------------

    def _form(self, request: Request) -> dict[str, str]:
        if request.method != "POST":
            raise _Refused("bad_request", "POST is required")
        content_type = _header(request, "content-type").split(";")[0].strip().lower()
        if content_type != "application/x-www-form-urlencoded":
            raise _Refused("bad_request", "the body must be application/x-www-form-urlencoded")
        pairs = parse_qsl(request.body.decode("utf-8", "replace"), keep_blank_values=True)
        form = dict(pairs)
        if len(form) != len(pairs):
            raise _Refused("bad_request", "a parameter appears more than once")
        return form

    def _authenticate(self, request: Request, form: Mapping[str, str]) -> None:
        authorization = _header(request, "authorization")
        if authorization[:6].lower() == "basic ":
            try:
                raw = base64.b64decode(authorization[6:].strip(), validate=True).decode()
                client_id, _, secret = raw.partition(":")
            except (ValueError, binascii.Error):
                raise _Refused("bad_secret", "malformed Basic credentials") from None
            if client_id != self.client_id or form.get("client_id", client_id) != client_id:
                raise _Refused("bad_secret", "unknown client")
            if self.client_secret is None or not hmac.compare_digest(
                secret.encode(), self.client_secret.encode()
            ):
                raise _Refused("bad_secret", "invalid client secret")
            return
        if form.get("client_id") != self.client_id:
            raise _Refused("bad_secret", "unknown client")
        if self.client_secret is not None:
            raise _Refused("bad_secret", "the client has a secret: authenticate with it")

    def _token(self, request: Request) -> Response:
        if self.token_delay:
            time.sleep(self.token_delay)
        form: dict[str, str] = {}
        try:
            form = self._form(request)
            grant = form.get("grant_type", "")
            self.grant_counts[grant or "(none)"] += 1
            self._authenticate(request, form)
            if not grant:
                raise _Refused("bad_request", "grant_type is required")
            if grant not in GRANTS:
                raise _Refused("unknown_grant", "unsupported grant_type")
            if grant not in self.allowed_grants:
                raise _Refused("grant_not_allowed", "the client may not use this grant")
            if grant == "authorization_code":
                return Response.json(self._code_grant(form))
            if grant == "refresh_token":
                if not form.get("refresh_token"):
                    raise _Refused("bad_request", "refresh_token is required")
                return Response.json(self._refresh(form["refresh_token"])[0])
            return Response.json(self._client_credentials(form))
        except _Refused as refused:
            return _oauth_error_response(refused)

    def _code_grant(self, form: Mapping[str, str]) -> dict[str, Any]:
        code, redirect_uri = form.get("code"), form.get("redirect_uri")
        if not code or not redirect_uri:
            raise _Refused("bad_request", "code and redirect_uri are required")
        with self._state:
            entry = self._codes.pop(code, None)  # codes are single-use
        if entry is None or entry.expires_at <= self.issuer.clock():
            raise _Refused("bad_grant", "invalid or expired code")
        if entry.redirect_uri != redirect_uri:
            raise _Refused("bad_grant", "redirect_uri does not match")
        if entry.code_challenge is not None:
            verifier = form.get("code_verifier", "")
            digest = hashlib.sha256(verifier.encode()).digest()
            challenge = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
            if not verifier or not hmac.compare_digest(challenge, entry.code_challenge):
                raise _Refused("bad_grant", "code_verifier does not match the code_challenge")
        tokens = self._mint(entry.family, nonce=entry.nonce)
        refresh_token = self._new_refresh_token()
        with self._state:
            self._refresh_tokens[refresh_token] = entry.family
        tokens["refresh_token"] = refresh_token
        return tokens

    def _client_credentials(self, form: Mapping[str, str]) -> dict[str, Any]:
        if self.client_secret is None:
            raise _Refused("grant_not_allowed", "client credentials need a client secret")
        requested = form.get("scope", "").split()
        for scope in requested:
            if scope not in self.m2m_scopes:
                raise _Refused("bad_scope", "invalid scope")
        token = self.issuer.m2m_token(
            scopes=requested or self.m2m_scopes, expires_in=self.access_token_ttl
        )
        return {"access_token": token, "expires_in": self.access_token_ttl, "token_type": "Bearer"}

    def _revoke(self, request: Request) -> Response:
        try:
            form = self._form(request)
            self._authenticate(request, form)
            if not form.get("token"):
                raise _Refused("bad_request", "token is required")
            self._revoke_token(form["token"])
        except _Refused as refused:
            return _oauth_error_response(refused)
        return Response(200, b"", {"Content-Type": "application/json"})

    # -- /oauth2/userInfo and /oauth2/authorize -------------------------------------------------

    def _userinfo(self, request: Request) -> Response:
        authorization = _header(request, "authorization")
        if authorization[:7].lower() != "bearer " or not authorization[7:].strip():
            return _bearer_error(400, "invalid_request", "Bearer token is required")
        try:
            username, attributes = self._user_of(authorization[7:].strip(), "openid")
        except _Refused as refused:
            if refused.kind == "bad_scope":
                return _bearer_error(403, "insufficient_scope", refused.message)
            return _bearer_error(401, "invalid_token", refused.message)
        return Response.json({**attributes, "username": username})

    def _authorize(self, request: Request) -> Response:
        params = dict(parse_qsl(request.query, keep_blank_values=True))
        refused = self._check_authorize(params)
        if refused is not None:
            return refused
        passwords, logins = self._managed_login()
        with self._state:
            signed_in = logins.get(_cookie(request, _LOGIN_COOKIE))
        if signed_in is not None and signed_in in self.users:  # its own sign-in, like Cognito's
            return self._code_redirect(params, signed_in)
        auto = self.auto_sign_in if self.auto_sign_in is not None else not passwords
        if auto:
            return self._code_redirect(params, self.signed_in_user)
        return _login_page(request.query)

    def _check_authorize(self, params: Mapping[str, str]) -> Response | None:
        if params.get("client_id") != self.client_id or not params.get("redirect_uri"):
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
        return None

    def _code_redirect(
        self, params: Mapping[str, str], username: str, headers: Mapping[str, str] | None = None
    ) -> Response:
        code = self.issue_code(
            username,
            redirect_uri=params["redirect_uri"],
            scopes=params.get("scope", "openid").split(),
            code_challenge=params.get("code_challenge"),
            nonce=params.get("nonce"),
        )
        query = urlencode(
            {"code": code, **({"state": params["state"]} if "state" in params else {})}
        )
        location = f"{params['redirect_uri']}?{query}"
        return Response(302, b"", {"Location": location, **(headers or {})})

    # -- managed login: the sign-in form and /logout -------------------------------------------

    auto_sign_in: bool | None = None
    """True: ``/oauth2/authorize`` signs ``signed_in_user`` in without a form; False: always
    the form; None (default): the form when a user was added with a password."""

    allowed_logout_uris: tuple[str, ...] = ()
    """The sign-out URLs ``/logout`` may redirect to (the app client's allowed sign-out URLs)."""

    def _managed_login(self) -> tuple[dict[str, str], dict[str, str]]:
        """(username -> password, double's sign-in cookie -> username), made on first use."""
        with self._state:
            if not hasattr(self, "_passwords"):
                self._passwords: dict[str, str] = {}
                self._logins: dict[str, str] = {}
            return self._passwords, self._logins

    def _login_form_post(self, request: Request) -> Response:
        if request.method != "POST":
            return Response(405, b"", {"Allow": "POST"})
        form = dict(parse_qsl(request.body.decode("utf-8", "replace"), keep_blank_values=True))
        query = form.get("query", "")
        params = dict(parse_qsl(query, keep_blank_values=True))
        refused = self._check_authorize(params)
        if refused is not None:
            return refused
        if form.get("action") == "cancel":
            denied = urlencode({"error": "access_denied", "state": params.get("state", "")})
            return Response(302, b"", {"Location": f"{params['redirect_uri']}?{denied}"})
        passwords, logins = self._managed_login()
        username, password = form.get("username", ""), form.get("password", "")
        expected = passwords.get(username)
        if (
            expected is None
            or username not in self.users
            or not hmac.compare_digest(password.encode(), expected.encode())
        ):
            return _login_page(query, error="Incorrect username or password.")
        login = secrets.token_urlsafe(24)
        with self._state:
            logins[login] = username
        cookie = f"{_LOGIN_COOKIE}={login}; Path=/; HttpOnly; SameSite=Lax"
        return self._code_redirect(params, username, {"Set-Cookie": cookie})

    def _logout(self, request: Request) -> Response:
        params = dict(parse_qsl(request.query, keep_blank_values=True))
        logout_uri = params.get("logout_uri", "")
        if params.get("client_id") != self.client_id or logout_uri not in self.allowed_logout_uris:
            return Response(
                400,
                b"<!doctype html><p>An error was encountered with the requested page: "
                b"the client or logout_uri is not allowed.</p>",
                {"Content-Type": "text/html; charset=utf-8"},
            )
        _, logins = self._managed_login()
        with self._state:
            logins.pop(_cookie(request, _LOGIN_COOKIE), None)
        return Response(
            302,
            b"",
            {
                "Location": logout_uri,
                "Set-Cookie": f"{_LOGIN_COOKIE}=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax",
            },
        )

    def signed_in_users(self) -> list[str]:
        """The users signed in at the double's managed login (its own cookie), for tests."""
        _, logins = self._managed_login()
        with self._state:
            return sorted(logins.values())

    # -- the user-pool API ---------------------------------------------------------------------

    def _api(self, request: Request) -> Response:
        target = _header(request, "x-amz-target")
        if request.method != "POST" or not target.startswith(API_TARGET_PREFIX):
            return _api_error_response("UnknownOperationException", "", 400)
        content_type = _header(request, "content-type").split(";")[0].strip()
        if content_type != API_CONTENT_TYPE:
            return _api_error_response("SerializationException", "wrong Content-Type", 400)
        operation = target[len(API_TARGET_PREFIX) :]
        self.api_counts[operation] += 1
        try:
            payload = json.loads(request.body or b"{}")
        except ValueError:
            return _api_error_response("SerializationException", "the body is not JSON", 400)
        if not isinstance(payload, dict):
            return _api_error_response("SerializationException", "the body is not an object", 400)
        handlers = {
            "GetTokensFromRefreshToken": self._get_tokens_from_refresh_token,
            "InitiateAuth": self._initiate_auth,
            "RevokeToken": self._revoke_api,
            "GetUser": self._get_user,
            "GlobalSignOut": self._global_sign_out,
        }
        handler = handlers.get(operation) if operation not in self.unknown_operations else None
        if handler is None:
            return _api_error_response("UnknownOperationException", "", 400)
        try:
            return _api_response(handler(payload))
        except _Refused as refused:
            return _api_error_response(_RENDER[refused.kind][2], refused.message, 400)

    def _check_api_client(self, payload: Mapping[str, Any]) -> None:
        if payload.get("ClientId") != self.client_id:
            raise _Refused(
                "bad_client", f"User pool client {payload.get('ClientId')} does not exist."
            )

    def _initiate_auth(self, payload: Mapping[str, Any]) -> dict[str, Any]:
        self._check_api_client(payload)
        if payload.get("AuthFlow") not in ("REFRESH_TOKEN_AUTH", "REFRESH_TOKEN"):
            raise _Refused("bad_request", "this test double implements only REFRESH_TOKEN_AUTH")
        params = payload.get("AuthParameters")
        params = params if isinstance(params, dict) else {}
        if self.rotate_refresh_tokens:
            # Rotation needs ALLOW_REFRESH_TOKEN_AUTH off ("Refresh token rotation isn't
            # compatible with the authentication flow REFRESH_TOKEN_AUTH"): Cognito's answer
            # for an auth flow the client does not allow.
            raise _Refused(
                "flow_not_enabled", "REFRESH_TOKEN_AUTH flow not enabled for this client"
            )
        refresh_token = params.get("REFRESH_TOKEN")
        if not isinstance(refresh_token, str) or not refresh_token:
            raise _Refused("bad_request", "Missing required parameter REFRESH_TOKEN")
        if self.client_secret is not None:
            self._check_secret_hash(params, refresh_token)
        device_key = params.get("DEVICE_KEY")
        tokens, _family = self._refresh(
            refresh_token,
            device_key=device_key if isinstance(device_key, str) else None,
            check_device=True,
        )
        return {"AuthenticationResult": _authentication_result(tokens), "ChallengeParameters": {}}

    def _get_tokens_from_refresh_token(self, payload: Mapping[str, Any]) -> dict[str, Any]:
        self._check_api_client(payload)
        refresh_token = payload.get("RefreshToken")
        if not isinstance(refresh_token, str) or not refresh_token:
            raise _Refused("bad_request", "Missing required parameter RefreshToken")
        self._check_client_secret(payload.get("ClientSecret"))
        metadata = payload.get("ClientMetadata")
        if metadata is not None and not (
            isinstance(metadata, dict)
            and all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items())
        ):
            raise _Refused("bad_request", "ClientMetadata must map strings to strings")
        device_key = payload.get("DeviceKey")
        if device_key is not None and not isinstance(device_key, str):
            raise _Refused("bad_request", "DeviceKey must be a string")
        tokens, _family = self._refresh(refresh_token, device_key=device_key, check_device=True)
        with self._state:
            self.last_client_metadata = dict(metadata) if metadata is not None else None
        # No ChallengeParameters: this operation answers with tokens or an error, nothing else.
        return {"AuthenticationResult": _authentication_result(tokens)}

    def _check_client_secret(self, secret: object) -> None:
        """The raw ``ClientSecret`` of GetTokensFromRefreshToken (not a SECRET_HASH)."""
        if self.client_secret is None:
            if secret is not None:
                raise _Refused("bad_secret", f"Client {self.client_id} has no client secret")
            return
        if secret is None:
            raise _Refused(
                "bad_secret",
                f"Client {self.client_id} is configured with secret but ClientSecret was not "
                "received",
            )
        if not isinstance(secret, str) or not hmac.compare_digest(
            secret.encode(), self.client_secret.encode()
        ):
            raise _Refused(
                "bad_secret", f"Unable to verify secret hash for client {self.client_id}"
            )

    def _check_secret_hash(self, params: Mapping[str, Any], refresh_token: str) -> None:
        assert self.client_secret is not None  # noqa: S101 - called only for a secret client
        with self._state:
            family = self._refresh_tokens.get(refresh_token)
        username, given = params.get("USERNAME"), params.get("SECRET_HASH")
        # Cognito computes the hash over the user's username (or sub); the token names the user.
        names = (
            {family.username, self._attributes(family.username)["sub"]}
            if family is not None
            else {username}
        )
        if not (
            isinstance(username, str)
            and isinstance(given, str)
            and username in names
            and hmac.compare_digest(
                given, secret_hash(self.client_secret, username, self.client_id)
            )
        ):
            raise _Refused(
                "bad_secret", f"Unable to verify secret hash for client {self.client_id}"
            )

    def _revoke_api(self, payload: Mapping[str, Any]) -> dict[str, Any]:
        self._check_api_client(payload)
        secret = payload.get("ClientSecret")
        if self.client_secret is not None and not (
            isinstance(secret, str) and hmac.compare_digest(secret, self.client_secret)
        ):
            raise _Refused("bad_revoke_client", "Invalid client secret")
        token = payload.get("Token")
        if not isinstance(token, str) or not token:
            raise _Refused("bad_request", "Missing required parameter Token")
        self._revoke_token(token)
        return {}

    def _get_user(self, payload: Mapping[str, Any]) -> dict[str, Any]:
        token = payload.get("AccessToken")
        if not isinstance(token, str) or not token:
            raise _Refused("bad_request", "Missing required parameter AccessToken")
        try:
            username, attributes = self._user_of(token, "aws.cognito.signin.user.admin")
        except _Refused as refused:
            raise _Refused("bad_api_token", refused.message) from None
        return {
            "Username": username,
            "UserAttributes": [{"Name": k, "Value": v} for k, v in attributes.items()],
            "MFAOptions": [],
        }

    # -- GlobalSignOut -------------------------------------------------------------------------

    def signed_out_at(self, username: str) -> float | None:
        """When ``username`` was last signed out with ``GlobalSignOut``, or None."""
        with self._state:
            return self._signed_out.get(username)

    def _signed_out_before(self, username: str | None, iat: object) -> bool:
        with self._state:
            cutoff = self._signed_out.get(username) if username is not None else None
        return cutoff is not None and (not isinstance(iat, (int, float)) or iat <= cutoff)

    def _global_sign_out(self, payload: Mapping[str, Any]) -> dict[str, Any]:
        token = payload.get("AccessToken")
        if not isinstance(token, str) or not token:
            raise _Refused("bad_request", "Missing required parameter AccessToken")
        try:
            username, _attributes = self._user_of(token, "aws.cognito.signin.user.admin")
        except _Refused as refused:
            raise _Refused("bad_api_token", refused.message) from None
        with self._state:
            self._signed_out[username] = self.issuer.clock()
            for refresh_token, family in list(self._refresh_tokens.items()):
                if family.username == username:
                    self._revoked_origins.add(family.origin)
                    del self._refresh_tokens[refresh_token]
        return {}


def _header(request: Request, name: str) -> str:
    for key, value in request.headers.items():
        if key.lower() == name:
            return value
    return ""


def _oauth_error_response(refused: _Refused) -> Response:
    error, status, _ = _RENDER[refused.kind]
    return Response.json({"error": error, "error_description": refused.message}, status)


def _bearer_error(status: int, error: str, description: str) -> Response:
    challenge = f'Bearer error="{error}", error_description="{description}"'
    return Response.json(
        {"error": error, "error_description": description},
        status,
        {"WWW-Authenticate": challenge},
    )


def _authentication_result(tokens: Mapping[str, Any]) -> dict[str, Any]:
    """The ``AuthenticationResult`` of the user-pool API for tokens in OAuth field names."""
    result = {
        "AccessToken": tokens["access_token"],
        "ExpiresIn": tokens["expires_in"],
        "TokenType": "Bearer",
    }
    if "id_token" in tokens:
        result["IdToken"] = tokens["id_token"]
    if "refresh_token" in tokens:
        result["RefreshToken"] = tokens["refresh_token"]
    return result


def _api_response(value: Mapping[str, Any]) -> Response:
    return Response(200, json.dumps(value).encode(), {"Content-Type": API_CONTENT_TYPE})


def _api_error_response(aws_type: str, message: str, status: int) -> Response:
    body = {"__type": aws_type, "message": message}
    return Response(status, json.dumps(body).encode(), {"Content-Type": API_CONTENT_TYPE})


_LOGIN_COOKIE = "cognito_double_login"


def _cookie(request: Request, name: str) -> str:
    jar = http.cookies.SimpleCookie()
    try:
        jar.load(_header(request, "cookie"))
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
