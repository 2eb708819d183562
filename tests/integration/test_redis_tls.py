"""rediss:// against real TLS servers (a single one, and a cluster) with a throwaway CA, the CA
given in the URL's query as ElastiCache Serverless (TLS only) users would give theirs."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import quote

import pytest
import redis
from cryptography.fernet import Fernet

from cognito_guard._redis import RedisConnection
from cognito_guard.revocation import RedisRevocations
from cognito_guard.sessions import RedisSessionStore, SessionStoreUnavailable
from cognito_guard.testing import RedisClusterServer, RedisServer
from cognito_guard.testing.pytest_plugin import redis_cluster_or_skip, redis_server_or_skip

from .._polling import wait_for

KEY = Fernet.generate_key()


@pytest.fixture(scope="module")
def tls_server() -> Iterator[RedisServer]:
    server = redis_server_or_skip(tls=True)
    yield server
    server.close()


@pytest.fixture(scope="module")
def tls_cluster() -> Iterator[RedisClusterServer]:
    cluster = redis_cluster_or_skip(tls=True, masters=3, replicas=0)
    yield cluster
    cluster.close()


def _round_trip(url: str) -> None:
    store = RedisSessionStore(url, encryption_key=KEY)
    try:
        store.put("s-tls", {"sub": "u"}, 60)
        assert store.get("s-tls") == {"sub": "u"}
    finally:
        store.close()
    with RedisRevocations(url, resync_interval=0.1) as writer, RedisRevocations(url) as reader:
        assert writer.wait_synced() and reader.wait_synced()
        writer.revoke_session("o-tls")
        wait_for(lambda: reader.is_revoked({"origin_jti": "o-tls"}), 10, "the revocation over TLS")


def test_rediss_with_the_ca_in_the_url_verifies_the_server(tls_server: RedisServer) -> None:
    assert tls_server.tls_files is not None
    url = tls_server.url
    assert url.startswith("rediss://") and "?ssl_ca_certs=" in url
    conn = RedisConnection(url)
    try:
        assert conn.sync.ping() and conn.cluster is False
        connection = conn.sync.connection_pool.get_connection()  # type: ignore[union-attr]
        try:
            assert isinstance(connection, redis.SSLConnection)
            assert connection.ca_certs == str(tls_server.tls_files.ca)
        finally:
            conn.sync.connection_pool.release(connection)  # type: ignore[union-attr]
    finally:
        conn.close()
    _round_trip(url)


def test_without_the_ca_the_server_certificate_is_refused(tls_server: RedisServer) -> None:
    bare = f"rediss://127.0.0.1:{tls_server.port}/0"
    store = RedisSessionStore(bare, encryption_key=KEY, timeout=1.0)
    try:
        with pytest.raises(SessionStoreUnavailable, match="certificate verify failed"):
            store.put("s-1", {"n": 1}, 60)
    finally:
        store.close()
    # Other TLS options reach redis-py from the query too: here, verification required
    # explicitly, with the CA's path percent-encoded.
    assert tls_server.tls_files is not None
    ca = quote(str(tls_server.tls_files.ca), safe="")
    explicit = f"{bare}?ssl_cert_reqs=required&ssl_ca_certs={ca}&ssl_check_hostname=true"
    conn = RedisConnection(explicit)
    try:
        assert conn.sync.ping()
    finally:
        conn.close()


def test_a_tls_cluster_from_the_url_of_one_node(tls_cluster: RedisClusterServer) -> None:
    url = tls_cluster.url
    assert url.startswith("rediss://")
    conn = RedisConnection(url)
    try:
        for n in range(10):  # keys on every master: every node is reached over TLS
            conn.sync.set(f"cg:tls:{n}", b"v")
        assert conn.cluster is True
    finally:
        conn.close()
    _round_trip(url)
