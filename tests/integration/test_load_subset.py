"""A few seconds of the load harness (benchmarks/load.py) in the suite: verdicts and fetch counts.

Each scenario serves a real example app in a subprocess (uvicorn or waitress) against a loopback
JWKS and drives it with the harness's own client. Only verdicts and counts are asserted, never a
timing: the machine is shared.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from cognito_guard.testing.pytest_plugin import redis_server_or_skip

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


@pytest.fixture(scope="module")
def load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("cognito_guard_load", BENCHMARKS / "load.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while building
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def tokens(load: ModuleType) -> Any:
    return load.Tokens(pool=100)


def run(
    load: ModuleType, tokens: Any, framework: str, scenario: str, seconds: float, **options: Any
) -> Any:
    result = load.run_scenario(
        framework, scenario, tokens, concurrency=8, duration=seconds, **options
    )
    assert result["requests"] > 0
    assert result["wrong"] == 0, result["wrong_samples"]
    assert result["retry_after_missing"] == 0
    return result


def test_mixed_traffic_gets_the_verdicts_it_deserves(load: ModuleType, tokens: Any) -> None:
    result = run(load, tokens, "fastapi", "mixed", 1.5)
    assert {"200", "401", "403"} <= set(result["status"])
    assert result["jwks_fetches"] == 1  # the start-up fetch; every other token needs no fetch


def test_jwks_outage_keeps_known_keys_and_answers_unknown_kids_503(
    load: ModuleType, tokens: Any
) -> None:
    result = run(load, tokens, "flask", "jwks-down", 4)
    cached = [result["kinds"][kind]["status"] for kind in ("cold", "hot")]
    assert all(set(statuses) == {"200"} for statuses in cached)
    assert result["kinds"]["unknown-kid"]["status"].get("503", 0) > 0
    assert result["checks"]["ok_503_seen_while_down"]


def test_slow_jwks_during_a_rotation_takes_no_worker_threads(load: ModuleType, tokens: Any) -> None:
    """Waitress, 8 threads, a 3 s JWKS answer: new-key tokens get 503 (Retry-After) then 200."""
    result = run(load, tokens, "flask", "jwks-slow-rotation", 6)
    new_key = result["kinds"]["new-key"]["status"]
    assert set(new_key) == {"200", "503"}  # 503 only while the fetch was in flight (run())
    assert all(set(result["kinds"][k]["status"]) == {"200"} for k in ("cold", "hot"))
    assert result["jwks_fetches"] == 2  # start-up, and the one fetch for the new key


def test_rotation_accepts_the_new_key_within_the_fetch_bound(load: ModuleType, tokens: Any) -> None:
    result = run(load, tokens, "django", "rotation", 3)
    # 200, or 503 for a thread that arrived while another fetched the new key (judged against
    # the fetches the JWKS server saw: run() asserts no wrong verdict).
    assert "200" in result["kinds"]["new-key"]["status"]
    assert set(result["kinds"]["new-key"]["status"]) <= {"200", "503"}
    # Counts, not spacing: how far apart fetches arrive depends on the load of the machine.
    assert result["jwks_fetches"] <= result["checks"]["fetch_bound"], result["jwks_fetch_times"]


def test_random_kid_flood_costs_one_fetch_per_cool_down(load: ModuleType, tokens: Any) -> None:
    result = run(load, tokens, "fastapi", "kid-flood", 2)
    assert set(result["kinds"]["unknown-kid"]["status"]) == {"401"}
    # The start-up fetch, then at most one per cool-down window of the run.
    assert result["jwks_fetches"] <= result["checks"]["fetch_bound"], result["jwks_fetch_times"]


def test_redis_outage_fail_closed_answers_503_only_while_stale(
    load: ModuleType, tokens: Any
) -> None:
    redis_server_or_skip().close()  # skips without a server binary (fails under CI=true)
    # A 2 s outage under a 0.75 s staleness bound: every phase of the drill in a few seconds.
    result = run(
        load, tokens, "flask", "redis-down-closed", 3, redis_outage=2.0, max_staleness=0.75
    )
    phases = result["phases"]
    assert set(phases["before"]["valid"]) == {"200"}
    assert set(phases["stale"]["valid"]) == {"503"}  # and each with Retry-After (run checks it)
    assert set(phases["after"]["valid"]) == {"200"}
    # The session revoked before the outage stays refused in every phase, also after Redis came
    # back empty: the local copy keeps it.
    assert all(set(seen["revoked"]) <= {"401"} for seen in phases.values())
    assert phases["after"]["revoked"].get("401", 0) > 0
    assert all(v for k, v in result["checks"].items() if k.startswith("ok_")), result["checks"]
