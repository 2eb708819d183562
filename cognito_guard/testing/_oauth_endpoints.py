"""OAuthEndpoints: the OAuth double's ``/oauth2/token``, ``/oauth2/revoke``, ``/oauth2/userInfo``.

Form-encoded requests, client authentication (Basic or ``client_secret`` in the body for a
client with a secret, ``client_id`` in the body for a public one), RFC 8707 ``resource``
parameters (they may repeat) and OAuth's JSON errors over a :class:`UserPool`.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import time
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import parse_qsl

from ._pool import UserPool
from ._refusals import RENDER, Refused
from .server import Request, Response

__all__ = ["GRANTS", "OAuthEndpoints"]

GRANTS = ("authorization_code", "refresh_token", "client_credentials")


class OAuthEndpoints:
    """The token, revocation and userInfo routes over a :class:`UserPool`.

    ``allowed_grants`` are the grants the app client may use; ``m2m_scopes`` the scopes a
    client-credentials token may carry; ``token_delay`` seconds ``/oauth2/token`` waits before
    answering; ``grant_counts`` counts the grants asked for.
    """

    def __init__(
        self,
        pool: UserPool,
        *,
        allowed_grants: Iterable[str] = GRANTS,
        m2m_scopes: Iterable[str] = ("orders/read", "orders/write"),
        token_delay: float = 0.0,
    ) -> None:
        self.pool = pool
        self.allowed_grants = frozenset(allowed_grants)
        self.m2m_scopes = tuple(m2m_scopes)
        self.token_delay = token_delay
        self.grant_counts: Counter[str] = Counter()

    def token(self, request: Request) -> Response:
        """``POST /oauth2/token``."""
        if self.token_delay:
            time.sleep(self.token_delay)
        try:
            form, resources = self._form(request)
            grant = form.get("grant_type", "")
            self.grant_counts[grant or "(none)"] += 1
            self._authenticate(request, form)
            if not grant:
                raise Refused("bad_request", "grant_type is required")
            if grant not in GRANTS:
                raise Refused("unknown_grant", "unsupported grant_type")
            if grant not in self.allowed_grants:
                raise Refused("grant_not_allowed", "the client may not use this grant")
            if grant == "authorization_code":
                code, redirect_uri = form.get("code"), form.get("redirect_uri")
                if not code or not redirect_uri:
                    raise Refused("bad_request", "code and redirect_uri are required")
                verifier = form.get("code_verifier", "")
                tokens = self.pool.redeem_code(code, redirect_uri, verifier, resources)
                return Response.json(tokens)
            if grant == "refresh_token":
                if not form.get("refresh_token"):
                    raise Refused("bad_request", "refresh_token is required")
                return Response.json(self.pool.refresh(form["refresh_token"], resources=resources))
            scopes = form.get("scope", "").split()
            return Response.json(self._client_credentials(scopes, resources))
        except Refused as refused:
            return _oauth_error(refused)

    def _client_credentials(self, requested: list[str], resources: list[str]) -> dict[str, Any]:
        # No user and no refresh token: nothing of the pool's state is involved.
        if self.pool.client_secret is None:
            raise Refused("grant_not_allowed", "client credentials need a client secret")
        for scope in requested:
            if scope not in self.m2m_scopes:
                raise Refused("bad_scope", "invalid scope")
        if resources:  # Cognito binds resources for users only
            raise Refused("bad_target", "client credentials cannot be bound to a resource")
        ttl = self.pool.access_token_ttl
        token = self.pool.issuer.m2m_token(scopes=requested or self.m2m_scopes, expires_in=ttl)
        return {"access_token": token, "expires_in": ttl, "token_type": "Bearer"}

    def revoke(self, request: Request) -> Response:
        """``POST /oauth2/revoke``."""
        try:
            form, _ = self._form(request)
            self._authenticate(request, form)
            if not form.get("token"):
                raise Refused("bad_request", "token is required")
            self.pool.revoke(form["token"])
        except Refused as refused:
            return _oauth_error(refused)
        return Response(200, b"", {"Content-Type": "application/json"})

    def userinfo(self, request: Request) -> Response:
        """``GET /oauth2/userInfo``: the attributes of an access token's user."""
        authorization = request.header("authorization")
        if authorization[:7].lower() != "bearer " or not authorization[7:].strip():
            return _bearer_error(400, "invalid_request", "Bearer token is required")
        try:
            username, attributes = self.pool.user_of(authorization[7:].strip(), "openid")
        except Refused as refused:
            if refused.kind == "bad_scope":
                return _bearer_error(403, "insufficient_scope", refused.message)
            return _bearer_error(401, "invalid_token", refused.message)
        return Response.json({**attributes, "username": username})

    @staticmethod
    def _form(request: Request) -> tuple[dict[str, str], list[str]]:
        """The form's parameters, and its ``resource`` values (RFC 8707: it may repeat)."""
        if request.method != "POST":
            raise Refused("bad_request", "POST is required")
        content_type = request.header("content-type").split(";")[0].strip().lower()
        if content_type != "application/x-www-form-urlencoded":
            raise Refused("bad_request", "the body must be application/x-www-form-urlencoded")
        pairs = parse_qsl(request.body.decode("utf-8", "replace"), keep_blank_values=True)
        resources = [value for name, value in pairs if name == "resource"]
        form = dict(pair for pair in pairs if pair[0] != "resource")
        if len(form) + len(resources) != len(pairs):
            raise Refused("bad_request", "a parameter appears more than once")
        return form, resources

    def _authenticate(self, request: Request, form: Mapping[str, str]) -> None:
        client_id, client_secret = self.pool.client_id, self.pool.client_secret
        authorization = request.header("authorization")
        if authorization[:6].lower() == "basic ":
            try:
                raw = base64.b64decode(authorization[6:].strip(), validate=True).decode()
                given_id, _, secret = raw.partition(":")
            except (ValueError, binascii.Error):
                raise Refused("bad_secret", "malformed Basic credentials") from None
            if given_id != client_id or form.get("client_id", given_id) != given_id:
                raise Refused("bad_secret", "unknown client")
            if "client_secret" in form:
                raise Refused("bad_request", "one client authentication method only")
            _check_secret(secret, client_secret)
            return
        if form.get("client_id") != client_id:
            raise Refused("bad_secret", "unknown client")
        if "client_secret" in form:  # client_secret_post
            _check_secret(form["client_secret"], client_secret)
        elif client_secret is not None:
            raise Refused("bad_secret", "the client has a secret: authenticate with it")


def _check_secret(given: str, expected: str | None) -> None:
    if expected is None or not hmac.compare_digest(given.encode(), expected.encode()):
        raise Refused("bad_secret", "invalid client secret")


def _oauth_error(refused: Refused) -> Response:
    error, status, _ = RENDER[refused.kind]
    return Response.json({"error": error, "error_description": refused.message}, status)


def _bearer_error(status: int, error: str, description: str) -> Response:
    challenge = f'Bearer error="{error}", error_description="{description}"'
    return Response.json(
        {"error": error, "error_description": description},
        status,
        {"WWW-Authenticate": challenge},
    )
