"""RedisTokenCache across real OS processes: one token request for the whole fleet.

Each process (``_token_cache_worker.py``) has its own ``CognitoTokenClient``,
``RedisTokenCache`` and ``ClientCredentialsAuth``, as a deployed worker would; they meet only in
a real Redis and at the OAuth test double, which counts the token requests. Expiry is real (a
short ``access_token_ttl``): the test waits for Redis to drop the entry, with a deadline, and
asserts counts, never durations.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import pytest
from cryptography.fernet import Fernet
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

from cognito_guard._redis import RedisConnection
from cognito_guard.m2m_cache import cache_key
from cognito_guard.testing import LocalIssuer, OAuthServer

from .._polling import wait_for
from ._oauth_support import SECRET, ProtectedAPI

TOKEN = "/oauth2/token"
WORKER = Path(__file__).with_name("_token_cache_worker.py")
KEY = Fernet.generate_key().decode()
TTL = 4  # seconds: with refresh_skew=1 the shared entry is due 3 s after it was fetched


class Worker:
    """One worker process; its stderr (cognito_guard's warnings) goes to a file."""

    def __init__(self, settings: dict[str, Any]) -> None:
        self._stderr: IO[str] = tempfile.TemporaryFile("w+")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(  # noqa: S603 - our own script and settings
            [sys.executable, str(WORKER), json.dumps(settings)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
        )
        assert self._readline() == "ready", self.stderr()

    def _readline(self) -> str:
        assert self.process.stdout is not None
        return self.process.stdout.readline().strip()

    def go(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write("go\n")
        self.process.stdin.flush()

    def result(self) -> list[int]:
        line = self._readline()
        assert line, f"the worker ended without an answer: {self.stderr()}"
        statuses: list[int] = json.loads(line)
        return statuses

    def stderr(self) -> str:
        self._stderr.seek(0)
        return self._stderr.read()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=10)
        for stream in (self.process.stdin, self.process.stdout):
            if stream is not None:
                stream.close()
        self._stderr.close()


@pytest.fixture(scope="module")
def issuer(cognito_signing_keys: list[RSAPrivateKey]) -> LocalIssuer:
    return LocalIssuer(keys=cognito_signing_keys)


@pytest.fixture(scope="module")
def running(issuer: LocalIssuer) -> Iterator[tuple[OAuthServer, ProtectedAPI]]:
    with (
        issuer.serve_oauth(client_secret=SECRET, access_token_ttl=TTL) as server,
        ProtectedAPI(issuer) as api,
    ):
        yield server, api  # type: ignore[misc]


@pytest.fixture
def server(running: tuple[OAuthServer, ProtectedAPI]) -> OAuthServer:
    running[0].reset()
    return running[0]


@pytest.fixture
def api(running: tuple[OAuthServer, ProtectedAPI]) -> ProtectedAPI:
    api = running[1]
    api.seen.clear()
    return api


@pytest.fixture
def fleet(
    server: OAuthServer, api: ProtectedAPI, fleet_redis_url: str
) -> Iterator[Callable[..., list[Worker]]]:
    started: list[Worker] = []

    def start(count: int, **settings: Any) -> list[Worker]:
        base = {
            "client_id": server.client_id,
            "client_secret": SECRET,
            "domain": server.domain,
            "redis_url": fleet_redis_url,
            "encryption_key": KEY,
            "api_url": api.orders_url,
            "refresh_skew": 1,
            "requests": 8,
            "mode": "sync",
        }
        workers = [Worker({**base, **settings}) for _ in range(count)]
        started.extend(workers)
        return workers

    yield start
    for worker in started:
        worker.stop()


def entry_name(server: OAuthServer) -> str:
    return "cognito_guard:m2m:" + cache_key(
        server.domain + TOKEN, server.client_id, ["orders/read"]
    )


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_four_processes_of_eight_share_one_token_request_and_one_renewal(
    fleet: Callable[..., list[Worker]],
    server: OAuthServer,
    api: ProtectedAPI,
    fleet_redis_url: str,
    monkeypatch: pytest.MonkeyPatch,
    mode: str,
) -> None:
    monkeypatch.setattr(server, "token_delay", 0.3)  # the fetch is in flight while all arrive
    workers = fleet(4, mode=mode)
    for worker in workers:  # all 4 x 8 requests start together, on a cold cache
        worker.go()
    assert [worker.result() for worker in workers] == [[200] * 8] * 4
    assert server.request_count(TOKEN) == 1
    first = set(api.seen)
    assert len(first) == 1

    store = RedisConnection(fleet_redis_url)  # a single server's client, or a cluster's
    try:  # Redis drops the entry when it is due: so is every process's own copy
        wait_for(lambda: not store.sync.exists(entry_name(server)), 15, "the shared entry expired")
    finally:
        store.close()
    for worker in workers:
        worker.go()
    assert [worker.result() for worker in workers] == [[200] * 8] * 4
    assert server.request_count(TOKEN) == 2
    renewed = set(api.seen) - first
    assert len(renewed) == 1
    assert all("WARNING" not in worker.stderr() for worker in workers)


def test_a_lock_holder_killed_mid_fetch_blocks_nobody_past_its_lease(
    fleet: Callable[..., list[Worker]],
    server: OAuthServer,
    api: ProtectedAPI,
    fleet_redis_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(server, "token_delay", 1.0)  # long enough to kill the fetcher in it
    holder, other = fleet(2, lock_lease=2.5, timeout=2.0)
    holder.go()
    wait_for(lambda: server.request_count(TOKEN) == 1, 15, "the holder's token request")
    os.kill(holder.process.pid, signal.SIGKILL)
    holder.process.wait(timeout=10)
    store = RedisConnection(fleet_redis_url)
    try:
        assert store.sync.exists(entry_name(server) + ":lock")  # the dead holder's lock is left
        assert not store.sync.exists(entry_name(server))
    finally:
        store.close()

    other.go()
    assert other.result() == [200] * 8
    assert server.request_count(TOKEN) == 2  # the dead holder's, then one after the lease
    assert len(set(api.seen)) == 1
