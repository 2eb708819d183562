"""Hostile Redis URLs: whatever the spelling, a credential never reaches a log line or an error.

``redact_url`` gives the text that is logged and printed; ``url_secrets`` (and so
``RedisConnection.secrets``) the values :func:`describe` removes from a Redis error. Each secret
is looked for as written, percent-encoded and percent-decoded.
"""

from __future__ import annotations

from urllib.parse import quote, quote_plus, unquote, unquote_plus

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cognito_guard._redis import RedisConnection, describe, redact_url, url_secrets


def spellings(secret: str) -> set[str]:
    """``secret`` as written, percent-encoded and percent-decoded (once and twice)."""
    forms = {secret, quote(secret), quote(secret, safe=""), quote_plus(secret)}
    forms |= {unquote(secret), unquote_plus(secret), unquote(unquote(secret))}
    return {form for form in forms if form}


def assert_hidden(text: str, *secrets: str) -> None:
    for secret in secrets:
        for form in spellings(secret):
            assert form not in text, f"{form!r} (a spelling of {secret!r}) in {text!r}"


@pytest.mark.parametrize(
    "name",
    [
        "ssl_password",
        "ssl_keyfile_password",
        "pass%77ord",  # "password", one letter percent-encoded
        "%70%61%73%73%77%6F%72%64",  # every letter
        "PassWord%5F2",
        "pass%2577ord",  # encoded twice
        "ssl+password",  # "+" is a space in a query
        "pass%00word",  # a NUL in the middle
        "passwd",
        "pwd",
        "token",
        "auth_token",
        "api_key",
        "client_secret",
        "credentials",
        "AUTH",
    ],
)
def test_secret_query_values_are_hidden_whatever_the_name_spelling(name: str) -> None:
    url = f"redis://cache.example.com:6379/0?db=1&{name}=Hunter2-q7Z&client_name=api"
    shown = redact_url(url)
    assert_hidden(shown, "Hunter2-q7Z")
    assert shown.startswith("redis://cache.example.com:6379/0?db=1&")
    assert shown.endswith("***&client_name=api")
    assert "Hunter2-q7Z" in url_secrets(url)


def test_repeated_secret_parameters_are_all_hidden() -> None:
    url = (
        "rediss://cache:6380/0?password=First-1aa&db=0&password=Second-2bb;password=Third-3cc"
        "&ssl_password=Fourth-4dd&ssl_password=Fifth-5ee"
    )
    shown = redact_url(url)
    assert_hidden(shown, "First-1aa", "Second-2bb", "Third-3cc", "Fourth-4dd", "Fifth-5ee")
    assert shown == (
        "rediss://cache:6380/0?password=***&db=0&password=***;password=***"
        "&ssl_password=***&ssl_password=***"
    )


def test_a_password_holding_at_colon_and_percent_40() -> None:
    url = "redis://app:p@ss:w%40rd-Q7@127.0.0.1:6379/0"
    shown = redact_url(url)
    assert shown == "redis://app:***@127.0.0.1:6379/0"
    assert_hidden(shown, "p@ss:w%40rd-Q7")
    conn = RedisConnection(url)
    assert_hidden(repr(conn) + conn.url, "p@ss:w%40rd-Q7")
    # redis-py sends the decoded password; an error quoting it loses it too.
    assert "p@ss:w@rd-Q7" in conn.secrets
    error = ConnectionError("AUTH p@ss:w@rd-Q7 failed (raw p@ss:w%40rd-Q7)")
    assert_hidden(describe(error, conn.secrets), "p@ss:w%40rd-Q7")


def test_secret_query_values_are_removed_from_errors() -> None:
    conn = RedisConnection("rediss://app:pw-Main-5x@cache:6380/0?ssl_password=K%2Fey-Pw-8y")
    text = describe(ConnectionError("key K/ey-Pw-8y and pw-Main-5x refused"), conn.secrets)
    assert_hidden(text, "K%2Fey-Pw-8y", "pw-Main-5x")


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (
            "redis://app:V6-secret-1@[::1]:6379/0?ssl_password=V6-secret-2",
            "redis://app:***@[::1]:6379/0?ssl_password=***",
        ),
        (
            "rediss://:V6-secret-1@[fe80::1%25eth0]:6380/2?token=V6-secret-2",
            "rediss://:***@[fe80::1%25eth0]:6380/2?token=***",
        ),
        (
            "redis://V6-secret-1@[2001:db8::7]/0?Pass%77ord=V6-secret-2",
            "redis://***@[2001:db8::7]/0?Pass%77ord=***",
        ),
    ],
)
def test_ipv6_hosts_stay_shown_and_secrets_hidden(url: str, shown: str) -> None:
    assert redact_url(url) == shown
    assert_hidden(redact_url(url), "V6-secret-1", "V6-secret-2")


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (
            "unix:///var/run/redis.sock?db=2&password=Unix-pw-1",
            "unix:///var/run/redis.sock?db=2&password=***",
        ),
        (
            "unix://:Unix-pw-1@/var/run/redis.sock?ssl_password=Unix-pw-2&db=0",
            "unix://:***@/var/run/redis.sock?ssl_password=***&db=0",
        ),
        (
            "unix://app:Unix-pw-1@/var/run/redis.sock?pass%77ord=Unix-pw-2",
            "unix://app:***@/var/run/redis.sock?pass%77ord=***",
        ),
    ],
)
def test_unix_urls_keep_their_path_and_hide_secrets(url: str, shown: str) -> None:
    assert redact_url(url) == shown
    assert_hidden(redact_url(url), "Unix-pw-1", "Unix-pw-2")


@pytest.mark.parametrize("delimiter", ["/", "?", "#", "/?#"])
def test_a_raw_slash_question_mark_or_hash_in_a_password(delimiter: str) -> None:
    # The delimiter ends the host part early: the rest of the password lands in the path,
    # query or fragment, and the username/host split is no longer trustworthy.
    url = f"redis://app:Left7Q{delimiter}Right9Z@cache.example.com:6379/0?db=1"
    shown = redact_url(url)
    assert_hidden(shown, "Left7Q", "Right9Z")
    assert shown == "redis://***@cache.example.com:6379/0?db=1"
    assert any("Right9Z" in secret for secret in url_secrets(url))


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://Same-pw-77:Same-pw-77@cache/0", "redis://***:***@cache/0"),
        ("redis://cache/0#password=Frag-pw-1", "redis://cache/0#***"),
        ("redis://cache/0?password%3DOdd-pw-1=x", "redis://cache/0?***"),
    ],
)
def test_odd_places_for_a_secret(url: str, shown: str) -> None:
    assert redact_url(url) == shown
    assert_hidden(shown, "Same-pw-77", "Frag-pw-1", "Odd-pw-1")


def test_a_control_character_never_reaches_the_log_line() -> None:
    shown = redact_url("redis://app\x1b\x07:pw-Ctl-9@cache/0?client_name=a\x00b")
    assert shown == "redis://app%1B%07:***@cache/0?client_name=a%00b"


# Printable text with the URL delimiters in it; secrets at least 8 long, so that one cannot
# occur by chance in the rest of the URL.
_SECRET = st.text(
    alphabet=st.sampled_from("abcXYZ0129@:/?#&;=%+~-_. !$"), min_size=8, max_size=30
).filter(lambda s: s.strip() == s and len(set(s)) > 4)


@settings(max_examples=300, deadline=None)
@given(password=_SECRET, option=_SECRET, encode=st.booleans())
def test_any_password_and_option_value_is_hidden(password: str, option: str, encode: bool) -> None:
    user_password = quote(password, safe="") if encode else password
    url = f"rediss://app:{user_password}@cache.example.com:6380/0?ssl_password={quote(option)}"
    shown = redact_url(url)
    # The decoded forms of a percent-encoded secret are what a server reads: hidden as well.
    for secret in (password, option):
        for form in spellings(secret):
            if len(form) >= 8:
                assert form not in shown, (form, shown)
