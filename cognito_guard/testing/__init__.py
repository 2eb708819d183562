"""Test helpers: a local Cognito issuer, real loopback servers, and pytest fixtures.

Everything here is public and documented so that applications can test their protected views
without an AWS account. The pytest fixtures (``cognito_issuer``, ``cognito_jwks_server``,
``cognito_verifier``, ``cognito_redis_url``, ``cognito_redis_cluster_url``) are registered
automatically when cognito_guard is installed.

Example::

    from cognito_guard.testing import LocalIssuer

    issuer = LocalIssuer()
    with issuer.serve() as server:
        verifier = issuer.verifier(jwks_uri=server.jwks_uri)
        claims = verifier.verify(issuer.access_token(scopes=["orders/read"]))
"""

from __future__ import annotations

from .clock import ManualClock
from .issuer import OMIT, LocalIssuer, SigningKey, b64url, generate_rsa_key
from .oauth import OAuthServer
from .process import AppProcess
from .redis import RedisServer, find_redis_server
from .redis_cluster import RedisClusterServer
from .server import JWKSServer, LoopbackServer, Request, Response

__all__ = [
    "OMIT",
    "AppProcess",
    "JWKSServer",
    "LocalIssuer",
    "LoopbackServer",
    "ManualClock",
    "OAuthServer",
    "RedisClusterServer",
    "RedisServer",
    "Request",
    "Response",
    "SigningKey",
    "b64url",
    "find_redis_server",
    "generate_rsa_key",
]
