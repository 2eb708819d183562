"""The Redis URL rules of cognito_guard._redis: refused where written, credentials never shown."""

from __future__ import annotations

import pytest

from cognito_guard import ConfigurationError
from cognito_guard._redis import RedisConnection, check_url, describe, redact_url
from cognito_guard.config import verifier_from_env


@pytest.mark.parametrize(
    "url",
    [
        "redis://127.0.0.1:6379/0",
        "rediss://cache.example.com:6380/1",
        "redis://:secret@127.0.0.1:6379/0",
        "rediss://app:secret@cache.example.com/0",
        "unix:///var/run/redis.sock",
    ],
)
def test_accepted_urls(url: str) -> None:
    assert check_url(url) == url


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("http://127.0.0.1:6379", "'http://'"),
        ("127.0.0.1:6379", "redis://"),
        ("memcached://x", "'memcached://'"),
        ("redis://", "no host"),
        ("unix://", "no socket path"),
        ("redis://127.0.0.1:notaport/0", "not a valid URL"),
        ("", "non-empty"),
    ],
)
def test_refused_urls_name_the_problem(url: str, fragment: str) -> None:
    with pytest.raises(ConfigurationError, match=fragment):
        check_url(url)


def test_refusal_never_repeats_the_url() -> None:
    with pytest.raises(ConfigurationError) as caught:
        check_url("http://user:hunter2@127.0.0.1:6379")
    assert "hunter2" not in str(caught.value)


def test_non_string_url_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError):
        check_url(6379)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://:hunter2@127.0.0.1:6379/0", "redis://:***@127.0.0.1:6379/0"),
        ("rediss://app:hunter2@cache:6380/0", "rediss://app:***@cache:6380/0"),
        ("redis://hunter2@cache/0", "redis://***@cache/0"),
        ("redis://cache/0?password=hunter2&db=1", "redis://cache/0?password=***&db=1"),
        ("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"),
    ],
)
def test_redaction(url: str, shown: str) -> None:
    assert redact_url(url) == shown


def test_connection_repr_and_url_are_redacted() -> None:
    conn = RedisConnection("redis://app:hunter2@127.0.0.1:6379/0")
    assert "hunter2" not in repr(conn)
    assert "hunter2" not in conn.url
    assert conn.secrets == ("hunter2",)


def test_describe_removes_secrets() -> None:
    text = describe(ConnectionError("AUTH hunter2 failed\nat 127.0.0.1"), ("hunter2",))
    assert text == "ConnectionError: AUTH *** failed at 127.0.0.1"


def test_url_and_client_together_are_refused() -> None:
    import redis

    with pytest.raises(ConfigurationError, match="not both"):
        RedisConnection("redis://127.0.0.1:6379/0", client=redis.Redis())
    with pytest.raises(ConfigurationError, match="not both"):
        RedisConnection()


@pytest.mark.parametrize("timeout", [0, -1, True, "2"])
def test_bad_timeout(timeout: object) -> None:
    with pytest.raises(ConfigurationError, match="timeout"):
        RedisConnection("redis://127.0.0.1:6379/0", timeout=timeout)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("url", "meant"),
    [
        ("localhost:6379", "redis://localhost:6379"),
        ("cache.example.com:6380/0", "redis://cache.example.com:6380/0"),
        ("10.0.0.1:6379", "redis://10.0.0.1:6379"),
    ],
)
def test_a_url_without_scheme_says_so_and_suggests_redis(url: str, meant: str) -> None:
    # urlsplit reads "localhost:6379" as the scheme "localhost"
    with pytest.raises(ConfigurationError, match="found no scheme") as caught:
        check_url(url)
    assert f"did you mean {meant!r}?" in str(caught.value)
    assert "localhost://" not in str(caught.value)


def test_the_environment_variable_without_scheme_gets_the_same_hint() -> None:
    environ = {
        "COGNITO_USER_POOL_ID": "eu-west-1_AbCdEf123",
        "COGNITO_CLIENT_ID": "abc",
        "COGNITO_REVOCATIONS_URL": "localhost:6379",
    }
    with pytest.raises(ConfigurationError, match="COGNITO_REVOCATIONS_URL") as caught:
        verifier_from_env(environ)
    assert "found no scheme; did you mean 'redis://localhost:6379'?" in str(caught.value)


def test_no_scheme_hint_never_repeats_a_password() -> None:
    with pytest.raises(ConfigurationError, match="found no scheme") as caught:
        check_url("app:hunter2@cache.example.com:6379")
    assert "hunter2" not in str(caught.value) and "did you mean" not in str(caught.value)
