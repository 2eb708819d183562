"""Outage.failed: the first failure of an outage is logged once, without the URL's secrets."""

from __future__ import annotations

import logging

import pytest

from cognito_guard._redis import Outage, RedisConnection


def test_the_first_failure_of_an_outage_is_logged_once_without_the_password(
    caplog: pytest.LogCaptureFixture,
) -> None:
    conn = RedisConnection("redis://app:s3cret-pw@127.0.0.1:1/0", what="Test")
    outage = Outage()
    error = ConnectionError("AUTH app s3cret-pw refused")
    with caplog.at_level(logging.WARNING, logger="cognito_guard"):
        outage.failed(error, conn, "the feature serves %d local entries", 3)
        outage.failed(error, conn, "the feature serves %d local entries", 3)
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 1
    assert messages[0].startswith("Redis at redis://app:***@127.0.0.1:1/0 is unreachable (")
    assert messages[0].endswith("): the feature serves 3 local entries")
    assert "s3cret-pw" not in messages[0]
    assert outage.down
    assert outage.ended()
    with caplog.at_level(logging.WARNING, logger="cognito_guard"):
        outage.failed(error, conn, "again")  # a new outage is logged again
    assert len(caplog.records) == 2
