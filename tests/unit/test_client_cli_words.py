"""The CLI's words for times and its table of checks (in process; the command is tested as a
subprocess in tests/integration/test_cli.py)."""

from __future__ import annotations

import json

import pytest

from cognito_guard import errors
from cognito_guard.cli import CHECKS, _failed_check, iso, main, relative
from cognito_guard.testing import LocalIssuer


@pytest.mark.parametrize(
    ("seconds", "words"),
    [
        (0.4, "now"),
        (1, "in 1 second"),
        (45, "in 45 seconds"),
        (-180, "3 minutes ago"),
        (-60, "1 minute ago"),
        (1199, "in 20 minutes"),
        (-7200, "2 hours ago"),
        (30 * 3600, "in 30 hours"),
        (3 * 86400, "in 3 days"),
    ],
)
def test_relative_times_in_words(seconds: float, words: str) -> None:
    assert relative(seconds) == words


def test_iso_dates_are_utc() -> None:
    assert iso(0) == "1970-01-01T00:00:00Z"


@pytest.mark.parametrize(
    "error",
    [
        errors.InvalidAlgorithmError,
        errors.InvalidIssuerError,
        errors.UnknownKeyError,
        errors.InvalidSignatureError,
        errors.ExpiredTokenError,
        errors.NotYetValidError,
        errors.InvalidTokenUseError,
        errors.InvalidClientError,
        errors.InsufficientScopeError,
        errors.MissingGroupError,
        errors.ClaimCheckError,
    ],
)
def test_every_rejection_the_verifier_raises_has_a_row(error: type[errors.TokenError]) -> None:
    name = _failed_check(error("x"), "a.b.c", {})
    row = next(check for check in CHECKS if check.name == name)
    assert issubclass(error, row.errors)


def test_main_runs_in_process(capsys: pytest.CaptureFixture[str]) -> None:
    token = LocalIssuer(clock=lambda: 1_000_000).access_token()
    assert main(["decode", token, "--json", "--at", "1000060"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["times"]["exp"]["relative"] == "in 59 minutes"
