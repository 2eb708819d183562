"""A master failover on a real Redis Cluster, survived by running processes without a restart.

The master serving the revocation list's slot is killed (SIGKILL) and its replica promoted. Two
verifier processes keep verifying meanwhile: a 503 is allowed during the failover, a wrong
verdict never. A revocation made before the failover stays refused, one made after it
propagates, and the session store and the M2M token cache of this process keep working. The
timeline is printed (``pytest -s``); nothing asserts a duration.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import pytest
from cryptography.fernet import Fernet

from cognito_guard import RevocationsUnavailableError
from cognito_guard.client import RedisTokenCache, TokenSet
from cognito_guard.m2m_cache import CacheRequest
from cognito_guard.revocation import RedisRevocations
from cognito_guard.sessions import RedisSessionStore, SessionStoreUnavailable
from cognito_guard.testing import LocalIssuer, RedisClusterServer
from cognito_guard.testing.pytest_plugin import redis_cluster_or_skip

LIST = "cognito_guard:{revocations}"
KEY = Fernet.generate_key()
T = TypeVar("T")

# A verifier process, failing closed after 2 s without a sync. It verifies three tokens in a
# loop until told to stop (or for 2 minutes at most); it reports each first refusal, then a
# summary.
CHILD = """
import json, os, sys, threading, time
from cognito_guard import CognitoVerifier, RevocationsUnavailableError, RevokedTokenError
from cognito_guard.revocation import RedisRevocations
tokens = json.loads(os.environ["TOKENS"])
stop = threading.Event()
with RedisRevocations(os.environ["REDIS_URL"], resync_interval=0.2, max_staleness=2) as revs:
    verifier = CognitoVerifier(user_pool_id=os.environ["POOL"], client_id=os.environ["CLIENT"],
                               jwks=json.loads(os.environ["JWKS"]), revocations=revs)
    threading.Thread(target=lambda: (sys.stdin.readline(), stop.set()), daemon=True).start()
    print("ready", flush=True)
    first, wrong, unavailable, verdicts = {}, [], 0, 0
    deadline = time.monotonic() + 120  # a stuck test fails rather than hangs
    while not stop.is_set() and time.monotonic() < deadline:
        for name, token in tokens.items():
            try:
                verifier.verify(token)
                refused = False
            except RevokedTokenError:
                refused = True
            except RevocationsUnavailableError:
                unavailable += 1
                continue
            verdicts += 1
            if refused and name not in first:
                first[name] = time.time()
                print(json.dumps({"refused": name, "at": first[name]}), flush=True)
            if (not refused and name in first) or (refused and name == "never"):
                wrong.append(name)
        time.sleep(0.002)
    summary = {"wrong": wrong, "unavailable": unavailable, "verdicts": verdicts}
    print(json.dumps(summary), flush=True)
"""


@pytest.fixture
def cluster() -> Iterator[RedisClusterServer]:
    cluster = redis_cluster_or_skip()  # its own: this test kills a master
    yield cluster
    cluster.close()


def _on(cluster: RedisClusterServer, node: Any, name: Callable[[int], str]) -> int:
    """The first n whose key ``name(n)`` is served by ``node``."""
    return next(n for n in range(10_000) if cluster.master_of(name(n)) is node)


def _eventually(operation: Callable[[], T], unavailable: type[Exception]) -> tuple[T, int]:
    """(what ``operation`` returns, how many "unavailable" answers came first)."""
    refused = 0
    deadline = time.monotonic() + 30
    while True:
        try:
            return operation(), refused
        except unavailable:
            refused += 1
            assert time.monotonic() < deadline, "still unavailable 30 s after the promotion"
            time.sleep(0.05)


def test_a_master_failover_is_survived_without_a_restart(
    cluster: RedisClusterServer, cognito_issuer: LocalIssuer
) -> None:
    claims = {name: cognito_issuer.access_token_claims() for name in ("before", "after", "never")}
    tokens = {name: cognito_issuer.sign(value) for name, value in claims.items()}
    origin = {name: value["origin_jti"] for name, value in claims.items()}
    env = {k: v for k, v in os.environ.items() if not k.startswith("COGNITO_")}
    env.update(
        REDIS_URL=cluster.url,
        TOKENS=json.dumps(tokens),
        POOL=cognito_issuer.user_pool_id,
        CLIENT=cognito_issuer.client_id,
        JWKS=json.dumps(cognito_issuer.jwks),
    )
    children = [
        subprocess.Popen(  # noqa: S603 - this interpreter and our own script
            [sys.executable, "-c", CHILD],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    writer = RedisRevocations(cluster.url)
    store = RedisSessionStore(cluster.url, encryption_key=KEY)
    fetches: list[int] = []

    def fetch() -> TokenSet:
        fetches.append(1)
        return TokenSet(access_token=f"m2m-{len(fetches)}", expires_in=3600, expires_at=1e12)

    def m2m(cache: RedisTokenCache, key: str) -> TokenSet:
        return cache.get(CacheRequest(key, 60, time.time), fetch)

    caches = [RedisTokenCache(cluster.url, encryption_key=KEY) for _ in range(3)]
    try:
        for child in children:
            assert child.stdout is not None and child.stdout.readline().strip() == "ready"

        # Before: a revocation every process refuses; a session and a shared M2M token whose
        # keys live on the master about to die.
        master = cluster.master_of(LIST)
        n = _on(cluster, master, lambda n: "cognito_guard:session:" + _sha(f"s-{n}"))
        session = f"s-{n}"
        m = _on(cluster, master, lambda m: f"cognito_guard:m2m:k-{m}")
        m2m_key = f"k-{m}"
        writer.revoke_session(origin["before"])
        for child in children:
            assert _event(child)["refused"] == "before"
        store.put(session, {"sub": "u-1"}, 600)
        assert m2m(caches[0], m2m_key).access_token == "m2m-1"
        assert m2m(caches[1], m2m_key).access_token == "m2m-1"  # shared: no second fetch
        assert cluster.command(master, "WAIT", 1, 5000) == 1  # its replica has it all

        killed = time.time()
        cluster.kill(master)
        cluster.wait_for_failover(master, LIST)
        promoted = time.time()

        # After: a new revocation propagates; the same objects keep working.
        _, write_refusals = _eventually(
            lambda: writer.revoke_session(origin["after"]), RevocationsUnavailableError
        )
        written = time.time()
        refusals = [_event(child) for child in children]
        assert all(event["refused"] == "after" for event in refusals)
        record, store_refusals = _eventually(lambda: store.get(session), SessionStoreUnavailable)
        assert record == {"sub": "u-1"}  # replicated before the kill, read from the new master
        store.put(session + "-new", {"sub": "u-2"}, 600)
        assert store.get(session + "-new") == {"sub": "u-2"}
        assert m2m(caches[1], m2m_key).access_token == "m2m-1"
        assert m2m(caches[2], m2m_key).access_token == "m2m-1"  # a third process shares it
        assert len(fetches) == 1
        with RedisRevocations(cluster.url) as later:  # a process started after the failover
            assert later.is_revoked({"origin_jti": origin["before"]})
            assert later.is_revoked({"origin_jti": origin["after"]})
    finally:
        summaries = [_stop(child) for child in children]
        writer.close()
        store.close()
        for cache in caches:
            cache.close()

    for summary in summaries:
        assert summary["wrong"] == [], summary  # never a wrong verdict
        assert summary["verdicts"] > 0
    first_refusal = min(event["at"] for event in refusals)
    print(
        "\nfailover timeline (s after the kill): "
        f"promotion {promoted - killed:.2f}, revocation written {written - killed:.2f} "
        f"(after {write_refusals} unavailable answers), first process refuses it "
        f"{first_refusal - killed:.2f}, every process {max(e['at'] for e in refusals) - killed:.2f}"
        f"; session store after {store_refusals} unavailable answers; "
        f"503s while verifying: {[s['unavailable'] for s in summaries]}"
    )


def _sha(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _event(child: subprocess.Popen[str]) -> dict[str, Any]:
    assert child.stdout is not None
    line = child.stdout.readline()
    assert line, "the verifier process ended"
    event: dict[str, Any] = json.loads(line)
    return event


def _stop(child: subprocess.Popen[str]) -> dict[str, Any]:
    assert child.stdin is not None and child.stdout is not None
    try:
        child.stdin.write("stop\n")
        child.stdin.flush()
        summary: dict[str, Any] = json.loads(child.stdout.readline() or "{}")
        child.wait(timeout=30)
        return summary
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        child.stdin.close()
        child.stdout.close()
