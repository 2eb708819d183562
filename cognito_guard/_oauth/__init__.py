"""The token-lifecycle protocol of :mod:`cognito_guard.client`, written once and free of I/O.

Every operation (refresh, client credentials, code exchange, revoke, userInfo, global sign-out) is
a generator in the manner of ``httpx.Auth.auth_flow`` and
:meth:`cognito_guard.keys.KeyStore._fetch_flow`: it yields an :class:`HttpCall` and receives the
:class:`HttpReply`, or yields a :class:`VerifyIdToken` and receives the verified claims, and
finally returns its result. The sync and async methods of
:class:`~cognito_guard.client.CognitoTokenClient` are thin drivers that feed these generators from
``httpx.Client`` or ``httpx.AsyncClient``, so the protocol (which request, how to read the answer,
which error it means) exists exactly once.

Secrets never leave through error text: every call carries the values it must not reveal
(``redact``), and any text taken from Cognito's answer is scrubbed of them before it is put into
an exception.

- :mod:`.wire`: the steps (:class:`HttpCall`, :class:`HttpReply`, :class:`VerifyIdToken`), the
  requests of both APIs and how their answers are read;
- :mod:`.tokens`: :class:`TokenSet`, built from either answer format;
- :mod:`.flows`: client credentials, code exchange, revoke, userInfo, ``GlobalSignOut``;
- :mod:`.refresh`: the refresh, its retry and its fallback where the user-pool API lacks
  ``GetTokensFromRefreshToken``.
"""

from __future__ import annotations

from ..errors import OAuthError, TokenEndpointUnavailable, UnsupportedOperationError
from .flows import (
    client_credentials_flow,
    exchange_code_flow,
    global_sign_out_flow,
    revoke_flow,
    user_pool_api_url,
    userinfo_flow,
)
from .refresh import refresh_flow, says_unknown_operation
from .tokens import TokenSet, unverified_claims
from .wire import (
    API_CONTENT_TYPE,
    API_TARGET_PREFIX,
    Endpoint,
    HttpCall,
    HttpReply,
    api_error_code,
    read_api_reply,
    read_oauth_reply,
    scrub,
    secret_hash,
)

# The error classes live in errors.py; named here too for the modules that import them from _oauth.
__all__ = [
    "API_CONTENT_TYPE",
    "API_TARGET_PREFIX",
    "Endpoint",
    "HttpCall",
    "HttpReply",
    "OAuthError",
    "TokenEndpointUnavailable",
    "TokenSet",
    "UnsupportedOperationError",
    "api_error_code",
    "client_credentials_flow",
    "exchange_code_flow",
    "global_sign_out_flow",
    "read_api_reply",
    "read_oauth_reply",
    "refresh_flow",
    "revoke_flow",
    "says_unknown_operation",
    "scrub",
    "secret_hash",
    "unverified_claims",
    "user_pool_api_url",
    "userinfo_flow",
]
