"""One OS process of the fleet in the multi-process token-cache tests (run as a script).

``argv[1]`` is a JSON object of settings (see :func:`main`). On stdin/stdout, one line each: it
prints ``ready`` once set up; on ``go`` it sends ``requests`` requests at once (threads of one
``httpx.Client``, or coroutines of one ``httpx.AsyncClient`` with ``"mode": "async"``) and
prints their statuses as a JSON list; on ``quit`` or end of input it exits. cognito_guard's
warnings go to stderr.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

from cognito_guard.client import ClientCredentialsAuth, CognitoTokenClient, RedisTokenCache

LIMITS = httpx.Limits(max_connections=50)


def run_sync(auth: ClientCredentialsAuth, url: str, count: int) -> list[int]:
    barrier = threading.Barrier(count)
    with httpx.Client(auth=auth, limits=LIMITS) as http:

        def one(_: int) -> int:
            barrier.wait()
            return http.get(url).status_code

        with ThreadPoolExecutor(max_workers=count) as pool:
            return list(pool.map(one, range(count)))


async def run_async(
    auth: ClientCredentialsAuth, cache: RedisTokenCache, url: str, count: int
) -> list[int]:
    async with httpx.AsyncClient(auth=auth, limits=LIMITS) as http:
        responses = await asyncio.gather(*(http.get(url) for _ in range(count)))
    await cache.aclose()  # this loop's Redis client ends with the loop
    return [response.status_code for response in responses]


def main() -> None:
    settings: dict[str, Any] = json.loads(sys.argv[1])
    logging.basicConfig(
        stream=sys.stderr, level=logging.WARNING, format="%(levelname)s %(message)s"
    )
    client = CognitoTokenClient(
        settings["client_id"],
        settings["client_secret"],
        domain=settings["domain"],
        timeout=settings.get("timeout", 10.0),
    )
    cache = RedisTokenCache(
        settings["redis_url"],
        encryption_key=settings["encryption_key"],
        lock_lease=settings.get("lock_lease", 30.0),
    )
    auth = ClientCredentialsAuth(
        client, scopes=["orders/read"], refresh_skew=settings["refresh_skew"], cache=cache
    )
    print("ready", flush=True)
    for line in sys.stdin:
        if line.strip() != "go":
            break
        if settings["mode"] == "async":
            statuses = asyncio.run(
                run_async(auth, cache, settings["api_url"], settings["requests"])
            )
        else:
            statuses = run_sync(auth, settings["api_url"], settings["requests"])
        print(json.dumps(statuses), flush=True)


if __name__ == "__main__":
    main()
