"""What does the shared (Redis) M2M token cache cost per request? Ratios to the in-process cache.

A request through ``ClientCredentialsAuth`` to an API answered in this process
(``httpx.MockTransport``, so the figure is the auth's own cost, not socket noise), with:

- the in-process cache (``MemoryTokenCache``, the default), warm: the floor;
- ``RedisTokenCache``, warm: each process keeps its copy of the shared token until it is due, so
  this path does not touch Redis at all and should cost the floor;
- what reading Redis on every request would cost instead (one GET, Fernet decrypt, JSON): the
  reason the warm path does not;
- the first request of a new process (a fresh client): with the in-process cache it asks the
  token endpoint (the loopback OAuth double; real Cognito is a WAN round trip and a billed
  request); with a warm Redis entry it reads Redis instead.

Real servers: the OAuth double of ``cognito_guard.testing`` and a real Redis (``RedisServer``).
Rounds are interleaved; the best round of each row is kept.

Run: ``make bench`` or ``.venv/bin/python benchmarks/m2m_cache.py [--requests N] [--rounds R]``.
"""

from __future__ import annotations

import argparse
import platform
import time
from collections.abc import Callable

import httpx
import redis
from cryptography.fernet import Fernet

import cognito_guard
from cognito_guard.client import ClientCredentialsAuth, RedisTokenCache, TokenSet
from cognito_guard.testing import LocalIssuer, RedisServer

SECRET = "bench-secret"
SCOPES = ["orders/read"]


def best_per_call(run: Callable[[], None], calls: int) -> float:
    start = time.perf_counter()
    run()
    return (time.perf_counter() - start) / calls * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000, help="warm requests per round")
    parser.add_argument("--cold", type=int, default=50, help="new processes per round")
    parser.add_argument("--rounds", type=int, default=5, help="rounds per measurement")
    args = parser.parse_args()

    ok = httpx.Response(200, json={"ok": True})
    transport = httpx.MockTransport(lambda request: ok)
    issuer = LocalIssuer("eu-west-1_AbCdEf123")
    key = Fernet.generate_key()
    with issuer.serve_oauth(client_secret=SECRET) as oauth, RedisServer() as server:
        cache = RedisTokenCache(server.url, encryption_key=key)

        def auth_client(shared: bool) -> tuple[ClientCredentialsAuth, httpx.Client]:
            auth = ClientCredentialsAuth(
                oauth.client(), scopes=SCOPES, cache=cache if shared else None
            )
            return auth, httpx.Client(auth=auth, transport=transport)

        _, memory_http = auth_client(False)
        redis_auth, redis_http = auth_client(True)
        plain_http = httpx.Client(transport=transport)
        for http in (memory_http, redis_http):
            http.get("https://api.example.com/orders")  # warm: one token each
        url = "https://api.example.com/orders"
        n, cold = args.requests, args.cold

        def no_auth() -> None:
            for _ in range(n):
                plain_http.get(url)

        def memory_warm() -> None:
            for _ in range(n):
                memory_http.get(url)

        def redis_warm() -> None:
            for _ in range(n):
                redis_http.get(url)

        def never(_current: TokenSet | None = None) -> TokenSet:
            raise AssertionError("the Redis entry is warm: no fetch")

        clock = time.time

        def redis_read_per_request() -> None:
            for _ in range(n):
                cache.get(redis_auth._cache_key, never, skew=60, clock=clock, replacing=None)
                memory_http.get(url)

        def first_request(shared: bool) -> Callable[[], None]:
            def run() -> None:
                for _ in range(cold):
                    _auth, http = auth_client(shared)  # a new client: a new process's state
                    http.get(url)
                    http.close()

            return run

        measured: list[tuple[str, Callable[[], None], int]] = [
            ("no auth (MockTransport)", no_auth, n),
            ("in-process cache, warm [floor]", memory_warm, n),
            ("Redis cache, warm (process copy)", redis_warm, n),
            ("Redis GET+decrypt every request", redis_read_per_request, n),
            ("first request, in-process cache", first_request(False), cold),
            ("first request, Redis entry warm", first_request(True), cold),
        ]
        results: dict[str, float] = {}
        for _ in range(args.rounds):
            for name, run, calls in measured:
                results[name] = min(results.get(name, float("inf")), best_per_call(run, calls))
        token_requests = oauth.request_count("/oauth2/token")
        cold_total = args.rounds * cold
        for http in (memory_http, redis_http, plain_http):
            http.close()
        cache.close()

    floor = results["in-process cache, warm [floor]"]
    print(
        f"cognito_guard {cognito_guard.__version__} | Python {platform.python_version()} | "
        f"httpx {httpx.__version__} | redis-py {redis.__version__}"
    )
    print(f"{n} warm / {cold} cold requests x {args.rounds} rounds, best round per row\n")
    print(f"{'measurement':<36} {'us/request':>11} {'x floor':>8}")
    for name, _, _ in measured:
        print(f"{name:<36} {results[name]:>11.1f} {results[name] / floor:>8.3f}")
    first_memory = results["first request, in-process cache"]
    first_redis = results["first request, Redis entry warm"]
    print(
        f"\nfirst request with Redis / with a token request: {first_redis / first_memory:.3f}"
        f"\ntoken requests at the endpoint: {token_requests} "
        f"({cold_total} of them the in-process cold starts; the Redis cold starts asked none)"
    )


if __name__ == "__main__":
    main()
