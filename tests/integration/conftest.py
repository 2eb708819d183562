"""Fixtures of the integration tests: the fleet tests run against one server and a cluster."""

from __future__ import annotations

import pytest


@pytest.fixture(params=["single", "cluster"])
def fleet_redis_url(request: pytest.FixtureRequest) -> str:
    """A flushed Redis URL: of a single server, then of one node of a Redis Cluster (three
    masters with a replica each). Both are the session's, started once."""
    if request.param == "single":
        return str(request.getfixturevalue("cognito_redis_url"))
    return str(request.getfixturevalue("cognito_redis_cluster_url"))
