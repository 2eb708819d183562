"""How fast is `verify`? Ratios against a floor measured in the same run.

The floor is one raw `cryptography` RSA-2048 PKCS#1 v1.5 SHA-256 verification of each token's own
signing input: the work no verifier can skip. Every figure is the best of several interleaved
rounds over many DISTINCT tokens (so no cache hides work), except the cache-hit row, which repeats
one token on purpose.

Run: ``make bench`` or ``.venv/bin/python benchmarks/verify.py [--tokens N] [--rounds R]``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import platform
import time
from collections.abc import Callable, Iterator

import cryptography
import jwt
from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
from cryptography.hazmat.primitives.hashes import SHA256

import cognito_guard
from cognito_guard.revocation import MemoryRevocations, RedisRevocations
from cognito_guard.testing import LocalIssuer, RedisServer
from cognito_guard.testing.redis import RedisServerNotFound

REVOCATION_ENTRIES = 10_000


@contextlib.contextmanager
def revocation_list(entries: int) -> Iterator[tuple[MemoryRevocations | RedisRevocations, str]]:
    """A RedisRevocations on a real local server holding ``entries`` (a third of each kind),
    or, without a server binary, a MemoryRevocations (the same in-memory check)."""
    try:
        server = RedisServer()
    except RedisServerNotFound:
        memory = MemoryRevocations()
        for n in range(entries):
            (memory.revoke_token, memory.revoke_session, memory.sign_out_user)[n % 3](f"id-{n}")
        yield memory, "MemoryRevocations (no Redis server found)"
        return
    with server, RedisRevocations(server.url) as shared:
        for n in range(entries):
            (shared.revoke_token, shared.revoke_session, shared.sign_out_user)[n % 3](f"id-{n}")
        yield shared, "RedisRevocations on a local server"


def _b64decode(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def best_per_call(run: Callable[[], None], calls: int, rounds: int) -> float:
    """Microseconds per call: the best of ``rounds`` timings of ``run`` (which makes ``calls``)."""
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    return best / calls * 1e6


def _with_sdk(runs: list[tuple[str, Callable[[], None]]]) -> list[tuple[str, Callable[[], None]]]:
    """The same runs while an OpenTelemetry SDK records (rows left out without the SDK)."""
    try:
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    except ImportError:
        return []
    from cognito_guard import _telemetry

    provider = MeterProvider(metric_readers=[InMemoryMetricReader()])

    def recorded(run: Callable[[], None]) -> Callable[[], None]:
        def measure() -> None:
            _telemetry.configure(meter_provider=provider)
            try:
                run()
            finally:
                _telemetry.configure()  # the other rows: no SDK, as in an application without

        return measure

    return [(f"{name}, OTel SDK recording", recorded(run)) for name, run in runs]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=2000, help="distinct tokens per round")
    parser.add_argument("--rounds", type=int, default=7, help="rounds per measurement")
    args = parser.parse_args()

    issuer = LocalIssuer("eu-west-1_AbCdEf123")
    tokens = [
        issuer.access_token(scopes=["openid", "email", "orders/read"], groups=["admins"])
        for _ in range(args.tokens)
    ]
    public_key = issuer.access_key.private_key.public_key()
    raw = []
    for token in tokens:
        header, payload, signature = token.split(".")
        raw.append((f"{header}.{payload}".encode(), _b64decode(signature)))
    padding, sha256 = PKCS1v15(), SHA256()

    verifier = issuer.verifier(token_cache_size=0, scopes=["orders/read"])
    cached = issuer.verifier(token_cache_size=10_000, scopes=["orders/read"])
    verifier.verify(tokens[0])  # warm: keys parsed, header segment known
    repeated = tokens[0]
    cached.verify(repeated)

    def floor() -> None:
        for signing_input, signature in raw:
            public_key.verify(signature, signing_input, padding, sha256)

    def pyjwt_decode() -> None:
        for token in tokens:
            jwt.decode(token, public_key, algorithms=["RS256"], options={"verify_aud": False})

    def warm_verify() -> None:
        for token in tokens:
            verifier.verify(token)

    async def _averify_all() -> None:
        for token in tokens:
            await verifier.averify(token)

    loop = asyncio.new_event_loop()

    def warm_averify() -> None:
        loop.run_until_complete(_averify_all())

    def cache_hit() -> None:
        for _ in range(len(tokens)):
            cached.verify(repeated)

    stack = contextlib.ExitStack()
    revocations, revocations_kind = stack.enter_context(revocation_list(REVOCATION_ENTRIES))
    assert len(revocations) == REVOCATION_ENTRIES
    revoking = issuer.verifier(
        token_cache_size=10_000, scopes=["orders/read"], revocations=revocations
    )
    revoking.verify(repeated)

    def cache_hit_revocations() -> None:
        for _ in range(len(tokens)):
            revoking.verify(repeated)

    n, rounds = len(tokens), args.rounds
    results: dict[str, float] = {}
    measured: list[tuple[str, Callable[[], None]]] = [
        ("floor: cryptography RSA verify", floor),
        ("PyJWT jwt.decode, known key", pyjwt_decode),
        ("verify, warm keys, cache off", warm_verify),
        ("averify, warm keys, cache off", warm_averify),
        ("verify, cache hit", cache_hit),
        (
            f"verify, cache hit, revocations on ({REVOCATION_ENTRIES:,} entries)",
            cache_hit_revocations,
        ),
    ]
    measured += _with_sdk([("verify", warm_verify), ("cache hit", cache_hit)])
    # Interleave the measurements so that machine noise falls on all of them alike.
    for _ in range(rounds):
        for name, run in measured:
            results[name] = min(results.get(name, float("inf")), best_per_call(run, n, 1))
    loop.close()
    stack.close()

    floor_us = results["floor: cryptography RSA verify"]
    print(
        f"cognito_guard {cognito_guard.__version__} | Python {platform.python_version()} | "
        f"cryptography {cryptography.__version__} | PyJWT {jwt.__version__}"
    )
    print(f"{n} distinct tokens x {rounds} rounds, best round per row\n")
    print(f"revocations: {revocations_kind}\n")
    width = max(len(name) for name, _ in measured)
    print(f"{'measurement':<{width}} {'us/call':>9} {'x floor':>8}")
    for name, _ in measured:
        print(f"{name:<{width}} {results[name]:>9.2f} {results[name] / floor_us:>8.3f}")
    print("\ntargets: warm verify <= 1.3x floor; cache hit (revocations on or off) <= 0.1x floor")


if __name__ == "__main__":
    main()
