"""The rules of _redis that need no server: hash tags, prefixes, a cluster URL, the probe's
reading of a server's answers (its faults injected), the retry budget."""

from __future__ import annotations

from typing import Any

import pytest
import redis

from cognito_guard import ConfigurationError
from cognito_guard._redis import check_prefix, hash_tag, key_name
from cognito_guard._redis.cluster import _probe, check_cluster_url, cluster_retries, probe_url
from cognito_guard._redis.ops import Steps


@pytest.mark.parametrize(
    ("key", "tag"),
    [
        ("cognito_guard:{revocations}", "revocations"),
        ("cognito_guard:{revocations}:version", "revocations"),
        ("{tenant}:{revocations}", "tenant"),
        ("a{b{revocations}:x", "b{revocations"),  # the first "{" and the next "}"
        ("cognito_guard:revocations", None),
        ("x{}{revocations}", None),  # an empty tag: the whole key is hashed
        ("x{revocations", None),
    ],
)
def test_hash_tag_is_what_redis_cluster_hashes(key: str, tag: str | None) -> None:
    assert hash_tag(key) == tag


@pytest.mark.parametrize("prefix", ["cognito_guard:", "", "{app}:", "a{b", "}{", "x}"])
def test_every_tagged_key_of_a_feature_shares_one_tag(prefix: str) -> None:
    assert check_prefix(prefix, "X") == prefix
    keys = [key_name(prefix, "revocations", *parts, tag=True) for parts in ((), ("version",))]
    assert hash_tag(keys[0]) is not None and hash_tag(keys[0]) == hash_tag(keys[1])


@pytest.mark.parametrize("prefix", ["{}", "app{}:", "x{}{y}:"])
def test_a_prefix_with_an_empty_hash_tag_is_refused(prefix: str) -> None:
    with pytest.raises(ConfigurationError, match="empty hash tag"):
        check_prefix(prefix, "X")


@pytest.mark.parametrize(
    "url",
    ["redis://h:6379/0", "redis://h:6379", "rediss://u:p@h:6379/", "redis://h:6379/?db=0"],
)
def test_a_cluster_url_with_database_0_or_none_is_accepted(url: str) -> None:
    check_cluster_url(url, "the URL")


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("redis://h:6379/1", "database 0 only"),
        ("redis://h:6379/0?db=3", "database 0 only"),
        ("unix:///tmp/redis.sock", "unix://"),
    ],
)
def test_what_a_cluster_cannot_do_is_refused(url: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        check_cluster_url(url, "the URL")


@pytest.mark.parametrize(
    ("url", "probed"),
    [
        ("redis://h:6379/3", "redis://h:6379"),
        (
            "rediss://u:p%2Fw@h:6380/0?ssl_ca_certs=%2Fca.pem&db=2",
            "rediss://u:p%2Fw@h:6380?ssl_ca_certs=%2Fca.pem",
        ),
        ("redis://h", "redis://h"),
    ],
)
def test_the_probe_connects_to_database_0(url: str, probed: str) -> None:
    assert probe_url(url) == probed


def _decide(answers: list[Any]) -> bool | None:
    """The probe's verdict when the server answers ``answers`` in turn (an exception is an
    error reply, or a fault)."""
    steps = Steps(_probe(redis.ResponseError))
    replies = iter(answers)
    while steps.next() is not None:
        answer = next(replies)
        if isinstance(answer, BaseException):
            steps.error = answer
        else:
            steps.result = answer
    return steps.value


def test_the_probe_reads_the_servers_answers() -> None:
    assert _decide([{"cluster_state": "ok"}]) is True
    disabled = redis.ResponseError("ERR This instance has cluster support disabled")
    assert _decide([disabled]) is False
    noperm = redis.exceptions.NoPermissionError("NOPERM no permissions to run 'cluster|info'")
    assert _decide([noperm, {"cluster_enabled": 1}]) is True
    assert _decide([noperm, b"# Cluster\r\ncluster_enabled:0\r\n"]) is False
    assert _decide([noperm, noperm]) is False  # cannot tell: a single server, as before


def test_a_fault_during_the_probe_is_the_callers() -> None:
    with pytest.raises(redis.ConnectionError):
        _decide([redis.ConnectionError("refused")])
    noperm = redis.exceptions.NoPermissionError("NOPERM")
    with pytest.raises(redis.TimeoutError):
        _decide([noperm, redis.TimeoutError("timed out")])


@pytest.mark.parametrize("timeout", [0.1, 0.5, 2.0, 10.0, 1000.0])
def test_a_cluster_retries_for_about_its_timeout(timeout: float) -> None:
    count = cluster_retries(timeout, 0.02, 0.5)
    pauses = [min(0.02 * 2 ** (n + 1), 0.5) / 2 for n in range(count)]  # the mean jittered pause
    assert 1 <= count <= 20
    assert sum(pauses) >= timeout or count == 20
    assert count == 1 or sum(pauses[:-1]) < timeout
