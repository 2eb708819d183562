"""OAuthServer: a loopback test double of a Cognito user pool's token endpoints and user-pool API.

It serves, on 127.0.0.1, following Cognito's documented formats:

* ``POST /oauth2/token`` — ``authorization_code`` (with PKCE), ``refresh_token`` (rotation on or
  off) and ``client_credentials``; Basic auth (or ``client_secret`` in the body) for a client
  with a secret, ``client_id`` in the body for a public client; errors ``invalid_request``,
  ``invalid_client``, ``invalid_grant``, ``unauthorized_client``, ``unsupported_grant_type``,
  ``invalid_scope``, ``invalid_target``;
* resource binding (RFC 8707 resource indicators) as Cognito does it: one ``resource`` on
  ``/oauth2/authorize`` becomes the ``aud`` of the access tokens of that sign-in, refreshed ones
  included; a token request may name it again, but no other; a client-credentials grant cannot
  be bound; a refused resource is ``invalid_target``;
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
* the issuer's JWKS below any path ending in ``/.well-known/jwks.json`` (it is a JWKSServer),
  and the pool's OpenID discovery document where Cognito serves it, at the issuer's path +
  ``/.well-known/openid-configuration`` (:attr:`~OAuthServer.discovery_url`), with Cognito's
  fields and this server's endpoints.

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

import functools
import threading
from collections import Counter, deque
from collections.abc import Callable, Iterable
from typing import (
    TYPE_CHECKING,
    Any,
    Concatenate,
    Generic,
    ParamSpec,
    TypedDict,
    TypeVar,
    overload,
)
from urllib.parse import urlsplit

from ._managed_login import ManagedLogin
from ._oauth_endpoints import GRANTS, OAuthEndpoints
from ._pool import USER_SCOPES, UserPool
from ._pool_api import UserPoolAPI, api_error
from ._tokens import TokenIssuer
from .server import JWKSServer, Request, Response, Route

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from ..client import CognitoTokenClient

__all__ = ["GRANTS", "USER_SCOPES", "OAuthServer"]


class _PoolOptions(TypedDict, total=False):
    """The options of :class:`OAuthServer` that shape its pool: :class:`UserPool`'s keywords."""

    client_secret: str | None
    rotate_refresh_tokens: bool
    retry_grace_period: float
    device_tracking: bool
    access_token_ttl: int
    code_ttl: float
    resources: Iterable[str] | None


_T = TypeVar("_T")
_P = ParamSpec("_P")
_R = TypeVar("_R")


class _Kept(Generic[_T]):
    """A public attribute of the server that one of its parts keeps: read and set through."""

    def __init__(self, part: str, name: str = "") -> None:
        self._part = part
        self._name = name

    def __set_name__(self, owner: type, name: str) -> None:
        self._name = self._name or name

    @overload
    def __get__(self, obj: None, owner: type) -> _Kept[_T]: ...

    @overload
    def __get__(self, obj: object, owner: type) -> _T: ...

    def __get__(self, obj: object | None, owner: type) -> _T | _Kept[_T]:
        if obj is None:
            return self
        value: _T = getattr(getattr(obj, self._part), self._name)
        return value

    def __set__(self, obj: object, value: _T) -> None:
        setattr(getattr(obj, self._part), self._name, value)


def _forward(
    part: str, method: Callable[Concatenate[Any, _P], _R]
) -> Callable[Concatenate[OAuthServer, _P], _R]:
    """A method of the server that is ``method`` of one of its parts (signature and docs kept)."""

    @functools.wraps(method)
    def forwarded(server: OAuthServer, /, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        return method(getattr(server, part), *args, **kwargs)

    return forwarded


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
        resources: the resources ``/oauth2/authorize`` may bind tokens to (``resource=``,
            RFC 8707); any other is refused with ``invalid_target``. None (default): any URL
            Cognito accepts, ``https://``, ``http://localhost`` or a custom scheme.
        access_token_ttl: ``expires_in`` of the access and ID tokens it issues.
        code_ttl: seconds an authorization code can be redeemed.
        signed_in_user: whom ``/oauth2/authorize`` signs in.
        token_delay: seconds ``/oauth2/token`` waits before answering (to test concurrency).

    Inspect it with ``request_count(path)``, ``grant_counts`` and ``api_counts``; make the next
    answer of a path a fault with :meth:`inject`. The options stay settable attributes.

    ``client_secret``, ``rotate_refresh_tokens``, ``retry_grace_period``, ``device_tracking``,
    ``resources``, ``access_token_ttl`` and ``code_ttl`` go to the pool (``UserPool`` keeps
    their defaults).
    The pool's state (users, codes, refresh tokens) is a plain ``UserPool``; its routes are
    ``OAuthEndpoints`` (``/oauth2/*``), ``UserPoolAPI`` (``POST /``) and ``ManagedLogin``
    (``/oauth2/authorize``, ``/login``, ``/logout``); this class wires them together.
    """

    client_id = _Kept[str]("_pool")
    client_secret = _Kept[str | None]("_pool")
    rotate_refresh_tokens = _Kept[bool]("_pool")
    retry_grace_period = _Kept[float]("_pool")
    device_tracking = _Kept[bool]("_pool")
    access_token_ttl = _Kept[int]("_pool")
    resources = _Kept[tuple[str, ...] | None]("_pool")
    """The resources sign-ins may be bound to (RFC 8707); None: any URL Cognito accepts."""
    code_ttl = _Kept[float]("_pool")
    users = _Kept[dict[str, dict[str, str]]]("_pool")
    """Each added user's attributes (see :meth:`add_user`)."""
    unknown_operations = _Kept[frozenset[str]]("_api")
    api_counts = _Kept[Counter[str]]("_api", "counts")
    """The user-pool API operations asked for."""
    last_client_metadata = _Kept[dict[str, str] | None]("_api")
    """The ``ClientMetadata`` of the last ``GetTokensFromRefreshToken``."""
    allowed_grants = _Kept[frozenset[str]]("_oauth")
    m2m_scopes = _Kept[tuple[str, ...]]("_oauth")
    token_delay = _Kept[float]("_oauth")
    grant_counts = _Kept[Counter[str]]("_oauth")
    """The grants asked for at ``/oauth2/token``."""
    signed_in_user = _Kept[str]("_login")
    auto_sign_in = _Kept[bool | None]("_login")
    """True: ``/oauth2/authorize`` signs ``signed_in_user`` in without a form; False: always
    the form; None (default): the form when a user was added with a password."""
    allowed_logout_uris = _Kept[tuple[str, ...]]("_login")
    """The sign-out URLs ``/logout`` may redirect to (the app client's allowed sign-out URLs)."""

    def __init__(
        self,
        issuer: TokenIssuer,
        *,
        unknown_operations: Iterable[str] = (),
        allowed_grants: Iterable[str] = GRANTS,
        m2m_scopes: Iterable[str] = ("orders/read", "orders/write"),
        signed_in_user: str = "alice",
        token_delay: float = 0.0,
        host: str = "127.0.0.1",
        port: int = 0,
        **pool: Unpack[_PoolOptions],
    ) -> None:
        super().__init__(issuer, host=host, port=port)
        self._pool = UserPool(issuer, **pool)
        self._api = UserPoolAPI(self._pool, unknown_operations)
        self._oauth = OAuthEndpoints(
            self._pool,
            allowed_grants=allowed_grants,
            m2m_scopes=m2m_scopes,
            token_delay=token_delay,
        )
        self._login = ManagedLogin(self._pool, signed_in_user)
        self._faults = threading.Lock()
        self._injected: dict[str, deque[Response]] = {}
        routes: dict[str, Callable[[Request], Response]] = {
            "/oauth2/token": self._oauth.token,
            "/oauth2/revoke": self._oauth.revoke,
            "/oauth2/userInfo": self._oauth.userinfo,
            "/oauth2/authorize": self._login.authorize,
            "/login": self._login.login,
            "/logout": self._login.logout,
            "/": self._api,
        }
        for path, route in routes.items():
            self.routes[path] = self._injectable(path, route)
        self.fallback = self._discovery_or_jwks

    # -- for tests -----------------------------------------------------------------------------

    @property
    def domain(self) -> str:
        """The "hosted domain" URL to give a :class:`CognitoTokenClient` (``domain=``)."""
        return self.url

    @property
    def api_url(self) -> str:
        """The user-pool API URL to give a :class:`CognitoTokenClient` (``endpoint_url=``)."""
        return self.url + "/"

    @property
    def discovery_url(self) -> str:
        """The pool's OpenID discovery document: the issuer's path on this server + the suffix."""
        return self.url + self._issuer_path() + "/.well-known/openid-configuration"

    def openid_configuration(self) -> dict[str, Any]:
        """The discovery document, as Cognito serves it for a pool with a domain.

        Its fields are Cognito's; ``issuer`` is the tokens' ``iss`` and the endpoints are this
        server's. Like Cognito's it has no ``code_challenge_methods_supported`` (although PKCE
        works), nor ``registration_endpoint``: app clients are registered beforehand.
        """
        return {
            "authorization_endpoint": self.url + "/oauth2/authorize",
            "end_session_endpoint": self.url + "/logout",
            "id_token_signing_alg_values_supported": ["RS256"],
            "issuer": self.issuer.issuer,
            "jwks_uri": self.url + self._issuer_path() + "/.well-known/jwks.json",
            "response_types_supported": ["code", "token"],
            "revocation_endpoint": self.url + "/oauth2/revoke",
            "scopes_supported": ["openid", "email", "phone", "profile"],
            "subject_types_supported": ["public"],
            "token_endpoint": self.url + "/oauth2/token",
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "userinfo_endpoint": self.url + "/oauth2/userInfo",
        }

    def _issuer_path(self) -> str:
        return urlsplit(self.issuer.issuer).path.rstrip("/")

    def _discovery_or_jwks(self, request: Request) -> Response:
        if request.path == self._issuer_path() + "/.well-known/openid-configuration":
            if request.method != "GET":
                return Response(405, b"", {"Allow": "GET"})
            return Response.json(self.openid_configuration())
        return self._jwks(request)

    def client(self, **options: Any) -> CognitoTokenClient:
        """A :class:`CognitoTokenClient` of this app client talking to the OAuth endpoints."""
        from ..client import CognitoTokenClient  # on use: most tests of the double need none

        options.setdefault("client_secret", self.client_secret)
        options.setdefault("clock", self.issuer.clock)
        return CognitoTokenClient(self.client_id, domain=self.domain, **options)

    def api_client(self, **options: Any) -> CognitoTokenClient:
        """A :class:`CognitoTokenClient` of this app client talking to the user-pool API."""
        from ..client import CognitoTokenClient  # on use: most tests of the double need none

        options.setdefault("client_secret", self.client_secret)
        options.setdefault("clock", self.issuer.clock)
        return CognitoTokenClient(self.client_id, endpoint_url=self.api_url, **options)

    # The pool's and the sign-in page's own methods, with their signatures and docstrings.
    issue_refresh_token = _forward("_pool", UserPool.issue_refresh_token)
    device_key_of = _forward("_pool", UserPool.device_key_of)
    issue_code = _forward("_pool", UserPool.issue_code)
    is_revoked = _forward("_pool", UserPool.is_revoked)
    signed_out_at = _forward("_pool", UserPool.signed_out_at)
    signed_in_users = _forward("_login", ManagedLogin.signed_in_users)
    add_user = _forward("_pool", UserPool.add_user)

    def reset(self) -> None:
        """Forget issued tokens and codes, users (and their sign-ins), injected faults and counters.

        Lets one running server serve many tests (starting and stopping one is slower).
        """
        self._pool.reset()
        self._api.reset()
        self._login.reset()
        self._oauth.grant_counts.clear()
        with self._faults:
            self._injected.clear()
        with self._count_lock:
            self.requests.clear()

    def inject(self, path: str, response: Response, times: int = 1) -> None:
        """Answer the next ``times`` requests to ``path`` with ``response`` (a fault)."""
        with self._faults:
            self._injected.setdefault(path, deque()).extend([response] * times)

    def inject_oauth_error(self, path: str, error: str, status: int = 400) -> None:
        """Answer the next request to ``path`` with the OAuth error ``error``."""
        self.inject(path, Response.json({"error": error}, status))

    def inject_api_error(self, aws_type: str, message: str = "", status: int = 400) -> None:
        """Answer the next user-pool API request with the error ``__type`` ``aws_type``."""
        self.inject("/", api_error(aws_type, message, status))

    def _injectable(self, path: str, route: Callable[[Request], Response]) -> Route:
        def serve(request: Request) -> Response:
            with self._faults:
                queue = self._injected.get(path)
                injected = queue.popleft() if queue else None
            return injected if injected is not None else route(request)

        return serve
