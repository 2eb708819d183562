"""Metrics and traces through OpenTelemetry, when ``opentelemetry-api`` is installed.

The convention for instrumented libraries: depend on the API only. Until the application installs
an SDK, the API's global providers hand out proxies that do nothing, and without the package at
all this module does nothing either. The instruments are resolved once, on first use (the first
verification, JWKS fetch or token request), not at import: a process that never verifies (a
CLI command, a Lambda function's import) does not import OpenTelemetry.

The verifier reads :data:`ACTIVE` on every call: None unless a real SDK records, so that an
application without OpenTelemetry pays neither for the counters nor for ``time.perf_counter``.
Before the first use it holds a stand-in whose first call resolves the instruments. The
instruments are documented in docs/observability.md.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator, Mapping
from typing import Any

from ._version import __version__

# The API's modules once imported (by _import_api); None while not, or without the [otel] extra.
_metrics: Any = None
_trace: Any = None

__all__ = [
    "ACTIVE",
    "Telemetry",
    "answered",
    "configure",
    "current",
    "fetched",
    "request",
    "span",
]

VERIFICATIONS = "cognito_guard.verifications"
VERIFICATION_DURATION = "cognito_guard.verification.duration"
TOKEN_CACHE_HITS = "cognito_guard.token_cache.hits"
JWKS_FETCHES = "cognito_guard.jwks.fetches"
SPAN_JWKS_FETCH = "cognito_guard.jwks.fetch"

# Verification takes microseconds (a cache hit) to a few milliseconds (RSA), or seconds when keys
# must be fetched; the SDK's default buckets (0, 5, 10, ... 10000) assume milliseconds.
_DURATION_BUCKETS = (
    0.000_005,
    0.000_01,
    0.000_025,
    0.000_05,
    0.000_1,
    0.000_25,
    0.000_5,
    0.001,
    0.002_5,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)

# The counters, as docs/observability.md lists them: attribute, name, unit, description.
_COUNTERS = (
    (
        "verifications",
        VERIFICATIONS,
        "{verification}",
        "Tokens verified, by outcome: accepted, or the error class name",
    ),
    (
        "cache_hits",
        TOKEN_CACHE_HITS,
        "{hit}",
        "Verifications answered from the verified-token cache",
    ),
    ("jwks_fetches", JWKS_FETCHES, "{request}", "HTTP requests for a JWKS document, by result"),
)

_perf_counter = time.perf_counter


def _import_api() -> None:
    global _metrics, _trace
    if _metrics is not None:
        return
    try:
        from opentelemetry import metrics, trace
    except ImportError:  # the [otel] extra is not installed: every call below is a no-op
        return
    _metrics, _trace = metrics, trace


class Telemetry:
    """The instruments of one meter and tracer provider (the global ones unless given)."""

    verifications: Any  # the counters of _COUNTERS
    cache_hits: Any
    jwks_fetches: Any

    def __init__(self, meter_provider: Any = None, tracer_provider: Any = None) -> None:
        self.on = False  # a real SDK records: worth counting and timing
        self._outcomes: dict[type[BaseException], Mapping[str, str]] = {}
        self._accepted: Mapping[str, str] = {"outcome": "accepted"}
        self._tracer: Any = None
        _import_api()
        self.installed = _metrics is not None and _trace is not None
        if _metrics is None or _trace is None:
            return
        meter = _metrics.get_meter("cognito_guard", __version__, meter_provider=meter_provider)
        for attribute, name, unit, description in _COUNTERS:
            setattr(self, attribute, meter.create_counter(name, unit=unit, description=description))
        self.duration = meter.create_histogram(
            VERIFICATION_DURATION,
            unit="s",
            description="Time spent verifying one token, cache hits and key fetches included",
            explicit_bucket_boundaries_advisory=_DURATION_BUCKETS,
        )
        self._tracer = _trace.get_tracer("cognito_guard", __version__, tracer_provider)
        proxy: Any = self.duration
        on_meter_set = getattr(proxy, "on_meter_set", None)
        if hasattr(proxy, "_real_instrument") and callable(on_meter_set):
            # The API's proxy: no SDK yet. It is told when the application installs one; hook
            # that moment rather than asking the proxy on every verification.
            def settle(meter: Any) -> None:
                on_meter_set(meter)
                self._settle(proxy._real_instrument)

            proxy.on_meter_set = settle
        else:
            self._settle(proxy)

    def _settle(self, histogram: object) -> None:
        global ACTIVE
        self.on = not isinstance(histogram, _metrics.NoOpHistogram)
        if _current is self:
            ACTIVE = self if self.on else None

    def start(self) -> float:
        """A start time for :meth:`verified`."""
        return _perf_counter()

    def verified(self, start: float, error: BaseException | None, cache_hit: bool) -> None:
        """Count one verification and record its duration (``error`` None: accepted)."""
        if error is None:
            attributes = self._accepted
        else:
            kind = type(error)
            attributes = self._outcomes.get(kind) or self._outcome(kind)
        self.verifications.add(1, attributes)
        if cache_hit:
            self.cache_hits.add(1)
        self.duration.record(_perf_counter() - start, attributes)

    def _outcome(self, kind: type[BaseException]) -> Mapping[str, str]:
        # One attribute dict per error class, built once: the SDK hashes it on every record.
        attributes = self._outcomes[kind] = {"outcome": kind.__name__}
        return attributes

    def jwks_fetch(self, url: str, result: str) -> None:
        """Count one JWKS request (``result``: ok, http_error, too_large, timeout, ...)."""
        if self.installed:
            self.jwks_fetches.add(1, {"result": result, "url.full": url})

    @contextlib.contextmanager
    def span(self, name: str, attributes: Mapping[str, str | int]) -> Iterator[Any]:
        """A client span around one outbound request (a no-op object without OpenTelemetry)."""
        if not self.installed:
            yield None
            return
        kind = _trace.SpanKind.CLIENT
        with self._tracer.start_as_current_span(
            name, kind=kind, attributes=dict(attributes)
        ) as current:
            yield current


class _Unresolved(Telemetry):
    """:data:`ACTIVE` before the first use: its ``start`` resolves the instruments, after which
    ACTIVE is the real telemetry or None, and its ``verified`` hands over to that."""

    def __init__(self) -> None:  # no instruments: it stands in until they are resolved
        self.on = False
        self.installed = False

    def start(self) -> float:
        current()
        return _perf_counter()

    def verified(self, start: float, error: BaseException | None, cache_hit: bool) -> None:
        active = ACTIVE
        if active is not None and active is not self:
            active.verified(start, error, cache_hit)


# The telemetry in use (None until the first use), and ACTIVE: the same object, or None while
# nothing would be recorded, so that a verification without an SDK pays one attribute read (no
# call, no clock).
_current: Telemetry | None = None
ACTIVE: Telemetry | None = _Unresolved()
_resolving = threading.Lock()


def current() -> Telemetry:
    """The telemetry in use (for spans and fetch counts, which are rare enough to always call);
    resolved from the global providers on first use."""
    telemetry = _current
    if telemetry is None:
        with _resolving:  # threads verifying their first tokens at once resolve it once
            telemetry = _current if _current is not None else configure()
    return telemetry


def span(name: str, attributes: Mapping[str, str | int]) -> contextlib.AbstractContextManager[Any]:
    """A client span named ``name`` around an outbound request."""
    return current().span(name, attributes)


def request(operation: str, method: str, url: str) -> contextlib.AbstractContextManager[Any]:
    """The span of one request to Cognito (token, revoke, userInfo): ``cognito_guard.{operation}``.

    The URL is the endpoint's (no query, no secret: those travel in the body and headers).
    """
    attributes = {"cognito_guard.operation": operation, "http.request.method": method}
    return current().span(f"cognito_guard.{operation}", {**attributes, "url.full": url})


def answered(span: Any, status: int) -> None:
    """Record the HTTP status on a request span; 4xx and 5xx mark it as failed."""
    if span is None:
        return
    span.set_attribute("http.response.status_code", status)
    if status >= 400:
        span.set_status(_trace.StatusCode.ERROR, f"HTTP {status}")


def fetched(span: Any, ok: bool, problem: str) -> None:
    """Mark a JWKS fetch span with its outcome (every URL tried: ``problem`` says why)."""
    if span is None:
        return
    span.set_attribute("cognito_guard.jwks.result", "ok" if ok else "failed")
    if not ok:
        span.set_status(_trace.StatusCode.ERROR, problem)


def configure(meter_provider: Any = None, tracer_provider: Any = None) -> Telemetry:
    """Record into these providers instead of the global ones (tests); no arguments: global.

    Example (a test)::

        reader = InMemoryMetricReader()
        _telemetry.configure(meter_provider=MeterProvider(metric_readers=[reader]))
    """
    global _current, ACTIVE
    telemetry = _current = Telemetry(meter_provider, tracer_provider)
    ACTIVE = telemetry if telemetry.on else None
    return telemetry
