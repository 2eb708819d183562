"""Metrics and spans through OpenTelemetry, read back with the SDK's in-memory reader and exporter.

Each test records into its own providers (``_telemetry.configure``); the global providers, which
the rest of the suite uses, stay unset: without an SDK nothing is recorded.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from cognito_guard import (
    CognitoVerifier,
    ExpiredTokenError,
    InvalidSignatureError,
    KeyPolicy,
    KeysUnavailableError,
    MalformedTokenError,
    TokenError,
    _telemetry,
)
from cognito_guard.client import OAuthError
from cognito_guard.testing import LocalIssuer, ManualClock

from ._key_support import wait_until_landed

SECRET = "telemetry-secret-value"


@dataclass
class Recorded:
    reader: InMemoryMetricReader
    spans: InMemorySpanExporter

    def points(self, name: str) -> list[Any]:
        data = self.reader.get_metrics_data()
        found = []
        for resource in data.resource_metrics if data else ():
            for scope in resource.scope_metrics:
                assert scope.scope.name == "cognito_guard"
                found += [m for m in scope.metrics if m.name == name]
        return [point for metric in found for point in metric.data.data_points]

    def counts(self, name: str, attribute: str) -> dict[str, int]:
        return {p.attributes[attribute]: p.value for p in self.points(name)}

    def finished(self, name: str) -> list[ReadableSpan]:
        return [span for span in self.spans.get_finished_spans() if span.name == name]


@pytest.fixture
def recorded() -> Iterator[Recorded]:
    reader = InMemoryMetricReader()
    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    meter_provider = MeterProvider(metric_readers=[reader])
    _telemetry.configure(meter_provider=meter_provider, tracer_provider=tracer_provider)
    try:
        yield Recorded(reader, exporter)
    finally:
        _telemetry.configure()  # back to the global providers (no SDK: nothing recorded)
        meter_provider.shutdown()
        tracer_provider.shutdown()


@pytest.fixture(scope="module")
def issuer(cognito_signing_keys: list[RSAPrivateKey]) -> LocalIssuer:
    return LocalIssuer(keys=cognito_signing_keys)


def _reject(verifier: CognitoVerifier, token: str) -> None:
    with pytest.raises(TokenError):
        verifier.verify(token)


def _tampered(token: str) -> str:
    header, payload, signature = token.split(".")
    return f"{header}.{payload}.{signature[:-4]}AAAA"


# -- verifications ---------------------------------------------------------------------------------


def test_verifications_are_counted_by_outcome(issuer: LocalIssuer, recorded: Recorded) -> None:
    verifier = issuer.verifier(token_cache_size=0)
    for _ in range(3):
        verifier.verify(issuer.access_token())
    _reject(verifier, issuer.access_token(expires_in=-60))
    _reject(verifier, _tampered(issuer.access_token()))
    _reject(verifier, "not-a-token")
    assert recorded.counts("cognito_guard.verifications", "outcome") == {
        "accepted": 3,
        ExpiredTokenError.__name__: 1,
        InvalidSignatureError.__name__: 1,
        MalformedTokenError.__name__: 1,
    }


def test_the_duration_histogram_has_one_sample_per_verification_in_seconds(
    issuer: LocalIssuer, recorded: Recorded
) -> None:
    verifier = issuer.verifier()
    token = issuer.access_token()
    verifier.verify(token)
    verifier.verify(token)
    _reject(verifier, issuer.access_token(expires_in=-60))
    points = {p.attributes["outcome"]: p for p in recorded.points(_telemetry.VERIFICATION_DURATION)}
    assert points["accepted"].count == 2
    assert points["ExpiredTokenError"].count == 1
    assert 0 < points["accepted"].sum < 1  # seconds: two verifications take well under one
    assert points["accepted"].explicit_bounds[0] < 0.001  # sub-millisecond buckets


def test_token_cache_hits_are_counted(issuer: LocalIssuer, recorded: Recorded) -> None:
    verifier = issuer.verifier()
    token = issuer.access_token()
    for _ in range(4):
        verifier.verify(token)  # the first verifies, the next three are hits
    verifier.verify(issuer.access_token())
    hits = recorded.points(_telemetry.TOKEN_CACHE_HITS)
    assert [p.value for p in hits] == [3]
    assert recorded.counts("cognito_guard.verifications", "outcome") == {"accepted": 5}


def test_a_cache_hit_rejected_by_the_custom_check_counts_as_a_rejection(
    issuer: LocalIssuer, recorded: Recorded
) -> None:
    denied: set[str] = set()
    verifier = issuer.verifier(custom_check=lambda claims: claims.sub not in denied)
    token = issuer.access_token()
    claims = verifier.verify(token)
    denied.add(claims.sub)
    _reject(verifier, token)
    assert recorded.counts("cognito_guard.verifications", "outcome") == {
        "accepted": 1,
        "ClaimCheckError": 1,
    }


def test_averify_is_counted_like_verify(issuer: LocalIssuer, recorded: Recorded) -> None:
    verifier = issuer.verifier(token_cache_size=0)

    async def run() -> None:
        await verifier.averify(issuer.access_token())
        with pytest.raises(ExpiredTokenError):
            await verifier.averify(issuer.access_token(expires_in=-60))

    asyncio.run(run())
    assert recorded.counts("cognito_guard.verifications", "outcome") == {
        "accepted": 1,
        "ExpiredTokenError": 1,
    }


# -- JWKS fetches ----------------------------------------------------------------------------------


def test_jwks_fetches_are_counted_by_result_and_traced(
    issuer: LocalIssuer, recorded: Recorded
) -> None:
    clock = ManualClock(issuer.clock())
    with issuer.serve() as server:
        url = server.jwks_uri
        verifier = issuer.verifier(jwks_uri=url, token_cache_size=0, clock=clock)
        verifier.verify(issuer.access_token())  # one fetch: ok
        server.status = 503
        clock.advance(2 * 3600)  # the JWKS is stale: the next lookup refetches, and fails
        verifier.verify(issuer.access_token(issued_at=clock()))  # served from stale keys
        wait_until_landed(verifier)  # the refresh runs in the background
    results = {
        (p.attributes["result"], p.attributes["url.full"]): p.value
        for p in recorded.points(_telemetry.JWKS_FETCHES)
    }
    assert results == {("ok", url): 1, ("http_error", url): 1}
    spans = recorded.finished("cognito_guard.jwks.fetch")
    assert [s.attributes["cognito_guard.jwks.result"] for s in spans] == ["ok", "failed"]
    assert all(s.kind is SpanKind.CLIENT for s in spans)
    assert spans[0].status.status_code is StatusCode.UNSET
    assert spans[1].status.status_code is StatusCode.ERROR
    assert "HTTP 503" in (spans[1].status.description or "")


def test_an_unreachable_jwks_is_counted_as_such(issuer: LocalIssuer, recorded: Recorded) -> None:
    with socket.socket() as sock:  # a port with no listener
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}/jwks.json"
    verifier = issuer.verifier(jwks_uri=url, key_policy=KeyPolicy(timeout=2))

    async def run() -> None:  # the async driver, for once
        with pytest.raises(KeysUnavailableError):
            await verifier.averify(issuer.access_token())

    asyncio.run(run())
    assert recorded.counts(_telemetry.JWKS_FETCHES, "result") == {"unreachable": 1}
    assert recorded.counts("cognito_guard.verifications", "outcome") == {"KeysUnavailableError": 1}
    (span,) = recorded.finished("cognito_guard.jwks.fetch")
    assert span.status.status_code is StatusCode.ERROR


def test_the_jwks_fetch_span_is_a_child_of_the_callers_span(
    issuer: LocalIssuer, recorded: Recorded
) -> None:
    tracer = _telemetry.current()._tracer
    with issuer.serve() as server:
        verifier = issuer.verifier(jwks_uri=server.jwks_uri)
        with tracer.start_as_current_span("GET /orders") as request_span:
            verifier.verify(issuer.access_token())
    (fetch,) = recorded.finished("cognito_guard.jwks.fetch")
    assert fetch.parent is not None
    assert fetch.parent.span_id == request_span.get_span_context().span_id


# -- token requests ------------------------------------------------------------------------------


def test_each_token_request_has_a_span_without_secrets(
    issuer: LocalIssuer, recorded: Recorded
) -> None:
    with issuer.serve_oauth(client_secret=SECRET) as server:
        domain = server.domain
        client = server.client()
        tokens = client.client_credentials(scopes=["orders/read"])
        with pytest.raises(OAuthError):
            server.client(client_secret="wrong-" + SECRET).client_credentials()
        asyncio.run(client.arevoke(tokens.refresh_token or "no-refresh-token"))
    ok, refused = recorded.finished("cognito_guard.client_credentials")
    assert ok.kind is SpanKind.CLIENT
    assert ok.attributes["http.response.status_code"] == 200
    assert ok.attributes["url.full"] == domain + "/oauth2/token"
    assert ok.status.status_code is StatusCode.UNSET
    assert refused.attributes["http.response.status_code"] == 401  # invalid_client
    assert refused.status.status_code is StatusCode.ERROR
    (revoke,) = recorded.finished("cognito_guard.revoke")
    assert revoke.attributes["cognito_guard.operation"] == "revoke"
    for span in recorded.spans.get_finished_spans():
        text = repr(dict(span.attributes or {})) + repr(span.status.description)
        assert SECRET not in text
        assert tokens.access_token not in text


# -- without an SDK, and without the package ------------------------------------------------------


def test_without_an_sdk_nothing_records_and_verify_works(issuer: LocalIssuer) -> None:
    assert issuer.verifier().verify(issuer.access_token()).sub
    assert _telemetry.ACTIVE is None  # the global providers are the API's no-op proxies


def test_opentelemetry_is_imported_at_the_first_verification_not_at_import() -> None:
    out = _python(
        """
        import sys
        from cognito_guard import _telemetry
        from cognito_guard.testing import LocalIssuer

        before = "opentelemetry" in sys.modules
        issuer = LocalIssuer()
        issuer.verifier().verify(issuer.access_token())
        print(before, "opentelemetry" in sys.modules, _telemetry.ACTIVE)
        """
    )
    assert out == "False True None"


def test_a_no_op_meter_provider_records_nothing(issuer: LocalIssuer) -> None:
    from opentelemetry.metrics import NoOpMeterProvider

    try:
        assert _telemetry.configure(meter_provider=NoOpMeterProvider()).on is False
        assert _telemetry.ACTIVE is None
        assert issuer.verifier().verify(issuer.access_token()).sub
    finally:
        _telemetry.configure()


def _python(code: str, *, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(  # noqa: S603 - our own interpreter, fixed code
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_an_sdk_installed_after_import_starts_recording() -> None:
    out = _python(
        """
        from cognito_guard import _telemetry
        from cognito_guard.testing import LocalIssuer
        from opentelemetry import metrics
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import InMemoryMetricReader

        issuer = LocalIssuer()
        verifier = issuer.verifier()
        verifier.verify(issuer.access_token())  # before the SDK: not recorded
        assert _telemetry.ACTIVE is None
        reader = InMemoryMetricReader()
        metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))
        assert _telemetry.ACTIVE is not None
        verifier.verify(issuer.access_token())
        for rm in reader.get_metrics_data().resource_metrics:
            for sm in rm.scope_metrics:
                for m in sm.metrics:
                    if m.name == "cognito_guard.verifications":
                        print([(dict(p.attributes), p.value) for p in m.data.data_points])
        """
    )
    assert out == "[({'outcome': 'accepted'}, 1)]"


def test_an_sdk_installed_before_import_records_at_once() -> None:
    out = _python(
        """
        from opentelemetry import metrics
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import InMemoryMetricReader

        reader = InMemoryMetricReader()
        metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))
        from cognito_guard import _telemetry
        from cognito_guard.testing import LocalIssuer

        issuer = LocalIssuer()
        token = issuer.access_token()
        verifier = issuer.verifier()
        verifier.verify(token)
        verifier.verify(token)
        names = {
            m.name: sum(p.value for p in m.data.data_points if hasattr(p, "value"))
            for rm in reader.get_metrics_data().resource_metrics
            for sm in rm.scope_metrics
            for m in sm.metrics
        }
        print(names["cognito_guard.verifications"], names["cognito_guard.token_cache.hits"])
        """
    )
    assert out == "2 1"


def test_without_opentelemetry_installed_everything_works() -> None:
    out = _python(
        """
        import sys
        sys.modules["opentelemetry"] = None  # as if the [otel] extra were not installed
        from cognito_guard import _telemetry
        from cognito_guard.testing import LocalIssuer

        issuer = LocalIssuer()
        with issuer.serve() as server:
            verifier = issuer.verifier(jwks_uri=server.jwks_uri)
            claims = verifier.verify(issuer.access_token())
        with issuer.serve_oauth(client_secret="s") as oauth:
            oauth.client().client_credentials()
        print(_telemetry.ACTIVE, _telemetry.current().installed, bool(claims.sub))
        """
    )
    assert out == "None False True"
