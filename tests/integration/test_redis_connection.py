"""RedisConnection against a real Redis-compatible server (cognito_guard.testing.RedisServer)."""

from __future__ import annotations

import asyncio
import threading

import pytest
import redis

from cognito_guard._redis import RedisConnection, unavailable_errors
from cognito_guard.testing import RedisServer
from cognito_guard.testing.pytest_plugin import redis_server_or_skip


def test_sync_round_trip(cognito_redis_url: str) -> None:
    conn = RedisConnection(cognito_redis_url)
    try:
        conn.sync.set("cg:test", b"value")
        assert conn.sync.get("cg:test") == b"value"
    finally:
        conn.close()


def test_the_fixture_flushes_between_tests(cognito_redis_url: str) -> None:
    conn = RedisConnection(cognito_redis_url)
    try:
        assert conn.sync.get("cg:test") is None
    finally:
        conn.close()


def test_one_async_client_per_event_loop(cognito_redis_url: str) -> None:
    conn = RedisConnection(cognito_redis_url)
    clients: list[object] = []

    async def use() -> bytes | None:
        client = await conn.for_loop()
        clients.append(client)
        assert await conn.for_loop() is client  # the same loop keeps its client
        await client.set("cg:async", b"x")
        value: bytes | None = await client.get("cg:async")
        await conn.aclose()
        return value

    results: list[bytes | None] = []
    threads = [
        threading.Thread(target=lambda: results.append(asyncio.run(use()))) for _ in range(3)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [b"x", b"x", b"x"]
    assert len({id(client) for client in clients}) == 3


def test_password_and_acl_user() -> None:
    server = redis_server_or_skip(password="hunter2", acl_user=("app", "s3cret"))
    conns = [
        RedisConnection(url)
        for url in (server.url, server.acl_url(), f"redis://:nope@127.0.0.1:{server.port}/0")
    ]
    try:
        assert conns[0].sync.ping() is True
        assert conns[1].sync.ping() is True
        with pytest.raises(redis.AuthenticationError):
            conns[2].sync.ping()
    finally:
        for conn in conns:
            conn.close()
        server.close()


def test_unreachable_server_is_a_connection_error_after_the_timeout() -> None:
    server = redis_server_or_skip()
    url = server.url
    server.close()
    conn = RedisConnection(url, timeout=0.5)
    try:
        with pytest.raises(unavailable_errors()):
            conn.sync.ping()
    finally:
        conn.close()


def test_stop_and_start_keep_the_port_and_lose_the_data() -> None:
    server: RedisServer = redis_server_or_skip()
    conn = RedisConnection(server.url)
    try:
        conn.sync.set("k", b"v")
        server.stop()
        assert not server.running
        with pytest.raises(unavailable_errors()):
            conn.sync.get("k")
        server.start()
        assert conn.sync.get("k") is None  # redis-py reconnects by itself
    finally:
        conn.close()
        server.close()


def test_a_loop_per_request_closes_its_client_when_the_loop_ends(cognito_redis_url: str) -> None:
    # Flask and asgiref run each async view on a loop of its own; nothing calls aclose() there.
    # The suite turns ResourceWarnings (unclosed sockets) into errors, so a leak fails this test.
    import gc

    conn = RedisConnection(cognito_redis_url)

    async def request() -> bytes | None:
        value: bytes | None = await (await conn.for_loop()).get("cg:missing")
        return value

    try:
        for _ in range(5):
            assert asyncio.run(request()) is None
        gc.collect()
        assert len(conn._async) == 0  # the finished loops are gone, and their clients closed
        info = conn.sync.client_list()
        assert len(info) == 1  # only the sync client's own connection is left
    finally:
        conn.close()
