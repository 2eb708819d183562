"""How fast does a revocation reach another process? Delay from ``revoke_token`` in a writer
process to the first refusal by a verifier in this process, over many revocations.

Both processes run on this machine against a real local Redis-compatible server (loopback),
each with its own ``RedisRevocations``. The writer stamps ``time.time()`` just before each write;
this process stamps the first ``verify`` that raises ``RevokedTokenError`` for that token (it
verifies every 0.1 ms meanwhile, as a busy API would). The delay includes the Redis transaction,
the pub/sub delivery and the sync thread getting the GIL.

Run: ``make bench`` or ``.venv/bin/python benchmarks/revocation.py [--count N] [--timeout S]``.
``benchmarks/revocation_cluster.py`` measures the same on a Redis Cluster.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time

import cognito_guard
from cognito_guard import RevokedTokenError
from cognito_guard.revocation import RedisRevocations
from cognito_guard.testing import LocalIssuer, RedisServer

WRITER = """
import sys, time
from cognito_guard.revocation import RedisRevocations
with RedisRevocations(sys.argv[1]) as revocations:
    print("ready", flush=True)
    for line in sys.stdin:
        jti = line.strip()
        sent = time.time()
        revocations.revoke_token(jti)
        print(sent, flush=True)
"""


def measure(url: str, count: int, timeout: float) -> list[float]:
    """Delays (ms, sorted) from a write in another process to the first refusal here."""
    issuer = LocalIssuer("eu-west-1_AbCdEf123")
    tokens = [issuer.access_token(jti=f"bench-{n}") for n in range(count)]
    delays: list[float] = []
    started = time.monotonic()
    with RedisRevocations(url) as revocations:
        verifier = issuer.verifier(revocations=revocations)
        writer = subprocess.Popen(  # noqa: S603 - this interpreter and our own script
            [sys.executable, "-c", WRITER, url],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=os.environ.copy(),
        )
        assert writer.stdin is not None and writer.stdout is not None
        try:
            assert writer.stdout.readline().strip() == "ready"
            for n, token in enumerate(tokens):
                if time.monotonic() - started > timeout:
                    break
                verifier.verify(token)  # accepted (and cached) before the revocation
                writer.stdin.write(f"bench-{n}\n")
                writer.stdin.flush()
                deadline = time.monotonic() + 10
                while True:
                    try:
                        verifier.verify(token)
                    except RevokedTokenError:
                        refused = time.time()
                        break
                    if time.monotonic() > deadline:
                        raise SystemExit(f"revocation {n} not seen within 10 s")
                    time.sleep(0.0001)
                sent = float(writer.stdout.readline())
                delays.append(refused - sent)
        finally:
            writer.stdin.close()
            writer.wait(timeout=10)
            writer.stdout.close()
    return sorted(d * 1000 for d in delays)


def report(delays_ms: list[float], where: str) -> None:
    """Print p50, p99 and max of ``delays_ms``."""
    p50 = statistics.median(delays_ms)
    p99 = delays_ms[min(len(delays_ms) - 1, int(len(delays_ms) * 0.99))]
    print(f"cognito_guard {cognito_guard.__version__} | Python {platform.python_version()}")
    print(f"{len(delays_ms)} revocations, writer process -> verifier in this process, {where}\n")
    print(f"propagation p50 {p50:.2f} ms | p99 {p99:.2f} ms | max {delays_ms[-1]:.2f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=200, help="revocations to measure")
    parser.add_argument("--timeout", type=float, default=60.0, help="stop after this many seconds")
    args = parser.parse_args()
    with RedisServer() as server:
        delays_ms = measure(server.url, args.count, args.timeout)
    report(delays_ms, "loopback")
    print("\ntarget: every process refuses within 1 s on loopback")


if __name__ == "__main__":
    main()
