"""Revocation on a Redis Cluster: propagation, and the timeline of a master failover.

A cluster of three masters with a replica each runs on this machine (loopback,
``cluster-node-timeout`` 1 s). First, as ``benchmarks/revocation.py``: the delay from a write in
a writer process to the first refusal by a verifier in this process, over many revocations
(script write, sharded pub/sub). Then the master serving the list's slot is killed (SIGKILL):
the timeline from the kill to the replica's promotion, to the first revocation the writer gets
recorded after it, to the first refusal of that revocation here; and how many verifications
answered 503 meanwhile (fail closed, ``max_staleness`` 2 s).

Run: ``.venv/bin/python benchmarks/revocation_cluster.py [--count N] [--timeout S]``.
"""

from __future__ import annotations

import argparse
import time

from revocation import measure, report

from cognito_guard import RevocationsUnavailableError, RevokedTokenError
from cognito_guard.revocation import RedisRevocations
from cognito_guard.testing import LocalIssuer, RedisClusterServer

LIST = "cognito_guard:{revocations}"


def failover(cluster: RedisClusterServer) -> str:
    """Kill the list's master; the timeline, as one line."""
    issuer = LocalIssuer("eu-west-1_AbCdEf123")
    token = issuer.access_token(jti="after-failover")
    with (
        RedisRevocations(cluster.url, resync_interval=0.2, max_staleness=2) as here,
        RedisRevocations(cluster.url) as writer,
    ):
        verifier = issuer.verifier(revocations=here, token_cache_size=0)
        verifier.verify(token)
        master = cluster.master_of(LIST)
        killed = time.monotonic()
        cluster.kill(master)
        cluster.wait_for_failover(master, LIST)
        promoted = time.monotonic()
        failed_writes = 0
        while True:
            try:
                writer.revoke_token("after-failover")
                break
            except RevocationsUnavailableError:
                failed_writes += 1
                time.sleep(0.02)
        written = time.monotonic()
        unavailable = 0
        deadline = written + 30
        while time.monotonic() < deadline:
            try:
                verifier.verify(token)
            except RevokedTokenError:
                break
            except RevocationsUnavailableError:
                unavailable += 1
            time.sleep(0.001)
        refused = time.monotonic()
    cluster.restart(master)  # it rejoins as a replica
    return (
        f"failover (s after the kill): promotion {promoted - killed:.2f} | revocation "
        f"recorded {written - killed:.2f} ({failed_writes} refused writes) | first refusal "
        f"here {refused - killed:.2f} | 503s after the write: {unavailable}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=200, help="revocations to measure")
    parser.add_argument("--timeout", type=float, default=60.0, help="stop after this many seconds")
    args = parser.parse_args()
    with RedisClusterServer() as cluster:
        delays_ms = measure(cluster.url, args.count, args.timeout)
        timeline = failover(cluster)
    report(delays_ms, "Redis Cluster of 3 masters + 3 replicas on loopback")
    print(timeline)


if __name__ == "__main__":
    main()
