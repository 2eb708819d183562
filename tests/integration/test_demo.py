"""The demo's verdict table is itself a test: every verdict must be the expected one."""

from __future__ import annotations

from cognito_guard.demo import run_core_demo


def test_core_demo_verdicts_match() -> None:
    lines: list[str] = []
    assert run_core_demo(lines.append)
    table = "\n".join(lines)
    assert "MISMATCH" not in table
    assert "KeysUnavailableError" in table and "503" in table
    assert "eyJ" not in table  # no token is printed
