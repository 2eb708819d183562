"""Where ``cognito-guard revoke`` / ``revocations`` take the Redis URL from, and that its password
is never printed: ``$COGNITO_REVOCATIONS_URL``, ``--redis-file PATH``, or ``--redis URL`` with a
warning (a command line is readable by every user of the machine). Run as subprocesses against a
real Redis with an ACL user."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

from cognito_guard.testing import RedisServer
from cognito_guard.testing.pytest_plugin import redis_server_or_skip

from ._cli import cli

PASSWORD = "ops-p@ss:w0rd-7Q"  # "@" and ":" in it: percent-encoded in the URL
SPELLINGS = (PASSWORD, quote(PASSWORD, safe=""), quote(PASSWORD))
WARNING = "warning: the --redis URL holds a password"


def assert_no_password(result: subprocess.CompletedProcess[str]) -> None:
    for spelling in SPELLINGS:
        assert spelling not in result.stdout + result.stderr


@pytest.fixture(scope="module")
def server() -> Iterator[RedisServer]:
    started = redis_server_or_skip(acl_user=("ops", PASSWORD))
    yield started
    started.close()


@pytest.fixture
def url(server: RedisServer) -> str:
    return f"redis://ops:{quote(PASSWORD, safe='')}@127.0.0.1:{server.port}/0"


@pytest.fixture
def url_file(url: str, tmp_path: Path) -> Path:
    path = tmp_path / "revocations-url"
    path.write_text(f"\n  {url}  \n\n")
    path.chmod(0o600)
    return path


def test_a_password_in_argv_works_with_a_warning_that_does_not_echo_it(url: str) -> None:
    result = cli("revoke", "--redis", url, "--jti", "jti-argv")
    assert result.returncode == 0, result.stderr
    assert WARNING in result.stderr
    assert "COGNITO_REVOCATIONS_URL" in result.stderr and "--redis-file" in result.stderr
    assert "ops:***@127.0.0.1" in result.stdout
    assert_no_password(result)


def test_a_password_in_an_argv_query_option_warns_too(server: RedisServer) -> None:
    url = f"redis://ops@127.0.0.1:{server.port}/0?password={quote(PASSWORD, safe='')}"
    result = cli("revocations", "--redis", url, "--json")
    assert result.returncode == 0, result.stderr
    assert WARNING in result.stderr
    assert json.loads(result.stdout)["redis"].endswith("/0?password=***")
    assert_no_password(result)


def test_the_url_from_a_file_or_the_environment_brings_no_warning(
    url: str, url_file: Path, server: RedisServer
) -> None:
    revoked = cli("revoke", "--redis-file", str(url_file), "--sub", "user-file")
    from_env = cli("revocations", "--json", env={"COGNITO_REVOCATIONS_URL": url})
    # No password in it (the server's default user): nothing to warn about.
    no_password = cli("revocations", "--redis", f"redis://127.0.0.1:{server.port}/0")
    for result in (revoked, from_env, no_password):
        assert result.returncode == 0, result.stderr
        assert "warning" not in result.stderr
        assert_no_password(result)
    assert "ops:***@127.0.0.1" in revoked.stdout
    ids = {entry["id"] for entry in json.loads(from_env.stdout)["entries"]}
    assert "user-file" in ids


def test_the_file_wins_over_the_environment(url_file: Path) -> None:
    elsewhere = "redis://nobody:other-secret-9@127.0.0.1:1/0"
    result = cli(
        "revocations", "--redis-file", str(url_file), env={"COGNITO_REVOCATIONS_URL": elsewhere}
    )
    assert result.returncode == 0, result.stderr
    assert "ops:***@127.0.0.1" in result.stdout and "other-secret-9" not in result.stdout


def test_redis_file_mistakes_are_usage_errors_that_show_no_content(
    url: str, tmp_path: Path
) -> None:
    missing = cli("revoke", "--redis-file", str(tmp_path / "absent"), "--jti", "x")
    assert missing.returncode == 2
    assert f"cannot read --redis-file {tmp_path / 'absent'}" in missing.stderr
    two = tmp_path / "two-urls"
    two.write_text(f"{url}\n{url}\n")
    empty = tmp_path / "empty"
    empty.write_text("\n \n")
    binary = tmp_path / "binary"
    binary.write_bytes(b"\xff\xfe" + url.encode())
    bad_scheme = tmp_path / "bad-scheme"
    bad_scheme.write_text(f"http://ops:{quote(PASSWORD, safe='')}@127.0.0.1/0\n")
    expected = {
        two: "must hold one Redis URL (it holds 2 lines)",
        empty: "must hold one Redis URL (it is empty)",
        binary: "is not UTF-8 text",
        bad_scheme: "--redis-file's Redis URL must start with redis://",
    }
    for path, message in expected.items():
        result = cli("revocations", "--redis-file", str(path))
        assert result.returncode == 2, (path, result.stderr)
        assert message in result.stderr
        assert_no_password(result)
    both = cli("revocations", "--redis", url, "--redis-file", str(two))
    assert both.returncode == 2 and "not allowed with argument" in both.stderr
    assert_no_password(both)


def test_a_bad_url_in_the_environment_is_named_as_such() -> None:
    bad = f"memcached://ops:{quote(PASSWORD, safe='')}@127.0.0.1/0"
    result = cli("revoke", "--jti", "x", env={"COGNITO_REVOCATIONS_URL": bad})
    assert result.returncode == 2
    assert "$COGNITO_REVOCATIONS_URL's Redis URL must start with" in result.stderr
    assert_no_password(result)


def test_help_points_to_the_environment_and_the_file() -> None:
    result = cli("revoke", "--help")
    assert result.returncode == 0
    assert "--redis-file PATH" in result.stdout and "COGNITO_REVOCATIONS_URL" in result.stdout


@pytest.mark.parametrize("timeout", ["0", "-1", "nan", "inf", "soon"])
def test_a_bad_timeout_is_named_as_the_timeout_option(timeout: str) -> None:
    result = cli("revocations", "--redis", "redis://127.0.0.1:1/0", "--timeout", timeout)
    assert result.returncode == 2
    assert "error: argument --timeout:" in result.stderr
    assert "--redis: timeout" not in result.stderr
