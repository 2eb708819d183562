"""The demo's verdict table is itself a test: every verdict must be the expected one."""

from __future__ import annotations

from pathlib import Path

from cognito_guard.demo import run_core_demo, run_framework_demo


def test_core_demo_verdicts_match() -> None:
    lines: list[str] = []
    assert run_core_demo(lines.append)
    table = "\n".join(lines)
    assert "MISMATCH" not in table
    assert "KeysUnavailableError" in table and "503" in table
    assert "eyJ" not in table  # no token is printed


def test_framework_demo_answers_match_across_frameworks() -> None:
    examples = Path(__file__).resolve().parents[2] / "examples"
    lines: list[str] = []
    assert run_framework_demo(examples, lines.append), "\n".join(lines)
    header = next(line for line in lines if line.startswith("request"))
    assert header.split()[2:5] == ["Django", "Flask", "FastAPI"]
