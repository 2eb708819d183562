"""The CLI's words for times and its table of checks (in process; the command is tested as a
subprocess in tests/integration/test_cli.py)."""

from __future__ import annotations

import json

import pytest

from cognito_guard import errors
from cognito_guard.cli import CHECKS, iso, main, relative
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
        errors.InvalidAudienceError,
        errors.InsufficientScopeError,
        errors.MissingGroupError,
        errors.ClaimCheckError,
    ],
)
def test_every_rejection_the_verifier_raises_has_a_row(error: type[errors.TokenError]) -> None:
    assert error("x").check in {check.name for check in CHECKS}


_ERRORS = sorted(
    (
        value
        for value in vars(errors).values()
        if isinstance(value, type) and issubclass(value, errors.CognitoGuardError)
    ),
    key=lambda cls: cls.__name__,
)


@pytest.mark.parametrize(
    "error", [cls for cls in _ERRORS if cls.check is not None], ids=lambda cls: cls.__name__
)
def test_every_check_an_error_names_is_a_row_of_the_report(
    error: type[errors.CognitoGuardError],
) -> None:
    # The command checks no revocation list: "revocation" is the one step it has no row for.
    assert error.check in {check.name for check in CHECKS} | {"revocation"}


@pytest.mark.parametrize(
    ("claim", "check"),
    [("exp", "expiry"), ("iat", "not before"), ("nbf", "not before"), ("sub", "claims")],
)
def test_a_malformed_claim_fails_the_check_that_reads_it(claim: str, check: str) -> None:
    assert errors.MalformedClaimsError("x", claim).check == check


def test_main_runs_in_process(capsys: pytest.CaptureFixture[str]) -> None:
    token = LocalIssuer(clock=lambda: 1_000_000).access_token()
    assert main(["decode", token, "--json", "--at", "1000060"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["times"]["exp"]["relative"] == "in 59 minutes"
