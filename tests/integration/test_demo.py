"""The demo's verdict table is itself a test: every verdict must be the expected one."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from cognito_guard.demo import run_core_demo, run_framework_demo


def test_core_demo_verdicts_match() -> None:
    lines: list[str] = []
    assert run_core_demo(lines.append)
    table = "\n".join(lines)
    assert "MISMATCH" not in table
    assert "KeysUnavailableError" in table and "503" in table
    assert "eyJ" not in table  # no token is printed


def test_the_expected_jwks_failure_is_explained_not_logged_above_the_table(
    caplog: pytest.LogCaptureFixture,
) -> None:
    lines: list[str] = []
    with caplog.at_level(logging.INFO, logger="cognito_guard"):
        assert run_core_demo(lines.append)
    assert not [r for r in caplog.records if r.name == "cognito_guard"]  # no bare log line
    table = next(n for n, line in enumerate(lines) if line.startswith("case"))
    explained = [n for n, line in enumerate(lines) if "JWKS fetch failed" in line]
    assert len(explained) == 1 and explained[0] > table
    assert "meant to fail closed" in lines[explained[0] - 1]


def test_framework_demo_answers_match_across_frameworks() -> None:
    examples = Path(__file__).resolve().parents[2] / "examples"
    lines: list[str] = []
    assert run_framework_demo(examples, lines.append), "\n".join(lines)
    header = next(line for line in lines if line.startswith("request"))
    assert header.split()[2:5] == ["Django", "Flask", "FastAPI"]
