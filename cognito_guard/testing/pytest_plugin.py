"""pytest fixtures for testing applications protected by cognito_guard (registered automatically).

Example::

    def test_orders(cognito_issuer, cognito_verifier):
        token = cognito_issuer.access_token(scopes=["orders/read"])
        assert cognito_verifier.verify(token).scopes >= {"orders/read"}
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import NoReturn, TypeVar

import pytest
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

from ..verifier import CognitoVerifier
from .issuer import LocalIssuer, generate_rsa_key
from .redis import RedisServer, RedisServerNotFound
from .redis_cluster import RedisClusterServer
from .server import JWKSServer


@pytest.fixture(scope="session")
def cognito_signing_keys() -> list[RSAPrivateKey]:
    """Two RSA-2048 private keys, generated once per test session (key generation is slow)."""
    return [generate_rsa_key(), generate_rsa_key()]


@pytest.fixture
def cognito_issuer(cognito_signing_keys: list[RSAPrivateKey]) -> LocalIssuer:
    """A fresh :class:`LocalIssuer` (pool ``us-east-1_LocalPool1``) using the session's keys."""
    return LocalIssuer(keys=cognito_signing_keys)


@pytest.fixture
def cognito_jwks_server(cognito_issuer: LocalIssuer) -> Iterator[JWKSServer]:
    """The issuer's JWKS served over real HTTP on 127.0.0.1."""
    with cognito_issuer.serve() as server:
        yield server


@pytest.fixture
def cognito_verifier(
    cognito_issuer: LocalIssuer, cognito_jwks_server: JWKSServer
) -> CognitoVerifier:
    """A verifier for the issuer's access tokens, fetching keys from ``cognito_jwks_server``."""
    return cognito_issuer.verifier(jwks_uri=cognito_jwks_server.jwks_uri)


def _missing(exc: RedisServerNotFound) -> NoReturn:
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true and {exc}")
    pytest.skip(str(exc))


def redis_server_or_skip(**options: object) -> RedisServer:
    """A started :class:`RedisServer`; skips the test when no server binary is installed (or,
    with ``tls=True``, none built with TLS).

    Under ``CI=true`` a missing server fails the test instead: CI must install one.
    """
    try:
        server = RedisServer(**options)  # type: ignore[arg-type]
    except RedisServerNotFound as exc:
        _missing(exc)
    return _started(server)


def redis_cluster_or_skip(**options: object) -> RedisClusterServer:
    """A started :class:`~cognito_guard.testing.redis_cluster.RedisClusterServer` (skipped, or
    failed under ``CI=true``, like :func:`redis_server_or_skip`). Close it when done."""
    try:
        cluster = RedisClusterServer(**options)  # type: ignore[arg-type]
    except RedisServerNotFound as exc:
        _missing(exc)
    return _started(cluster)


_S = TypeVar("_S", RedisServer, RedisClusterServer)


def _started(service: _S) -> _S:
    """``service`` started; closed (its directory removed) when it cannot start."""
    try:
        return service.start()
    except RedisServerNotFound as exc:  # the binary cannot serve TLS
        service.close()
        _missing(exc)
    except BaseException:
        service.close()
        raise


@pytest.fixture(scope="session")
def cognito_redis_server() -> Iterator[RedisServer]:
    """A real Redis-compatible server on 127.0.0.1, one per test session.

    Skipped (with the reason) when no server is installed, except under ``CI=true``. Tests that
    stop or restart Redis should start their own :class:`RedisServer` instead.
    """
    yield from _until_closed(redis_server_or_skip())


@pytest.fixture
def cognito_redis_url(cognito_redis_server: RedisServer) -> str:
    """The URL of the session's Redis server, flushed before the test."""
    return _flushed(cognito_redis_server)


def _until_closed(service: _S) -> Iterator[_S]:
    try:
        yield service
    finally:
        service.close()


def _flushed(service: RedisServer | RedisClusterServer) -> str:
    """The URL of ``service``, running (a test may have stopped it) and flushed."""
    if not service.running:
        service.start()
    service.flushall()
    return service.url


@pytest.fixture(scope="session")
def cognito_redis_cluster() -> Iterator[RedisClusterServer]:
    """A real Redis Cluster on 127.0.0.1 (three masters, a replica each), one per test session.

    Skipped like ``cognito_redis_server`` when no server is installed (failed under
    ``CI=true``). Tests that kill nodes should start their own :class:`RedisClusterServer`.
    """
    yield from _until_closed(redis_cluster_or_skip())


@pytest.fixture
def cognito_redis_cluster_url(cognito_redis_cluster: RedisClusterServer) -> str:
    """The URL of one node of the session's cluster (a node a test killed is started again),
    every master flushed before the test."""
    return _flushed(cognito_redis_cluster)
