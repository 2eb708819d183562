"""The three Redis features against a real Redis Cluster (three masters, a replica each), given
the URL of one node, as ElastiCache Serverless, cluster-mode ElastiCache and MemoryDB are used.

Every wait polls for a condition with a bounded deadline; nothing asserts a duration.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis
import redis.asyncio
import redis.asyncio.cluster
import redis.cluster
from cryptography.fernet import Fernet

from cognito_guard import ConfigurationError, RevocationsUnavailableError
from cognito_guard._redis import RedisConnection
from cognito_guard.revocation import RedisRevocations, read_entries
from cognito_guard.sessions import RedisSessionStore, SessionStoreUnavailable
from cognito_guard.testing import RedisClusterServer
from cognito_guard.testing.pytest_plugin import redis_cluster_or_skip

from .._polling import wait_for

KEY = Fernet.generate_key()
FAST = {"resync_interval": 0.1, "max_staleness": 30.0}
# A reader that re-syncs only after the test is over: what it knows came as a message.
BY_MESSAGE = {"resync_interval": 60.0, "max_staleness": 120.0}


@pytest.fixture
def cluster(cognito_redis_cluster: RedisClusterServer, cognito_redis_cluster_url: str) -> Any:
    return cognito_redis_cluster


def slot(cluster: RedisClusterServer, key: str) -> int:
    return cluster.slot_of(key)


# -- detection ----------------------------------------------------------------------------------


def test_the_url_of_any_node_is_found_to_be_a_cluster_and_a_single_server_is_not(
    cluster: RedisClusterServer, cognito_redis_url: str
) -> None:
    for node in cluster.nodes:  # masters and replicas alike
        conn = RedisConnection(cluster.node_url(node))
        try:
            assert conn.cluster is None  # nothing is asked before the first connection
            assert isinstance(conn.sync, redis.cluster.RedisCluster)
            assert conn.cluster is True
            for n in range(20):  # keys of every master: the client follows the slots
                conn.sync.set(f"cg:{n}", b"v")
                assert conn.sync.get(f"cg:{n}") == b"v"
        finally:
            conn.close()
    single = RedisConnection(cognito_redis_url)
    try:
        assert isinstance(single.sync, redis.Redis) and single.cluster is False
    finally:
        single.close()


def test_an_asyncio_client_finds_the_cluster_too(
    cluster: RedisClusterServer, cognito_redis_url: str
) -> None:
    async def kinds() -> list[object]:
        found = []
        for url in (cluster.url, cognito_redis_url):
            conn = RedisConnection(url)
            client = await conn.for_loop()
            await client.set("cg:async", b"x")
            assert await client.get("cg:async") == b"x"
            found.append((type(client), conn.cluster))
            await conn.aclose()
        return found

    assert asyncio.run(kinds()) == [
        (redis.asyncio.cluster.RedisCluster, True),
        (redis.asyncio.Redis, False),
    ]


def test_a_database_other_than_0_on_a_cluster_is_refused(cluster: RedisClusterServer) -> None:
    url = cluster.url.replace("/0", "/2")
    conn = RedisConnection(url)
    with pytest.raises(ConfigurationError, match="database 0 only"):
        conn.sync  # noqa: B018
    with pytest.raises(ConfigurationError, match="database 0 only"):
        asyncio.run(conn.for_loop())
    with pytest.raises(ConfigurationError, match="database 0 only"):
        RedisRevocations(url, **FAST)  # type: ignore[arg-type]
    store = RedisSessionStore(url, encryption_key=KEY)
    with pytest.raises(ConfigurationError, match="database 0 only"):
        store.get("s-1")
    conn = RedisConnection(cluster.url.replace("/0", ""))
    try:
        assert conn.sync.ping()  # no database: fine
    finally:
        conn.close()
    for command in (["revoke", "--jti", "j-1"], ["revocations"]):  # the CLI says so too
        result = subprocess.run(  # noqa: S603 - this interpreter and our own module
            [sys.executable, "-m", "cognito_guard.cli", *command, "--redis", url],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 2 and "database 0 only" in result.stderr, result.stderr


def test_a_plain_client_connected_to_a_cluster_node_is_refused(cluster: RedisClusterServer) -> None:
    plain = redis.Redis.from_url(cluster.url)
    try:
        with pytest.raises(ConfigurationError, match=r"redis\.cluster\.RedisCluster"):
            RedisRevocations(client=plain, **FAST)  # type: ignore[arg-type]
        with pytest.raises(ConfigurationError, match=r"redis\.cluster\.RedisCluster"):
            RedisSessionStore(client=plain, encryption_key=KEY).get("s-1")

        async def async_side() -> None:
            async_plain = redis.asyncio.Redis.from_url(cluster.url)
            conn = RedisConnection(client=plain, async_client=async_plain)
            try:
                with pytest.raises(ConfigurationError, match=r"redis\.cluster\.RedisCluster"):
                    await conn.for_loop()
            finally:
                await async_plain.aclose()

        asyncio.run(async_side())
    finally:
        plain.close()
    client = redis.cluster.RedisCluster.from_url(cluster.url)
    async_client = redis.asyncio.Redis.from_url(cluster.url)  # connects only when used
    try:
        with pytest.raises(ConfigurationError, match="both be cluster clients"):
            RedisConnection(client=client, async_client=async_client)
    finally:
        client.close()


# -- the revocation list ------------------------------------------------------------------------


def test_revocations_live_in_one_slot_and_travel_by_sharded_pub_sub(
    cluster: RedisClusterServer,
) -> None:
    replica_url = cluster.node_url(cluster.nodes[-1])  # any node's URL will do
    with (
        RedisRevocations(cluster.url, **FAST) as writer,  # type: ignore[arg-type]
        RedisRevocations(replica_url, **BY_MESSAGE) as r,  # type: ignore[arg-type]
    ):
        assert writer.wait_synced() and r.wait_synced()
        writer.revoke_session("o-1")
        writer.sign_out_user("u-1", at=time.time())
        asyncio.run(writer.arevoke_token("j-1"))  # the async write: a script on the loop's client
        wait_for(lambda: r.is_revoked({"jti": "j-1"}))
        assert r.is_revoked({"origin_jti": "o-1"})
        assert r.is_revoked({"sub": "u-1", "iat": time.time() - 60})
        assert r.loads == 1  # all three arrived as (sharded) messages

        # Both keys and the channel share the hash tag {revocations}: one slot.
        names = ["cognito_guard:{revocations}", "cognito_guard:{revocations}:version"]
        assert slot(cluster, names[0]) == slot(cluster, names[1])
        master = cluster.master_of(names[0])
        assert cluster.command(master, "ZCARD", names[0]) == 3
        assert cluster.command(master, "GET", names[1]) == b"3"
        _, subscribers = cluster.command(master, "PUBSUB", "SHARDNUMSUB", names[0])
        assert subscribers >= 2  # each list's thread, on the slot's master

    conn = RedisConnection(cluster.url)  # what the CLI reads
    try:
        entries, bad = read_entries(conn)
    finally:
        conn.close()
    assert bad == 0 and {e.id for e in entries} == {"o-1", "u-1", "j-1"}
    with RedisRevocations(cluster.url, **FAST) as later:  # type: ignore[arg-type]
        assert later.wait_synced() and later.is_revoked({"jti": "j-1"})


def test_a_prefix_with_its_own_hash_tag_keeps_that_slot(cluster: RedisClusterServer) -> None:
    options: dict[str, Any] = {"prefix": "{tenant-7}:", **FAST}
    with RedisRevocations(cluster.url, **options) as revocations:
        revocations.revoke_token("j-tag")
    master = cluster.master_of("{tenant-7}")
    assert cluster.command(master, "ZCARD", "{tenant-7}:{revocations}") == 1
    assert cluster.command(master, "GET", "{tenant-7}:{revocations}:version") == b"1"


@pytest.mark.parametrize("prefix", ["{}", "app{}:", "x{}{y}:"])
def test_a_prefix_with_an_empty_hash_tag_is_refused(prefix: str) -> None:
    url = "redis://127.0.0.1:1/0"
    with pytest.raises(ConfigurationError, match="empty hash tag"):
        RedisRevocations(url, prefix=prefix, start_timeout=0)
    with pytest.raises(ConfigurationError, match="empty hash tag"):
        RedisSessionStore(url, prefix=prefix, encryption_key=KEY)
    from cognito_guard.m2m_cache import RedisTokenCache

    with pytest.raises(ConfigurationError, match="empty hash tag"):
        RedisTokenCache(url, prefix=prefix, encryption_key=KEY)


def test_cluster_clients_passed_in(cluster: RedisClusterServer) -> None:
    client = redis.cluster.RedisCluster.from_url(cluster.url)
    try:

        async def arevoke(revocations: RedisRevocations) -> None:
            await revocations.arevoke_token("j-passed")
            await async_client.aclose()

        async_client = redis.asyncio.cluster.RedisCluster.from_url(cluster.url)
        options: dict[str, Any] = {"client": client, "async_client": async_client, **FAST}
        with RedisRevocations(**options) as revocations:
            revocations.revoke_session("o-passed")
            asyncio.run(arevoke(revocations))
        store = RedisSessionStore(client=client, encryption_key=KEY)
        store.put("s-passed", {"sub": "u"}, 60)
        assert store.get("s-passed") == {"sub": "u"}
        assert client.zcard("cognito_guard:{revocations}") == 2
        assert client.ping()  # a client passed in stays open
    finally:
        client.close()


CLUSTER_LEAST_PRIVILEGE = (
    "on >api-pw ~cognito_guard:* &cognito_guard:* +zadd +zrangebyscore +zremrangebyscore "
    "+expireat +incrby +get +evalsha +script|load +spublish +ssubscribe +ping "
    "+cluster|info +cluster|slots +command"
)


def test_the_least_privilege_acl_user_of_the_docs_is_enough_on_a_cluster(
    cluster: RedisClusterServer,
) -> None:
    for node in cluster.nodes:  # ACL users are per node
        cluster.command(node, "ACL", "SETUSER", "api", *CLUSTER_LEAST_PRIVILEGE.split())
    try:
        url = cluster.url.replace("redis://", "redis://api:api-pw@")
        with (
            RedisRevocations(url, **FAST) as writer,  # type: ignore[arg-type]
            RedisRevocations(url, **BY_MESSAGE) as reader,  # type: ignore[arg-type]
        ):
            assert writer.wait_synced() and reader.wait_synced()
            writer.revoke_session("o-acl")
            wait_for(lambda: reader.is_revoked({"origin_jti": "o-acl"}))
            assert reader.loads == 1  # by message
    finally:
        for node in cluster.nodes:
            cluster.command(node, "ACL", "DELUSER", "api")


# -- sessions -----------------------------------------------------------------------------------


def test_sessions_spread_over_the_slots_and_sign_ins_share_one(cluster: RedisClusterServer) -> None:
    store = RedisSessionStore(cluster.url, encryption_key=KEY)
    try:
        for n in range(20):
            store.put(f"s-{n}", {"n": n}, 60)
        assert [store.get(f"s-{n}") for n in range(20)] == [{"n": n} for n in range(20)]
        assert store.replace("s-3", {"n": 33}, 60) and store.get("s-3") == {"n": 33}
        store.delete("s-3")
        assert store.get("s-3") is None and not store.replace("s-3", {"n": 3}, 60)
        with store.lock("s-4", lease=5, wait=1):
            pass
        store.put_login("state-1", {"return_to": "/"}, 60)
        assert store.take_login("state-1") == {"return_to": "/"}
        assert store.take_login("state-1") is None
        conn = store.connection.sync
        session_slots = {conn.keyslot(key) for key in conn.scan_iter("cognito_guard:session:*")}
        assert len(session_slots) > 1  # each session key alone: spread over the cluster
        states = ["cognito_guard:{logins}:states", "cognito_guard:{logins}:expiries"]
        assert slot(cluster, states[0]) == slot(cluster, states[1])
    finally:
        store.close()


# -- faults -------------------------------------------------------------------------------------


@pytest.fixture
def small_cluster() -> Iterator[RedisClusterServer]:
    cluster = redis_cluster_or_skip(masters=1, replicas=0)
    yield cluster
    cluster.close()


def test_a_cluster_down_is_each_features_own_unavailable_and_recovers(
    small_cluster: RedisClusterServer,
) -> None:
    store = RedisSessionStore(small_cluster.url, encryption_key=KEY, timeout=0.5)
    options: dict[str, Any] = {"timeout": 0.5, **FAST}
    with RedisRevocations(small_cluster.url, **options) as revocations:
        store.put("s-1", {"n": 1}, 60)
        small_cluster.stop()
        with pytest.raises(SessionStoreUnavailable):
            store.get("s-1")
        with pytest.raises(RevocationsUnavailableError):
            revocations.revoke_token("j-down")
        assert revocations.is_revoked({"jti": "j-down"})  # this process refuses it anyway
        small_cluster.start()  # back, empty, the same slots: no restart of this process
        wait_for(lambda: _works(lambda: store.put("s-2", {"n": 2}, 60)), timeout=30)
        assert store.get("s-2") == {"n": 2}
        wait_for(lambda: _works(lambda: revocations.revoke_token("j-up")), timeout=30)
    store.close()


def _works(operation: Callable[[], object]) -> bool:
    try:
        operation()
    except (SessionStoreUnavailable, RevocationsUnavailableError):
        return False
    return True
