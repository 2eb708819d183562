"""What does a Lambda cold start pay for cognito_guard? Ratios against PyJWT in the same run.

Each run is a new Python process, as a new Lambda instance is: it imports the library, hydrates
(builds the guard, which fetches the pool's JWKS from a loopback server: ``LambdaGuard``'s
``hydrate=True``), then verifies the first request's token. The floor is
PyJWT doing the same work in its own new process: ``PyJWKClient`` fetching the JWKS and
``jwt.decode`` verifying. A bare ``python -c pass`` shows what the interpreter alone costs.
Runs of the three kinds are interleaved so that machine noise falls on all of them alike; each
row is the median over the runs (best in brackets).

Run: ``.venv/bin/python benchmarks/cold_start.py [--runs N] [--importtime N] [--python PATH]``.

``--python`` runs the new processes under another interpreter, such as a virtual environment
holding only cognito-guard's runtime dependencies (``pyjwt[crypto]``, ``cachetools``, ``httpx``),
as a Lambda deployment package does: a development environment also holds packages that
httpcore imports when they are installed (``trio``), and that httpx imports for its command
line (``click``, ``pygments``). "process (wall)" includes the interpreter's start and exit, which
a Lambda instance pays once, not per invocation.

The new processes run as an installed package does, from compiled bytecode: they write it to a
cache directory of their own (``PYTHONPYCACHEPREFIX``, whatever ``PYTHONDONTWRITEBYTECODE``
says) in a first round that is not measured.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import jwt

import cognito_guard
from cognito_guard.testing import LocalIssuer

ROOT = Path(__file__).resolve().parent.parent

# Every child measures its own phases with perf_counter from its first line; the parent adds the
# wall time from spawn to exit (interpreter start-up included).
COGNITO_GUARD = """
import json, sys, time
start = time.perf_counter()
from cognito_guard import CognitoVerifier
from cognito_guard.integrations.aws_lambda import LambdaGuard
imported = time.perf_counter()
issuer, client, jwks_uri, warm, token = sys.argv[1:6]
guard = LambdaGuard(CognitoVerifier(issuer=issuer, client_id=client, jwks_uri=jwks_uri))
if not hasattr(guard.verifier, "hydrate"):  # a release without it: a first verification fetches
    guard.verifier.verify(warm)
hydrated = time.perf_counter()
claims = guard.verifier.verify(token)
verified = time.perf_counter()
assert claims.sub
print(json.dumps({"import": imported - start, "hydrate": hydrated - imported,
                  "first verify": verified - hydrated}))
"""

PYJWT = """
import json, sys, time
start = time.perf_counter()
import jwt
from jwt import PyJWKClient
imported = time.perf_counter()
issuer, client, jwks_uri, warm, token = sys.argv[1:6]
keys = PyJWKClient(jwks_uri, cache_keys=True)
keys.get_signing_keys()
hydrated = time.perf_counter()
key = keys.get_signing_key_from_jwt(token)
claims = jwt.decode(token, key.key, algorithms=["RS256"], issuer=issuer,
                    options={"verify_aud": False, "require": ["exp", "iat"]})
assert claims["client_id"] == client
verified = time.perf_counter()
print(json.dumps({"import": imported - start, "hydrate": hydrated - imported,
                  "first verify": verified - hydrated}))
"""

BARE = "print('{}')"

PHASES = ("import", "hydrate", "first verify")


PYTHON = sys.executable  # the interpreter of the new processes (--python)
# Where the new processes keep their compiled bytecode (set by main).
PYCACHE = ""


def child_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    return {**env, "PYTHONPATH": str(ROOT), "PYTHONPYCACHEPREFIX": PYCACHE}


def run(code: str, args: list[str]) -> dict[str, float]:
    """One new process running ``code``: its phases and its wall time, in milliseconds."""
    env = child_env()
    started = time.perf_counter()
    result = subprocess.run(  # noqa: S603 -- a chosen interpreter, our own code
        [PYTHON, "-c", code, *args], capture_output=True, text=True, env=env, check=True
    )
    wall = time.perf_counter() - started
    phases = {name: seconds * 1e3 for name, seconds in json.loads(result.stdout).items()}
    return {**phases, "process (wall)": wall * 1e3}


def importtime(module: str, top: int) -> list[tuple[int, str]]:
    """The ``top`` imports with the largest cumulative time (microseconds) under ``module``."""
    env = child_env()
    result = subprocess.run(  # noqa: S603 -- a chosen interpreter, fixed arguments
        [PYTHON, "-X", "importtime", "-c", f"import {module}"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    rows: list[tuple[int, str]] = []
    for line in result.stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        _, cumulative, name = (part.strip() for part in line[len("import time:") :].split("|"))
        rows.append((int(cumulative), name))
    return sorted(rows, reverse=True)[:top]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15, help="new processes per library")
    parser.add_argument(
        "--importtime", type=int, default=0, metavar="N", help="also list the N slowest imports"
    )
    parser.add_argument(
        "--python",
        default=sys.executable,
        metavar="PATH",
        help="the interpreter of the new processes (default: this one)",
    )
    args = parser.parse_args()
    global PYTHON, PYCACHE
    PYTHON = args.python
    cache = tempfile.TemporaryDirectory(prefix="cold-start-pycache-")
    PYCACHE = cache.name

    issuer = LocalIssuer("eu-west-1_AbCdEf123")
    with issuer.serve() as server:
        kinds: dict[str, Callable[[], dict[str, float]]] = {}

        def child(code: str) -> Callable[[], dict[str, float]]:
            def once() -> dict[str, float]:
                # Fresh tokens every run: no process could have seen them.
                warm = issuer.access_token(scopes=["orders/read"], username="warm")
                token = issuer.access_token(scopes=["orders/read"])
                argv = [issuer.issuer, issuer.client_id, server.jwks_uri, warm, token]
                return run(code, argv)

            return once

        kinds["python -c pass"] = lambda: run(BARE, [])
        kinds["PyJWT + PyJWKClient (floor)"] = child(PYJWT)
        kinds["cognito_guard (aws_lambda)"] = child(COGNITO_GUARD)
        samples: dict[str, list[dict[str, float]]] = {name: [] for name in kinds}
        for once in kinds.values():  # writes the bytecode: not measured
            once()
        for _ in range(args.runs):
            for name, once in kinds.items():
                samples[name].append(once())

    print(
        f"cognito_guard {cognito_guard.__version__} | Python {platform.python_version()} | "
        f"PyJWT {jwt.__version__} | {platform.machine()} | new processes: {PYTHON}"
    )
    print(f"{args.runs} new processes per row, interleaved; median [best] in ms\n")
    floor_name = "PyJWT + PyJWKClient (floor)"
    columns = (*PHASES, "process (wall)")
    width = max(len(name) for name in kinds)
    print(f"{'':<{width}} " + " ".join(f"{column:>22}" for column in columns))
    floor = {c: statistics.median(s[c] for s in samples[floor_name]) for c in columns}
    for name, runs in samples.items():
        cells = []
        for column in columns:
            values = [sample[column] for sample in runs if column in sample]
            if not values:
                cells.append(f"{'-':>22}")
                continue
            median = statistics.median(values)
            ratio = f"{median / floor[column]:.2f}x" if floor[column] else "-"
            cells.append(f"{median:>8.1f} [{min(values):>6.1f}] {ratio:>5}")
        print(f"{name:<{width}} " + " ".join(cells))
    print("\nratios are to the PyJWT floor's median of the same column")

    if args.importtime:
        module = "cognito_guard.integrations.aws_lambda"
        print(f"\nslowest imports under {module} (cumulative, one run):")
        for micros, name in importtime(module, args.importtime):
            print(f"{micros / 1e3:>8.1f} ms  {name}")
    cache.cleanup()


if __name__ == "__main__":
    main()
