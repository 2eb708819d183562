"""The ``cognito-guard`` command, run as a subprocess against loopback servers.

Times are pinned: the issuer mints at ``T`` and every command runs with ``--at T+60``.
"""

from __future__ import annotations

import json
import logging
import socket
from collections.abc import Iterator
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

from cognito_guard.testing import JWKSServer, LocalIssuer, OAuthServer

from ._cli import cli

T = 1_800_000_000
AT = str(T + 60)
CHECKS = [
    "structure",
    "algorithm",
    "issuer",
    "signing key",
    "signature",
    "expiry",
    "not before",
    "token use",
    "claims",
    "client",
    "audience",
    "scopes",
    "groups",
]
API = "https://api.example.com"


@pytest.fixture(scope="module")
def issuer(cognito_signing_keys: list[RSAPrivateKey]) -> LocalIssuer:
    return LocalIssuer(keys=cognito_signing_keys, clock=lambda: T)


@pytest.fixture(scope="module")
def jwks(issuer: LocalIssuer) -> Iterator[JWKSServer]:
    with issuer.serve() as server:
        yield server


def verify(
    issuer: LocalIssuer, jwks: JWKSServer, token: str, *extra: str, json_out: bool = False
) -> Any:
    args = ["verify", "-", "--user-pool-id", issuer.user_pool_id, "--jwks-uri", jwks.jwks_uri]
    args += ["--at", AT, *extra]
    if json_out:
        args.append("--json")
    return cli(*args, stdin=token)


def verify_json(issuer: LocalIssuer, jwks: JWKSServer, token: str, *extra: str) -> Any:
    result = verify(issuer, jwks, token, *extra, json_out=True)
    return result.returncode, json.loads(result.stdout)


def statuses(report: dict[str, Any]) -> dict[str, str]:
    return {row["check"]: row["status"] for row in report["checks"]}


def reasons(report: dict[str, Any]) -> dict[str, str]:
    return {row["check"]: row["reason"] for row in report["checks"]}


def only_failure(report: dict[str, Any], failed: str, skipped: tuple[str, ...] = ()) -> bool:
    """The checks before ``failed`` passed (or were skipped), ``failed`` failed, later unreached."""
    expected = {}
    index = CHECKS.index(failed)
    for position, name in enumerate(CHECKS):
        if position < index:
            expected[name] = "skipped" if name in skipped else "pass"
        elif position == index:
            expected[name] = "fail"
        else:
            expected[name] = "not_reached"
    return statuses(report) == expected


# -- verify --------------------------------------------------------------------------------------


def test_a_valid_token_passes_every_check(issuer: LocalIssuer, jwks: JWKSServer) -> None:
    token = issuer.access_token(scopes=["orders/read"], groups=["admins"], aud=API)
    args = ("--client-id", issuer.client_id, "--scope", "orders/read", "--group", "admins")
    args += ("--audience", API)
    text = verify(issuer, jwks, token, *args)
    assert text.returncode == 0
    assert "VALID: an access token for user 'alice'" in text.stdout
    code, report = verify_json(issuer, jwks, token, *args)
    assert code == 0
    assert report["valid"] is True
    assert set(statuses(report).values()) == {"pass"}
    assert report["claims"]["username"] == "alice"
    assert reasons(report)["expiry"] == "expires in 59 minutes (2027-01-15T09:00:00Z)"


def test_an_expired_token_says_how_long_ago(issuer: LocalIssuer, jwks: JWKSServer) -> None:
    token = issuer.access_token(expires_in=-120)  # expired at T-120, checked at T+60
    text = verify(issuer, jwks, token, "--client-id", issuer.client_id)
    assert text.returncode == 1
    assert "expired 3 minutes ago (2027-01-15T07:58:00Z)" in text.stdout
    assert "REJECTED: The token has expired" in text.stdout
    code, report = verify_json(issuer, jwks, token, "--client-id", issuer.client_id)
    assert code == 1
    assert only_failure(report, "expiry")
    assert report["error"]["type"] == "ExpiredTokenError"
    assert report["claims"] is None


def test_a_token_of_another_app_client_names_both_clients(
    issuer: LocalIssuer, jwks: JWKSServer
) -> None:
    token = issuer.access_token(client_id="someone0elses0client")
    code, report = verify_json(issuer, jwks, token, "--client-id", issuer.client_id)
    assert code == 1
    assert only_failure(report, "client")
    assert reasons(report)["client"] == (
        f"issued to app client 'someone0elses0client' (client_id); expected {issuer.client_id}"
    )


def test_an_id_token_of_another_audience_is_explained_with_aud(
    issuer: LocalIssuer, jwks: JWKSServer
) -> None:
    token = issuer.id_token(aud="someone0elses0client")
    code, report = verify_json(
        issuer, jwks, token, "--client-id", issuer.client_id, "--token-use", "id"
    )
    assert code == 1
    assert reasons(report)["client"].startswith("issued to app client 'someone0elses0client' (aud)")


def test_an_id_token_where_an_access_token_is_expected(
    issuer: LocalIssuer, jwks: JWKSServer
) -> None:
    code, report = verify_json(issuer, jwks, issuer.id_token(), "--client-id", issuer.client_id)
    assert code == 1
    assert only_failure(report, "token use")
    assert reasons(report)["token use"] == "this is an ID token; the API expects an access token"


@pytest.mark.parametrize("token", ["not-a-token", "abc.def", "a.b.c.d", "eyJhbGciOi.e30.sig"])
def test_a_malformed_token_fails_the_structure_check(
    issuer: LocalIssuer, jwks: JWKSServer, token: str
) -> None:
    code, report = verify_json(issuer, jwks, token)
    assert code == 1
    assert only_failure(report, "structure")
    assert report["error"]["type"] == "MalformedTokenError"


def test_a_malformed_token_in_text_form(issuer: LocalIssuer, jwks: JWKSServer) -> None:
    text = verify(issuer, jwks, "abc.def")
    assert text.returncode == 1
    assert "a JWS has exactly three dot-separated segments" in text.stdout
    assert "REJECTED: The token is malformed" in text.stdout


def test_alg_none_fails_the_algorithm_check(issuer: LocalIssuer, jwks: JWKSServer) -> None:
    token = issuer.access_token(header={"alg": "none"})
    code, report = verify_json(issuer, jwks, token)
    assert code == 1
    assert only_failure(report, "algorithm")


def test_a_token_of_another_pool_key_fails_the_signing_key_check(
    issuer: LocalIssuer, jwks: JWKSServer
) -> None:
    stranger = LocalIssuer(issuer.user_pool_id, issuer.client_id, clock=lambda: T)
    code, report = verify_json(issuer, jwks, stranger.access_token())
    assert code == 1
    assert only_failure(report, "signing key", skipped=())
    assert jwks.jwks_uri in reasons(report)["signing key"]


def test_a_tampered_token_fails_the_signature_check(issuer: LocalIssuer, jwks: JWKSServer) -> None:
    head, _, signature = issuer.access_token().split(".")
    other_claims = issuer.access_token(username="mallory").split(".")[1]
    code, report = verify_json(issuer, jwks, f"{head}.{other_claims}.{signature}")
    assert code == 1
    assert only_failure(report, "signature")


def test_a_foreign_issuer_fails_the_issuer_check(issuer: LocalIssuer, jwks: JWKSServer) -> None:
    token = issuer.access_token(iss="https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Other1")
    code, report = verify_json(issuer, jwks, token)
    assert code == 1
    assert only_failure(report, "issuer")
    assert "eu-west-1_Other1" in reasons(report)["issuer"]


def test_a_missing_scope_lists_what_the_token_has(issuer: LocalIssuer, jwks: JWKSServer) -> None:
    token = issuer.access_token(scopes=["orders/read"])
    code, report = verify_json(
        issuer, jwks, token, "--client-id", issuer.client_id, "--scope", "orders/write"
    )
    assert code == 1
    assert only_failure(report, "scopes", skipped=("audience",))
    assert reasons(report)["scopes"] == "lacks orders/write; the token has orders/read"
    assert report["error"]["status_code"] == 403


def test_a_token_from_the_future_fails_the_not_before_check(
    issuer: LocalIssuer, jwks: JWKSServer
) -> None:
    token = issuer.access_token(issued_at=T + 600)
    code, report = verify_json(issuer, jwks, token)
    assert code == 1
    assert only_failure(report, "not before")
    assert "in 9 minutes" in reasons(report)["not before"]


def test_without_client_id_scope_or_group_those_checks_are_skipped(
    issuer: LocalIssuer, jwks: JWKSServer
) -> None:
    code, report = verify_json(issuer, jwks, issuer.access_token())
    assert code == 0
    assert {k for k, v in statuses(report).items() if v == "skipped"} == {
        "client",
        "audience",
        "scopes",
        "groups",
    }
    assert reasons(report)["audience"] == "no --audience given"


def test_a_token_for_another_resource_fails_the_audience_check(
    issuer: LocalIssuer, jwks: JWKSServer
) -> None:
    token = issuer.access_token(aud="https://other.example.com")
    code, report = verify_json(
        issuer, jwks, token, "--client-id", issuer.client_id, "--audience", API
    )
    assert code == 1
    assert only_failure(report, "audience")
    assert reasons(report)["audience"] == (
        "aud 'https://other.example.com' names none of the accepted audiences "
        "['https://api.example.com']"
    )
    assert report["error"]["type"] == "InvalidAudienceError"
    assert report["error"]["error_code"] == "invalid_token"


def test_a_token_for_the_resource_passes_the_audience_check(
    issuer: LocalIssuer, jwks: JWKSServer
) -> None:
    token = issuer.access_token(aud=["https://other.example.com", API])
    code, report = verify_json(
        issuer, jwks, token, "--audience", "https://x.example", "--audience", API
    )
    assert code == 0
    assert statuses(report)["audience"] == "pass"
    assert reasons(report)["audience"] == f"aud names {API}"


def test_the_audience_comes_from_cognito_audience_when_no_option_names_one(
    issuer: LocalIssuer, jwks: JWKSServer
) -> None:
    args = ["verify", "-", "--user-pool-id", issuer.user_pool_id, "--jwks-uri", jwks.jwks_uri]
    args += ["--at", AT, "--json"]
    env = {"COGNITO_AUDIENCE": f"https://x.example, {API}"}
    without_aud = cli(*args, stdin=issuer.access_token(), env=env)
    assert without_aud.returncode == 1
    assert reasons(json.loads(without_aud.stdout))["audience"] == (
        "the token has no 'aud' claim; expected one of the audiences "
        "['https://api.example.com', 'https://x.example']"
    )
    assert cli(*args, stdin=issuer.access_token(aud=API), env=env).returncode == 0
    # --audience replaces the environment's
    other = cli(
        *args, "--audience", "https://x.example", stdin=issuer.access_token(aud=API), env=env
    )
    assert other.returncode == 1
    # the environment's audience is for access tokens: an ID token check ignores it
    id_token = issuer.id_token()
    assert cli(*args, "--token-use", "id", stdin=id_token, env=env).returncode == 0


def test_an_id_token_skips_the_audience_check(issuer: LocalIssuer, jwks: JWKSServer) -> None:
    code, report = verify_json(
        issuer, jwks, issuer.id_token(), "--token-use", "any", "--audience", API
    )
    assert code == 0
    assert statuses(report)["audience"] == "skipped"
    assert reasons(report)["audience"].startswith("not an access token")


def test_audience_with_token_use_id_is_a_usage_error_naming_the_option(
    issuer: LocalIssuer, jwks: JWKSServer
) -> None:
    result = verify(issuer, jwks, issuer.id_token(), "--token-use", "id", "--audience", API)
    assert result.returncode == 2
    assert "--audience" in result.stderr


def test_the_token_may_be_an_argument_or_a_bearer_header(
    issuer: LocalIssuer, jwks: JWKSServer
) -> None:
    token = issuer.access_token()
    common = ["--user-pool-id", issuer.user_pool_id, "--jwks-uri", jwks.jwks_uri, "--at", AT]
    assert cli("verify", token, *common).returncode == 0
    assert cli("verify", "-", *common, stdin=f"Bearer {token}\n").returncode == 0


def test_unavailable_keys_exit_2(issuer: LocalIssuer) -> None:
    with socket.socket() as sock:  # a port with no listener
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    args = ["verify", "-", "--user-pool-id", issuer.user_pool_id, "--at", AT, "--json"]
    args += ["--jwks-uri", f"http://127.0.0.1:{port}/jwks.json"]
    result = cli(*args, stdin=issuer.access_token())
    report = json.loads(result.stdout)
    assert result.returncode == 2
    assert report["outcome"] == "keys_unavailable"
    assert statuses(report)["signing key"] == "fail"
    assert statuses(report)["issuer"] == "pass"


def test_unavailable_keys_are_explained_once_with_their_cause(issuer: LocalIssuer) -> None:
    with socket.socket() as sock:  # a port with no listener
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}/jwks.json"
    args = ["verify", "-", "--user-pool-id", issuer.user_pool_id, "--at", AT, "--jwks-uri", url]
    result = cli(*args, stdin=issuer.access_token())
    assert result.returncode == 2
    assert "JWKS fetch failed" not in result.stderr  # no log line above the report
    assert result.stdout.count("Connection refused") == 1  # the cause, said once
    (last,) = [line for line in result.stdout.splitlines() if line.startswith("UNAVAILABLE")]
    assert url in last and "Connection refused" in last


@pytest.mark.parametrize(
    ("args", "stdin"),
    [(["verify", "-", "--user-pool-id", "us-east-1_LocalPool1"], "  \n"), (["decode", "-"], "")],
)
def test_empty_stdin_says_that_stdin_was_empty(args: list[str], stdin: str) -> None:
    result = cli(*args, stdin=stdin)
    assert result.returncode == 2
    assert "stdin was empty" in result.stderr
    assert "'-' to read it from stdin" not in result.stderr


def test_an_empty_token_argument_says_how_to_give_one() -> None:
    result = cli("decode", "")
    assert result.returncode == 2
    assert "no token given" in result.stderr


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["verify", "-"], "--user-pool-id (or --issuer) is required"),
        (["verify", "-", "--user-pool-id", "us-east-1_X1", "--issuer", "https://x"], "--issuer"),
        (["verify", "-", "--user-pool-id", "nope"], "--user-pool-id 'nope' is not"),
        (["verify", "-", "--user-pool-id", "us-east-1_X1", "--client-id", ""], "--client-id "),
        (["token", "--domain", "https://auth.example.com", "--client-id", ""], "--client-id "),
    ],
)
def test_configuration_errors_name_the_options_not_python_parameters(
    args: list[str], expected: str
) -> None:
    result = cli(*args, stdin="x.y.z", env={"COGNITO_CLIENT_SECRET": "s"})
    assert result.returncode == 2
    assert expected in result.stderr
    for parameter in ("user_pool_id", "client_id", "jwks_uri", "token_use"):
        assert parameter not in result.stderr


def test_other_library_warnings_still_reach_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    from cognito_guard.cli import _library_warnings

    with _library_warnings(lambda record: "covered" in record.getMessage()):
        logging.getLogger("cognito_guard").warning("cognito_guard: JWKS lists kid(s) ['k'] twice")
        logging.getLogger("cognito_guard").warning("covered by the report")
        logging.getLogger("cognito_guard").info("rotated")
    assert capsys.readouterr().err == "cognito-guard: warning: JWKS lists kid(s) ['k'] twice\n"


def test_version() -> None:
    from cognito_guard import __version__

    result = cli("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"cognito-guard {__version__}"


@pytest.mark.parametrize(
    ("args", "stdin"),
    [
        (["verify", "-"], "x.y.z"),  # no --user-pool-id
        (["verify", "-", "--user-pool-id", "not a pool"], "x.y.z"),
        (["verify", "-", "--user-pool-id", "us-east-1_LocalPool1"], "   "),  # empty stdin
        (["verify", "-", "--user-pool-id", "us-east-1_X", "--token-use", "refresh"], "x"),
        (["verify", "-", "--user-pool-id", "us-east-1_X", "--at", "yesterday"], "x"),
        (["frobnicate"], None),
        ([], None),
    ],
)
def test_usage_errors_exit_2(args: list[str], stdin: str | None) -> None:
    result = cli(*args, stdin=stdin)
    assert result.returncode == 2
    assert result.stderr


# -- decode --------------------------------------------------------------------------------------


def test_decode_marks_the_output_unverified_and_describes_times(issuer: LocalIssuer) -> None:
    token = issuer.access_token(expires_in=20 * 60 + 60)
    text = cli("decode", "-", "--at", AT, stdin=token)
    assert text.returncode == 0
    assert text.stdout.startswith("UNVERIFIED")
    assert "exp        2027-01-15T08:21:00Z  (in 20 minutes)" in text.stdout
    assert "iat        2027-01-15T08:00:00Z  (1 minute ago)" in text.stdout
    data = json.loads(cli("decode", "-", "--at", AT, "--json", stdin=token).stdout)
    assert data["verified"] is False
    assert data["claims"]["username"] == "alice"
    assert data["header"]["alg"] == "RS256"
    assert data["times"]["exp"] == {
        "epoch": T + 1260,
        "iso": "2027-01-15T08:21:00Z",
        "relative": "in 20 minutes",
    }


def test_decode_hours(issuer: LocalIssuer) -> None:
    token = issuer.access_token(issued_at=T - 2 * 3600)
    data = json.loads(cli("decode", "-", "--at", AT, "--json", stdin=token).stdout)
    assert data["times"]["iat"]["relative"] == "2 hours ago"


def test_decode_of_a_malformed_token_exits_1() -> None:
    result = cli("decode", "-", stdin="not-a-jwt")
    assert result.returncode == 1
    assert "not a JWT" in result.stderr


# -- token ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def oauth(issuer: LocalIssuer) -> Iterator[OAuthServer]:
    with issuer.serve_oauth(client_secret="cli-secret-value") as server:
        yield server


def test_token_prints_a_client_credentials_token(issuer: LocalIssuer, oauth: OAuthServer) -> None:
    args = ["token", "--domain", oauth.domain, "--client-id", oauth.client_id]
    result = cli(*args, "--scope", "orders/read", env={"COGNITO_CLIENT_SECRET": "cli-secret-value"})
    assert result.returncode == 0
    claims = issuer.verifier().verify(result.stdout.strip())
    assert claims.is_machine
    assert claims.scopes == {"orders/read"}
    as_json = cli(*args, "--json", env={"COGNITO_CLIENT_SECRET": "cli-secret-value"})
    assert json.loads(as_json.stdout)["expires_in"] == 3600


def test_token_reads_the_secret_only_from_the_environment(oauth: OAuthServer) -> None:
    args = ["token", "--domain", oauth.domain, "--client-id", oauth.client_id]
    missing = cli(*args, env={"COGNITO_CLIENT_SECRET": ""})
    assert missing.returncode == 2
    assert "COGNITO_CLIENT_SECRET" in missing.stderr
    assert cli(*args, "--secret", "x").returncode == 2  # there is no such option
    custom = cli(*args, "--secret-env", "MY_SECRET", env={"MY_SECRET": "cli-secret-value"})
    assert custom.returncode == 0


def test_token_refused_by_cognito_exits_1_without_echoing_the_secret(oauth: OAuthServer) -> None:
    args = ["token", "--domain", oauth.domain, "--client-id", oauth.client_id]
    result = cli(*args, env={"COGNITO_CLIENT_SECRET": "wrong-secret-value"})
    assert result.returncode == 1
    assert "invalid_client" in result.stderr
    assert "wrong-secret-value" not in result.stderr + result.stdout


# -- help ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("command", [[], ["verify"], ["decode"], ["token"], ["demo"]])
def test_every_command_has_help_with_examples(command: list[str]) -> None:
    result = cli(*command, "--help")
    assert result.returncode == 0
    assert "examples:" in result.stdout
