"""The sign-in row of ``make demo`` is itself a test: every step as expected, in every framework."""

from __future__ import annotations

from pathlib import Path

from cognito_guard.demo import run_sign_in_demo


def test_sign_in_demo_steps_match_in_every_framework() -> None:
    lines: list[str] = []
    assert run_sign_in_demo(Path(__file__).resolve().parents[2] / "examples", lines.append), (
        "\n".join(lines)
    )
    table = "\n".join(lines)
    assert "MISMATCH" not in table and "eyJ" not in table and "rt-" not in table
