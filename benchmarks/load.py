"""The load harness: each example app under a real server, a token mix, and fault drills.

Every run starts the app in a subprocess on 127.0.0.1 (FastAPI under uvicorn, Flask and Django
under waitress, via :class:`cognito_guard.testing.AppProcess`), with the JWKS served on loopback
by this process (and, for the revocation drills, a real Redis started by it), and drives it
with a bounded asyncio client of raw HTTP/1.1 keep-alive connections (one per unit of
concurrency). Each request carries a token of a known kind and knows which status it deserves at
the moment it is sent (in the Redis drills: in the phases it lived through); any other status is
a WRONG verdict.

Run: ``make load`` or ``.venv/bin/python benchmarks/load.py [--frameworks ...] [--scenarios ...]
[--concurrency 64] [--duration 20] [--redis-outage 20] [--max-staleness 5] [--json FILE]
[--soak]``. See docs/load.md for the scenarios
and how to read the table. Every run is bounded in requests (``--max-requests``) and seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import math
import os
import random
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cognito_guard import KeyPolicy
from cognito_guard.revocation import RedisRevocations
from cognito_guard.testing import AppProcess, JWKSServer, LocalIssuer, RedisServer
from cognito_guard.testing.issuer import SigningKey, generate_rsa_key
from cognito_guard.testing.redis import find_redis_server
from cognito_guard.testing.server import Request, Response

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "benchmarks"
EXAMPLES = ROOT / "examples"
FRAMEWORKS: dict[str, tuple[str, str, list[Path]]] = {
    "fastapi": ("_load_apps:fastapi", "uvicorn", [BENCH, EXAMPLES]),
    "flask": ("_load_apps:flask", "waitress", [BENCH, EXAMPLES]),
    "django": ("_load_apps:django", "waitress", [BENCH, EXAMPLES / "django_app"]),
}
ROUTE = "/orders"  # GET needs the orders/read scope in every example app
REQUEST_TIMEOUT = 30.0
Statuses = frozenset[int]


# -- the JWKS endpoint and the tokens --------------------------------------------------------------


class DrillJWKS(JWKSServer):
    """The issuer's JWKS endpoint whose published keys a drill changes; records each fetch.

    ``status``, ``delay`` (seconds per response) inject faults as in :class:`JWKSServer`.
    """

    def __init__(self, issuer: LocalIssuer, keys: Sequence[SigningKey]) -> None:
        super().__init__(issuer)
        self.published = list(keys)
        self.fetches: list[float] = []  # time.monotonic() at arrival of each JWKS request
        self._fetch_lock = threading.Lock()

    def _jwks(self, request: Request) -> Response:
        with self._fetch_lock:
            self.fetches.append(time.monotonic())
        if self.delay:
            time.sleep(self.delay)
        if self.status != 200:
            return Response.json({"message": "injected failure"}, self.status)
        return Response.json({"keys": [key.public_jwk() for key in self.published]})

    def fetching_during(self, start: float, end: float) -> bool:
        """Whether a fetch was in flight at some moment of ``[start, end]`` (monotonic times).

        With half a second's margin each side: the store decides to fetch a little before the
        request reaches this server, and a loaded machine delays both.
        """
        margin = 0.5
        with self._fetch_lock:
            return any(
                at - margin <= end and at + self.delay + margin >= start for at in self.fetches
            )


def _fake_signed(issuer: LocalIssuer, kid: str) -> str:
    """A token with ``kid`` and a signature-shaped filler: refused at the key lookup anyway."""
    head = base64.urlsafe_b64encode(json.dumps({"kid": kid, "alg": "RS256"}).encode())
    body = base64.urlsafe_b64encode(json.dumps(issuer.access_token_claims()).encode())
    signature = base64.urlsafe_b64encode(os.urandom(256))
    return b".".join(part.rstrip(b"=") for part in (head, body, signature)).decode()


class Tokens:
    """Every token the harness sends, minted once (RSA signing is the slow part)."""

    def __init__(self, pool: int = 1000, soak_pool: int = 0) -> None:
        self.issuer = LocalIssuer()
        issuer = self.issuer
        self.old_key = issuer.access_key
        self.new_key = SigningKey(f"rotated-{uuid.uuid4().hex[:12]}", generate_rsa_key())
        attacker = SigningKey(self.old_key.kid, generate_rsa_key())  # our kid, another key
        scopes = ("openid", "orders/read")

        def valid(key: SigningKey, n: int) -> list[str]:
            return [issuer.access_token(key=key, scopes=scopes, expires_in=7200) for _ in range(n)]

        self.cold = valid(self.old_key, pool)
        self.hot = valid(self.old_key, 8)
        self.new_cold = valid(self.new_key, pool)
        self.new_hot = valid(self.new_key, 8)
        self.soak = valid(self.old_key, soak_pool)
        self.expired = [issuer.access_token(scopes=scopes, expires_in=-60) for _ in range(8)]
        self.bad_signature = [issuer.access_token(key=attacker, scopes=scopes) for _ in range(8)]
        self.wrong_client = [
            issuer.access_token(scopes=scopes, client_id="other0client0id0123456789") for _ in "ab"
        ]
        self.missing_scope = [issuer.access_token(scopes=("openid",)) for _ in range(8)]
        # Tokens of one sign-in session (they share its origin_jti), revoked by the Redis drills.
        self.revoked_session = str(uuid.uuid4())
        self.revoked = [
            issuer.access_token(scopes=scopes, expires_in=7200, origin_jti=self.revoked_session)
            for _ in range(8)
        ]


# -- scenarios -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Kind:
    """A kind of request: how to pick its token and which statuses it deserves at time ``t``.

    ``while_fetching`` lists the statuses also deserved while a JWKS fetch was in flight.
    A phase-aware kind (the Redis drills) also names the ``phases`` a request lived through
    between being sent and answered, and the statuses each phase ``allowed``: the request
    deserves any status one of them allows, and is counted under the phase it was answered in.
    """

    name: str
    token: Callable[[random.Random], str | None]
    expect: Callable[[float], Statuses]
    phases: Callable[[float, float], Sequence[str]] | None = None
    allowed: Mapping[str, Statuses] | None = None
    # Also deserved by a request that overlapped a JWKS fetch: with ``verify``, a thread whose
    # key needs the fetch another thread started gets 503 at once rather than wait for it.
    while_fetching: Statuses = frozenset()


@dataclass
class Stream:
    """``connections`` workers drawing kinds from ``mix(t)`` (weights); ``rate`` caps req/s."""

    connections: int
    mix: Callable[[float], Sequence[tuple[Kind, float]]]
    rate: float | None = None


# -- the Redis drills: what phase a moment of the run is in ---------------------------------------

# After Redis is back the list's sync thread reconnects at its next attempt: its back-off is
# capped at 2 s (cognito_guard.revocation), plus a margin for a loaded machine and the re-sync.
RECONNECT_SLACK = 3.0
# The last good sync came up to one resync_interval before the stop (plus the thread's poll and
# a loaded machine's scheduling): the list may turn stale that much before max_staleness.
STALE_EARLY = 0.5
# The last good sync began before Redis was stopped: past stop + max_staleness the list is stale.
STALE_LATE = 0.25
PHASES = ("before", "outage-fresh", "staleness-edge", "stale", "recovering", "after")


@dataclass
class RedisDrill:
    """Redis stopped at ``stop_at`` (s into the run) for ``outage`` s, under an app whose
    ``RedisRevocations`` has ``on_unavailable``, ``max_staleness`` and ``resync_interval``.

    Phases of the run, from the moments the events really happened (an event not yet begun
    lies in the future, so phases never run ahead of Redis):

    - ``before``: Redis up;
    - ``outage-fresh``: Redis down, the last sync still within ``max_staleness``;
    - ``staleness-edge``: the list may or may not count as stale yet (the last sync came up to
      one ``resync_interval`` before the stop);
    - ``stale``: more than ``max_staleness`` since any possible sync, Redis still down;
    - ``recovering``: Redis started again, the list not necessarily re-synced yet;
    - ``after``: past the reconnect back-off: the list is synced again.
    """

    on_unavailable: str
    stop_at: float
    outage: float
    max_staleness: float
    resync_interval: float
    server: RedisServer | None = None
    t0: float = 0.0  # time.monotonic() at the start of the run
    times: dict[str, float] = field(default_factory=dict)  # stop, stopped, start, started

    def _mark(self, name: str) -> None:
        self.times[name] = time.monotonic() - self.t0

    def stop(self, _jwks: DrillJWKS) -> None:
        assert self.server is not None
        self._mark("stop")  # before the kill: a request judged before this mark preceded it
        self.server.stop()
        self._mark("stopped")

    def start(self, _jwks: DrillJWKS) -> None:
        assert self.server is not None
        self._mark("start")
        self.server.start()  # same port, empty: the revoked session lives on in local copies
        self._mark("started")

    def phase(self, t: float) -> str:
        """The phase at ``t`` seconds into the run."""
        at = self.times.get
        if t < at("stop", math.inf):
            return "before"
        if t >= at("start", math.inf):
            return "recovering" if t < at("started", math.inf) + RECONNECT_SLACK else "after"
        if t < at("stop", math.inf) + self.max_staleness - self.resync_interval - STALE_EARLY:
            return "outage-fresh"
        if t < at("stopped", math.inf) + self.max_staleness + STALE_LATE:
            return "staleness-edge"
        return "stale"

    def phases_between(self, sent: float, answered: float) -> Sequence[str]:
        """Every phase from the one a request was sent in to the one it was answered in."""
        first, last = PHASES.index(self.phase(sent)), PHASES.index(self.phase(answered))
        return PHASES[first : last + 1]

    def windows(self, end: float) -> dict[str, list[float]]:
        """Where each phase lay in a run of ``end`` seconds, from the recorded times."""
        at = self.times.get
        stop, stopped = at("stop", math.inf), at("stopped", math.inf)
        start, started = at("start", math.inf), at("started", math.inf)
        edges = [
            0.0,
            stop,
            min(start, stop + self.max_staleness - self.resync_interval - STALE_EARLY),
            min(start, stopped + self.max_staleness + STALE_LATE),
            start,
            started + RECONNECT_SLACK,
            end,
        ]
        edges = [min(edge, end) for edge in edges]
        return {
            name: [round(edges[i], 2), round(max(edges[i], edges[i + 1]), 2)]
            for i, name in enumerate(PHASES)
        }


@dataclass
class Scenario:
    name: str
    streams: list[Stream]
    policy: dict[str, float] = field(default_factory=dict)  # KeyPolicy fields for the app
    events: list[tuple[float, str, Callable[[DrillJWKS], None]]] = field(default_factory=list)
    # Extra figures and checks computed from the run (name -> value); "ok_*" entries must be True.
    checks: Callable[[dict[str, Any], DrillJWKS, float], dict[str, Any]] | None = None
    redis: RedisDrill | None = None  # the app gets a RedisRevocations on a Redis of the harness
    duration: float | None = None  # its own length, when the drill does not fit --duration


# With ``verify``, a thread whose key needs the JWKS fetch another thread started is answered 503
# at once rather than wait for it (KeyPolicy.max_wait): what a request overlapping a fetch may get.
STILL_FETCHING: Statuses = frozenset({503})


def _always(*statuses: int) -> Callable[[float], Statuses]:
    frozen = frozenset(statuses)
    return lambda _t: frozen


def _cycler(tokens: Sequence[str]) -> Callable[[random.Random], str]:
    position = 0

    def pick(_rng: random.Random) -> str:
        nonlocal position
        position = (position + 1) % len(tokens)
        return tokens[position]

    return pick


def _choice(tokens: Sequence[str]) -> Callable[[random.Random], str]:
    return lambda rng: rng.choice(tokens)


def _random_kid(issuer: LocalIssuer) -> Callable[[random.Random], str]:
    return lambda rng: _fake_signed(issuer, f"random-{rng.getrandbits(64):016x}")


def _between(start: float, end: float, inside: Statuses, outside: Statuses) -> Callable[..., Any]:
    return lambda t: inside if start <= t < end else outside


def _max_in_window(times: Sequence[float], window: float) -> int:
    """The most fetches that arrived within any ``window`` seconds, less a 20% allowance.

    The store spaces fetches by when it decided to fetch; they reach the JWKS server after a
    delay that varies with the load on the server's event loop or threads (tens of ms here).
    """
    window *= 0.8
    best, first = 0, 0
    for last, at in enumerate(times):
        while at - times[first] >= window:
            first += 1
        best = max(best, last - first + 1)
    return best


def base_kinds(tokens: Tokens) -> dict[str, Kind]:
    issuer = tokens.issuer
    return {
        "cold": Kind("cold", _cycler(tokens.cold), _always(200)),
        "hot": Kind("hot", _choice(tokens.hot), _always(200)),
        "expired": Kind("expired", _choice(tokens.expired), _always(401)),
        "bad-signature": Kind("bad-signature", _choice(tokens.bad_signature), _always(401)),
        "wrong-client": Kind("wrong-client", _choice(tokens.wrong_client), _always(401)),
        "missing-scope": Kind("missing-scope", _choice(tokens.missing_scope), _always(403)),
        "no-token": Kind("no-token", lambda _rng: None, _always(401)),
        "unknown-kid": Kind(
            "unknown-kid", _random_kid(issuer), _always(401), while_fetching=STILL_FETCHING
        ),
    }


MIX = {
    "cold": 0.25,
    "hot": 0.35,
    "expired": 0.08,
    "bad-signature": 0.08,
    "wrong-client": 0.08,
    "missing-scope": 0.08,
    "no-token": 0.08,
}


REDIS_SCENARIOS = {"redis-down-closed": "fail_closed", "redis-down-open": "fail_open"}
VALID_KINDS = ("cold", "hot")  # the kinds the Redis drills report as "valid"


def scenarios(
    tokens: Tokens,
    concurrency: int,
    duration: float,
    *,
    redis_outage: float = 20.0,
    max_staleness: float = 5.0,
) -> dict[str, Scenario]:
    """Every scenario, with its phases placed as fractions of ``duration``.

    The Redis drills stop Redis for ``redis_outage`` seconds after a quarter of ``duration``
    (at least 0.75 s) and run on for a quarter more (at least the reconnect slack and a second),
    under a list with a ``max_staleness`` short enough to be passed within the outage.
    """
    kinds = base_kinds(tokens)
    d = duration
    weighted = [(kinds[name], weight) for name, weight in MIX.items()]
    found: dict[str, Scenario] = {}

    found["mixed"] = Scenario("mixed", [Stream(concurrency, lambda _t: weighted)])

    # JWKS down for the middle half (10 s of a 20 s run). Known keys keep their verdicts; a
    # never-seen kid is 503 while the keys cannot be had (from the first failed fetch until the
    # first successful one, which the back-off and cool-down place up to `slack` after the end).
    down_policy = {
        "ttl": d / 5,
        "unknown_kid_cooldown": d / 10,
        "backoff_initial": d / 40,
        "backoff_max": d / 10,
    }
    down_start, down_end = d / 4, 3 * d / 4
    slack = down_policy["unknown_kid_cooldown"] + down_policy["backoff_max"] + 1
    unknown_down = Kind(
        "unknown-kid",
        _random_kid(tokens.issuer),
        _between(down_start - 0.5, down_end + slack, frozenset({401, 503}), frozenset({401})),
        while_fetching=STILL_FETCHING,
    )
    down_mix = [(kinds["cold"], 0.4), (kinds["hot"], 0.45), (unknown_down, 0.15)]

    def down_checks(result: dict[str, Any], jwks: DrillJWKS, t0: float) -> dict[str, Any]:
        by_kind = result["kinds"].get("unknown-kid", {})
        return {
            "503_during_outage": by_kind.get("status", {}).get("503", 0),
            "ok_503_seen_while_down": by_kind.get("status", {}).get("503", 0) > 0,
            "ok_known_keys_no_5xx": all(
                not any(s.startswith("5") for s in result["kinds"].get(k, {}).get("status", {}))
                for k in ("cold", "hot")
            ),
        }

    found["jwks-down"] = Scenario(
        "jwks-down",
        [Stream(concurrency, lambda _t: down_mix)],
        policy=down_policy,
        events=[
            (down_start, "JWKS down (503)", lambda s: setattr(s, "status", 503)),
            (down_end, "JWKS back", lambda s: setattr(s, "status", 200)),
        ],
        checks=down_checks,
    )

    # JWKS slow (3 s per answer) while a new key is published: requests for the new kid wait for
    # the one fetch at most KeyPolicy.max_wait (1 s), then get 503 with Retry-After while it goes
    # on; once it lands they are accepted. Requests for cached keys do not wait for it.
    rotate_at = d / 4
    slow_delay, max_wait = 3.0, KeyPolicy().max_wait
    new_cold = Kind(
        "new-key", _cycler(tokens.new_cold), _always(200), while_fetching=STILL_FETCHING
    )

    # Tokens signed with the new key are sent only once it is published: the event sets the
    # flag, so no worker can race ahead of the timeline (a token with an unpublished kid would
    # rightly be refused and open the cool-down).
    published: set[str] = set()

    def publish(jwks: DrillJWKS) -> None:
        jwks.published.append(tokens.new_key)
        published.add("new")

    def slow_mix(t: float) -> Sequence[tuple[Kind, float]]:
        old = [(kinds["cold"], 0.3), (kinds["hot"], 0.5)]
        return [*old, (new_cold, 0.2)] if published else old

    def slow_checks(result: dict[str, Any], jwks: DrillJWKS, t0: float) -> dict[str, Any]:
        kinds_seen = result["kinds"]
        new_key = kinds_seen.get("new-key", {})
        return {
            "max_ms_new_key": new_key.get("max_ms"),
            "max_ms_cached_keys": max(
                kinds_seen.get(k, {}).get("max_ms", 0) for k in ("cold", "hot")
            ),
            "policy_max_wait_ms": max_wait * 1000,
            # The server's own queueing comes on top of max_wait: allow a second for it.
            "ok_new_key_within_policy": new_key.get("max_ms", 0) < (max_wait + 1) * 1000,
            "ok_new_key_accepted": new_key.get("status", {}).get("200", 0) > 0,
        }

    found["jwks-slow-rotation"] = Scenario(
        "jwks-slow-rotation",
        [Stream(concurrency, slow_mix)],
        events=[
            (rotate_at - 0.2, "JWKS slow (3 s)", lambda s: setattr(s, "delay", slow_delay)),
            (rotate_at, "new key published", publish),
        ],
        checks=slow_checks,
    )

    # Rotation: a new key appears (its tokens accepted after one fetch), later the old key is
    # retired (its tokens refused once the TTL refresh drops it).
    rot_policy = {"ttl": 0.3 * d, "unknown_kid_cooldown": 0.15 * d}
    publish_at, retire_at = 0.15 * d, 0.4 * d
    retired = _between(
        retire_at - 0.5, retire_at + rot_policy["ttl"] + 1, frozenset({200, 401}), frozenset({401})
    )
    old_cold = Kind(
        "old-key",
        _cycler(tokens.cold),
        lambda t: retired(t) if t >= retire_at - 0.5 else frozenset({200}),
        while_fetching=STILL_FETCHING,
    )
    old_hot = Kind(
        "old-key-hot", _choice(tokens.hot), old_cold.expect, while_fetching=STILL_FETCHING
    )
    new_hot = Kind(
        "new-key-hot", _choice(tokens.new_hot), _always(200), while_fetching=STILL_FETCHING
    )

    def rot_mix(t: float) -> Sequence[tuple[Kind, float]]:
        old = [(old_cold, 0.3), (old_hot, 0.3)]
        return [*old, (new_cold, 0.2), (new_hot, 0.2)] if published else old

    def rot_checks(result: dict[str, Any], jwks: DrillJWKS, t0: float) -> dict[str, Any]:
        window = rot_policy["unknown_kid_cooldown"]
        # Start-up, TTL refreshes, and at most one fetch per cool-down for a missing kid (the
        # new kid once; the retired kid once per window after the refresh that dropped it).
        bound = 1 + math.ceil(d / rot_policy["ttl"]) + math.ceil(d / window)
        per_window = _max_in_window(jwks.fetches[1:], window)
        return {
            "fetch_bound": bound,
            "max_fetches_per_cooldown": per_window,
            "ok_fetches_within_bound": result["jwks_fetches"] <= bound and per_window <= 2,
            "ok_old_key_refused_at_end": result["kinds"]
            .get("old-key", {})
            .get("status", {})
            .get("401", 0)
            > 0,
        }

    found["rotation"] = Scenario(
        "rotation",
        [Stream(concurrency, rot_mix)],
        policy=rot_policy,
        events=[
            (publish_at, "new key published", publish),
            (retire_at, "old key retired", lambda s: s.published.remove(tokens.old_key)),
        ],
        checks=rot_checks,
    )

    # A flood of random kids at 1,000 req/s beside ordinary traffic: one fetch per cool-down.
    flood_policy = {"unknown_kid_cooldown": d / 4}
    flood_connections = max(1, concurrency // 2)
    flood_kind = [(kinds["unknown-kid"], 1.0)]
    normal = [(kinds["cold"], 0.5), (kinds["hot"], 0.5)]

    def flood_checks(result: dict[str, Any], jwks: DrillJWKS, t0: float) -> dict[str, Any]:
        window = flood_policy["unknown_kid_cooldown"]
        # The start-up fetch, then the first random kid's at once and one per window after it:
        # at 0, w, 2w, ... up to the end of the run (the last may fall right on it).
        bound = 2 + math.floor(result["seconds"] / window)
        flood = result["kinds"].get("unknown-kid", {})
        per_window = _max_in_window(jwks.fetches[1:], window)  # after the start-up fetch
        return {
            "flood_rps": round(flood.get("count", 0) / max(result["seconds"], 1e-9)),
            "fetch_bound": bound,
            "max_fetches_per_cooldown": per_window,
            "ok_fetches_within_bound": result["jwks_fetches"] <= bound and per_window <= 1,
        }

    found["kid-flood"] = Scenario(
        "kid-flood",
        [
            Stream(flood_connections, lambda _t: flood_kind, rate=1000.0),
            Stream(max(1, concurrency - flood_connections), lambda _t: normal),
        ],
        policy=flood_policy,
        checks=flood_checks,
    )

    for name, mode in REDIS_SCENARIOS.items():
        found[name] = _redis_down(
            name, mode, tokens, kinds, concurrency, d, redis_outage, max_staleness
        )
    return found


def _redis_down(
    name: str,
    mode: str,
    tokens: Tokens,
    kinds: dict[str, Kind],
    concurrency: int,
    d: float,
    outage: float,
    max_staleness: float,
) -> Scenario:
    """Redis stopped mid-run under a ``RedisRevocations(on_unavailable=mode)`` list.

    Valid tokens deserve 200, then (fail_closed, once the list is older than max_staleness)
    503 with Retry-After until Redis is back and the list re-synced, then 200 again; fail_open
    keeps them at 200. Tokens of the session revoked before the outage are in every local copy:
    401 throughout, in both modes (the check looks at the local copy before at its age). Expired
    and token-less requests never reach the list: 401 throughout.
    """
    resync = min(1.0, max_staleness / 4)
    lead, tail = max(0.75, d / 4), max(d / 4, RECONNECT_SLACK + 1)
    drill = RedisDrill(mode, lead, outage, max_staleness, resync)
    closed = mode == "fail_closed"
    ok, refused, maybe = frozenset({200}), frozenset({401}), frozenset({200, 503})
    valid: dict[str, Statuses] = {
        "before": ok,
        "outage-fresh": ok,
        "staleness-edge": maybe if closed else ok,
        "stale": frozenset({503}) if closed else ok,
        "recovering": maybe if closed else ok,
        "after": ok,
    }
    always_401 = dict.fromkeys(PHASES, refused)

    def phased(kind: Kind, allowed: Mapping[str, Statuses]) -> Kind:
        return Kind(
            kind.name,
            kind.token,
            lambda t: allowed[drill.phase(t)],
            phases=drill.phases_between,
            allowed=allowed,
        )

    revoked = Kind("revoked", _choice(tokens.revoked), _always(401))
    mix = [
        (phased(kinds["cold"], valid), 0.3),
        (phased(kinds["hot"], valid), 0.35),
        (phased(revoked, always_401), 0.2),
        (phased(kinds["expired"], always_401), 0.075),
        (phased(kinds["no-token"], always_401), 0.075),
    ]

    def checks(result: dict[str, Any], jwks: DrillJWKS, t0: float) -> dict[str, Any]:
        phases = result.get("phases", {})

        def valid_in(phase: str, status: str) -> int:
            return int(phases.get(phase, {}).get("valid", {}).get(status, 0))

        statuses = {
            status
            for kind in VALID_KINDS
            for status in result["kinds"].get(kind, {}).get("status", {})
        }
        revoked_seen = result["kinds"].get("revoked", {}).get("status", {})
        logs = result.get("redis_log", {})
        found: dict[str, Any] = {
            "warnings_lost": logs.get("lost"),
            "warnings_resynced": logs.get("resynced"),
            "ok_revoked_401_throughout": set(revoked_seen) == {"401"},
            "ok_resynced_after_restart": logs.get("resynced", 0) >= 1,
        }
        if closed:
            spans = [
                result["kinds"].get(kind, {}).get("status_span", {}).get("503")
                for kind in VALID_KINDS
            ]
            spans = [span for span in spans if span]
            times = drill.times
            if spans and "stop" in times and "start" in times:
                found["503_from_s_after_stop"] = round(min(s[0] for s in spans) - times["stop"], 2)
                found["503_until_s_after_start"] = round(
                    max(s[1] for s in spans) - times["start"], 2
                )
            found["ok_valid_503_while_stale"] = valid_in("stale", "503") > 0
            found["ok_valid_200_after"] = valid_in("after", "200") > 0
        else:
            found["warnings_fail_open"] = logs.get("fail_open")
            found["ok_valid_200_throughout"] = statuses == {"200"}
            found["ok_one_fail_open_warning"] = logs.get("fail_open") == 1
        return found

    return Scenario(
        name,
        [Stream(concurrency, lambda _t: mix)],
        events=[
            (lead, "Redis stopped", drill.stop),
            (lead + outage, "Redis started (empty)", drill.start),
        ],
        checks=checks,
        redis=drill,
        duration=lead + outage + tail,
    )


# -- the client -----------------------------------------------------------------------------------


class Connection:
    """One HTTP/1.1 keep-alive connection over asyncio streams (reopened when the server closes)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

        self.used = False

    async def get(self, path: str, token: str | None) -> tuple[int, dict[str, str]]:
        auth = f"Authorization: Bearer {token}\r\n" if token is not None else ""
        request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\n{auth}\r\n".encode()
        for attempt in (1, 2):
            if self.writer is None:
                self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
                self.used = False
            assert self.reader is not None
            self.writer.write(request)
            try:
                status_line = await self.reader.readline()
            except ConnectionResetError:
                status_line = b""
            if status_line:
                break
            # A kept-alive connection the server closed while idle: once more on a new one.
            reused, self.used = self.used, False
            self.close()
            if not reused or attempt == 2:
                raise ConnectionResetError("the server closed the connection")
        self.used = True
        assert self.reader is not None
        status = int(status_line.split(b" ", 2)[1])
        headers: dict[str, str] = {}
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b"\n", b""):
                break
            name, _, value = line.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        if "content-length" in headers:
            await self.reader.readexactly(int(headers["content-length"]))
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            while True:
                size = int((await self.reader.readline()).split(b";")[0], 16)
                await self.reader.readexactly(size + 2)
                if size == 0:
                    break
        if headers.get("connection", "").lower() == "close":
            self.close()
        return status, headers

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


@dataclass
class Record:
    kind: str
    status: int
    latency: float
    wrong: bool
    retry_after_missing: bool
    t: float = 0.0  # seconds into the run when the answer came
    phase: str | None = None  # the phase it was answered in (phase-aware kinds)
    sent: float = 0.0  # seconds into the run when the request was sent
    expected: Statuses = frozenset()
    while_fetching: Statuses = frozenset()  # also right if a JWKS fetch overlapped it


async def _worker(
    port: int,
    stream: Stream,
    rng: random.Random,
    t0: float,
    deadline: float,
    budget: list[int],
    pacer: Callable[[], float] | None,
    out: list[Record],
) -> None:
    connection = Connection(port)
    try:
        while budget[0] > 0:
            if pacer is not None:
                due = pacer()
                if due >= deadline:
                    return
                delay = due - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
            now = time.monotonic()
            if now >= deadline:
                return
            budget[0] -= 1
            t = now - t0
            kinds, weights = zip(*stream.mix(t), strict=True)
            kind = rng.choices(kinds, weights)[0]
            token = kind.token(rng)
            start = time.perf_counter()
            try:
                status, headers = await asyncio.wait_for(
                    connection.get(ROUTE, token), REQUEST_TIMEOUT
                )
            except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError, ValueError):
                connection.close()
                status, headers = 0, {}
            latency = time.perf_counter() - start
            answered = time.monotonic() - t0
            phase = None
            if kind.phases is not None and kind.allowed is not None:
                # Judged over its whole flight: the server decided somewhere in between.
                lived = kind.phases(t, answered)
                expected = frozenset().union(*(kind.allowed[p] for p in lived))
                phase = lived[-1]
            else:
                expected = kind.expect(t)
            missing = status == 503 and "retry-after" not in headers
            wrong = status not in expected or missing
            out.append(
                Record(
                    kind.name,
                    status,
                    latency,
                    wrong,
                    missing,
                    answered,
                    phase,
                    t,
                    expected,
                    kind.while_fetching,
                )
            )
    finally:
        connection.close()


def _percentiles(latencies: list[float]) -> dict[str, float]:
    if not latencies:
        return {}
    ordered = sorted(latencies)
    n = len(ordered)

    def at(q: float) -> float:
        return round(ordered[min(n - 1, int(q * n))] * 1000, 2)

    return {
        "p50_ms": at(0.50),
        "p90_ms": at(0.90),
        "p99_ms": at(0.99),
        "max_ms": round(ordered[-1] * 1000, 2),
    }


def _peak_rss_kib(pid: int | None, field_name: str = "VmHWM") -> int | None:
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith(field_name + ":"):
                    return int(line.split()[1])
    except (OSError, TypeError):
        return None
    return None


async def _drive(
    port: int,
    scenario: Scenario,
    jwks: DrillJWKS,
    duration: float,
    max_requests: int,
    seed: int,
) -> tuple[list[Record], list[dict[str, Any]], float, list[tuple[float, str]]]:
    records: list[Record] = []
    budget = [max_requests]
    t0 = time.monotonic()
    deadline = t0 + duration
    happened: list[tuple[float, str]] = []

    if scenario.redis is not None:
        scenario.redis.t0 = t0

    async def timeline() -> None:
        for at, label, action in sorted(scenario.events, key=lambda event: event[0]):
            await asyncio.sleep(max(0.0, t0 + at - time.monotonic()))
            # In a thread: starting Redis again takes a while, the client must not stall.
            await asyncio.to_thread(action, jwks)
            happened.append((round(time.monotonic() - t0, 2), label))

    tasks = [asyncio.ensure_future(timeline())]
    rng = random.Random(seed)  # noqa: S311 - a traffic mix, not a secret
    for stream in scenario.streams:
        pacer = None
        if stream.rate:
            interval, sent = 1.0 / stream.rate, [0]

            def pacer(interval: float = interval, sent: list[int] = sent) -> float:
                sent[0] += 1
                return t0 + sent[0] * interval

        for _ in range(stream.connections):
            worker_rng = random.Random(rng.getrandbits(64))  # noqa: S311
            tasks.append(
                asyncio.ensure_future(
                    _worker(
                        port,
                        stream,
                        worker_rng,
                        t0,
                        deadline,
                        budget,
                        pacer,
                        records,
                    )
                )
            )
    # Bounded: workers stop at the deadline; a request never takes longer than REQUEST_TIMEOUT.
    done, pending = await asyncio.wait(tasks, timeout=duration + REQUEST_TIMEOUT + 5)
    for task in pending:
        task.cancel()
    for task in done:
        task.result()
    elapsed = min(time.monotonic(), deadline) - t0
    # Judged once the run is over: a fetch the store decided on reaches the JWKS server a little
    # after the requests it answered 503 at once (on a loaded machine, hundreds of ms after).
    for r in records:
        if r.wrong and not r.retry_after_missing and r.status in r.while_fetching:
            r.wrong = not jwks.fetching_during(t0 + r.sent, t0 + r.t)
    wrong_samples = [
        {
            "kind": r.kind,
            "t": round(r.sent, 2),
            "status": r.status,
            "expected": sorted(r.expected),
            **({"phase": r.phase} if r.phase else {}),
        }
        for r in sorted((r for r in records if r.wrong), key=lambda r: r.sent)[:10]
    ]
    return records, wrong_samples, elapsed, happened


def _summarise(records: list[Record], seconds: float) -> dict[str, Any]:
    result: dict[str, Any] = {
        "requests": len(records),
        "seconds": round(seconds, 2),
        "rps": round(len(records) / seconds) if seconds > 0 else 0,
        **_percentiles([r.latency for r in records]),
        "status": dict(sorted(Counter(str(r.status) for r in records).items())),
        "wrong": sum(r.wrong for r in records),
        "retry_after_missing": sum(r.retry_after_missing for r in records),
        "kinds": {},
    }
    for name in sorted({r.kind for r in records}):
        of_kind = [r for r in records if r.kind == name]
        spans: dict[str, list[float]] = {}
        for r in of_kind:
            span = spans.setdefault(str(r.status), [r.t, r.t])
            span[0], span[1] = min(span[0], r.t), max(span[1], r.t)
        result["kinds"][name] = {
            "count": len(of_kind),
            "wrong": sum(r.wrong for r in of_kind),
            "status": dict(sorted(Counter(str(r.status) for r in of_kind).items())),
            # When each status was first and last answered (seconds into the run).
            "status_span": {code: [round(a, 2), round(b, 2)] for code, (a, b) in spans.items()},
            **_percentiles([r.latency for r in of_kind]),
        }
    phased = [r for r in records if r.phase is not None]
    if phased:
        result["phases"] = {}
        for phase in PHASES:
            here = [r for r in phased if r.phase == phase]
            group: dict[str, Counter[str]] = {"valid": Counter(), "revoked": Counter()}
            group["other"] = Counter()
            by_kind: dict[str, Counter[str]] = {}
            for r in here:
                name = (
                    "valid"
                    if r.kind in VALID_KINDS
                    else "revoked"
                    if r.kind == "revoked"
                    else "other"
                )
                group[name][str(r.status)] += 1
                by_kind.setdefault(r.kind, Counter())[str(r.status)] += 1
            result["phases"][phase] = {
                "requests": len(here),
                "wrong": sum(r.wrong for r in here),
                **{name: dict(sorted(c.items())) for name, c in group.items()},
                "kinds": {k: dict(sorted(c.items())) for k, c in sorted(by_kind.items())},
            }
    return result


def run_scenario(
    framework: str,
    scenario_name: str,
    tokens: Tokens,
    *,
    concurrency: int = 64,
    duration: float = 20.0,
    max_requests: int = 2_000_000,
    seed: int = 1,
    redis_outage: float = 20.0,
    max_staleness: float = 5.0,
) -> dict[str, Any]:
    """Serve ``framework``'s example app, run one scenario against it, return its figures."""
    scenario = scenarios(
        tokens, concurrency, duration, redis_outage=redis_outage, max_staleness=max_staleness
    )[scenario_name]
    duration = scenario.duration or duration
    target, server, paths = FRAMEWORKS[framework]
    drill = scenario.redis
    with contextlib.ExitStack() as stack:
        jwks = DrillJWKS(tokens.issuer, [tokens.old_key, tokens.issuer.id_key])
        stack.enter_context(jwks)
        env = {
            "COGNITO_USER_POOL_ID": tokens.issuer.user_pool_id,
            "COGNITO_CLIENT_ID": tokens.issuer.client_id,
            "COGNITO_JWKS_URI": jwks.jwks_uri,
            "LOAD_KEY_POLICY": json.dumps(scenario.policy) if scenario.policy else "",
        }
        if drill is not None:
            drill.server = stack.enter_context(RedisServer())
            # Revoked before the app starts: its first load brings the session into its copy.
            with RedisRevocations(drill.server.url) as writer:
                writer.revoke_session(tokens.revoked_session)
            env["LOAD_REVOCATIONS"] = json.dumps(
                {
                    "url": drill.server.url,
                    "on_unavailable": drill.on_unavailable,
                    "max_staleness": drill.max_staleness,
                    "resync_interval": drill.resync_interval,
                }
            )
        app = AppProcess(target, server=server, paths=paths, env=env)  # type: ignore[arg-type]
        with app:
            port = int(app.url.rsplit(":", 1)[1])
            # Warm-up: the start-up JWKS fetch and the framework's lazy imports, before the clock.
            # On a busy machine that first fetch can outlast max_wait: a 503 then says "retry".
            status, _ = asyncio.run(_one(port, tokens.hot[0]))
            for _ in range(20):
                if status != 503:
                    break
                time.sleep(0.5)
                status, _ = asyncio.run(_one(port, tokens.hot[0]))
            if status != 200:
                raise RuntimeError(f"{framework}: warm-up got {status}:\n{app.stderr}")
            if drill is not None:
                status, _ = asyncio.run(_one(port, tokens.revoked[0]))
                if status != 401:
                    raise RuntimeError(f"{framework}: a revoked token got {status} at warm-up")
            records, wrong_samples, seconds, happened = asyncio.run(
                _drive(port, scenario, jwks, duration, max_requests, seed)
            )
            result = _summarise(records, seconds)
            result["rss_peak_mib"] = round((_peak_rss_kib(app.pid) or 0) / 1024, 1)
        if drill is not None:
            result["redis"] = {
                "on_unavailable": drill.on_unavailable,
                "max_staleness": drill.max_staleness,
                "resync_interval": drill.resync_interval,
                "outage": drill.outage,
                "times": {k: round(v, 2) for k, v in drill.times.items()},
                "phase_windows": drill.windows(seconds),
            }
            # The list's own warnings, from the server's stderr (each logged once per outage).
            result["redis_log"] = {
                "lost": app.stderr.count("the revocation list lost Redis"),
                "fail_open": app.stderr.count("(on_unavailable='fail_open')"),
                "resynced": app.stderr.count("the revocation list is synchronised again"),
            }
        result.update(
            framework=framework,
            scenario=scenario_name,
            concurrency=concurrency,
            jwks_fetches=len(jwks.fetches),
            jwks_fetch_times=[round(at - jwks.fetches[0], 2) for at in jwks.fetches],
            events=happened,
            wrong_samples=wrong_samples,
            policy=scenario.policy,
        )
        if scenario.checks is not None:
            result["checks"] = scenario.checks(result, jwks, 0.0)
    return result


async def _one(port: int, token: str | None, path: str = ROUTE) -> tuple[int, dict[str, str]]:
    connection = Connection(port)
    try:
        return await asyncio.wait_for(connection.get(path, token), REQUEST_TIMEOUT)
    finally:
        connection.close()


async def _stats(port: int) -> dict[str, Any]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        f"GET /_load/stats HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n".encode()
    )
    raw = await reader.read()
    writer.close()
    return dict(json.loads(raw.split(b"\r\n\r\n", 1)[1]))


def run_soak(
    framework: str, tokens: Tokens, *, concurrency: int, duration: float, sample_every: float = 5
) -> dict[str, Any]:
    """The mixed traffic for ``duration`` s with more distinct tokens than the cache holds.

    Samples the server's RSS (VmRSS) and the verified-token cache's size; after a warm-up of a
    fifth of the run, RSS must stay within 10% and the cache within its bound.
    """
    kinds = base_kinds(tokens)
    soak_cold = Kind("cold", _cycler(tokens.soak), _always(200))
    mix = [(soak_cold if name == "cold" else kinds[name], weight) for name, weight in MIX.items()]
    scenario = Scenario("soak", [Stream(concurrency, lambda _t: mix)])
    target, server, paths = FRAMEWORKS[framework]
    samples: list[dict[str, Any]] = []
    with DrillJWKS(tokens.issuer, [tokens.old_key, tokens.issuer.id_key]) as jwks:
        env = {
            "COGNITO_USER_POOL_ID": tokens.issuer.user_pool_id,
            "COGNITO_CLIENT_ID": tokens.issuer.client_id,
            "COGNITO_JWKS_URI": jwks.jwks_uri,
        }
        with AppProcess(target, server=server, paths=paths, env=env) as app:  # type: ignore[arg-type]
            port = int(app.url.rsplit(":", 1)[1])
            asyncio.run(_one(port, tokens.hot[0]))
            stop = threading.Event()
            start = time.monotonic()

            def sampler() -> None:
                while not stop.wait(sample_every):
                    stats = asyncio.run(_stats(port))
                    samples.append(
                        {
                            "t": round(time.monotonic() - start),
                            "rss_mib": round((_peak_rss_kib(app.pid, "VmRSS") or 0) / 1024, 1),
                            **stats,
                        }
                    )

            thread = threading.Thread(target=sampler, daemon=True)
            thread.start()
            records, _wrong, seconds, _ = asyncio.run(
                _drive(port, scenario, jwks, duration, 50_000_000, 7)
            )
            stop.set()
            thread.join(timeout=REQUEST_TIMEOUT)
            result = _summarise(records, seconds)
            result["rss_peak_mib"] = round((_peak_rss_kib(app.pid) or 0) / 1024, 1)
    after = [s for s in samples if s["t"] >= duration / 5]
    rss = [s["rss_mib"] for s in after] or [0.0]
    result.update(
        framework=framework,
        scenario="soak",
        concurrency=concurrency,
        jwks_fetches=len(jwks.fetches),
        samples=samples,
        checks={
            "rss_after_warmup_min_mib": min(rss),
            "rss_after_warmup_max_mib": max(rss),
            "ok_rss_flat_within_10pct": max(rss) <= 1.10 * min(rss),
            "token_cache_max_seen": max((s["token_cache"] for s in samples), default=0),
            "token_cache_bound": samples[-1]["token_cache_max"] if samples else None,
            "ok_cache_within_bound": all(s["token_cache"] <= s["token_cache_max"] for s in samples),
        },
    )
    return result


# -- the report -----------------------------------------------------------------------------------


def print_table(results: list[dict[str, Any]], out: Any = sys.stdout) -> None:
    head = (
        f"{'framework':<9} {'scenario':<19} {'req/s':>6} {'p50ms':>7} {'p90ms':>7} "
        f"{'p99ms':>7} {'maxms':>8} {'WRONG':>5} {'fetch':>5} {'RSSMiB':>6}  statuses"
    )
    print(head, file=out)
    print("-" * len(head), file=out)
    for r in results:
        statuses = " ".join(f"{code}:{n}" for code, n in r["status"].items())
        print(
            f"{r['framework']:<9} {r['scenario']:<19} {r['rps']:>6} {r.get('p50_ms', 0):>7} "
            f"{r.get('p90_ms', 0):>7} {r.get('p99_ms', 0):>7} {r.get('max_ms', 0):>8} "
            f"{r['wrong']:>5} {r['jwks_fetches']:>5} {r['rss_peak_mib']:>6}  {statuses}",
            file=out,
        )
    for r in results:
        extra = r.get("checks")
        if extra:
            print(
                f"  {r['framework']}/{r['scenario']}: "
                + ", ".join(f"{k}={v}" for k, v in extra.items()),
                file=out,
            )
        for sample in r.get("wrong_samples", [])[:3]:
            print(f"  {r['framework']}/{r['scenario']} WRONG: {sample}", file=out)
        if "redis" in r:
            _print_redis(r, out)


def _print_redis(r: dict[str, Any], out: Any) -> None:
    """What clients saw in each phase of a Redis drill."""
    redis, times = r["redis"], r["redis"]["times"]
    print(
        f"  {r['framework']}/{r['scenario']}: on_unavailable={redis['on_unavailable']!r}, "
        f"max_staleness={redis['max_staleness']:g} s (short for the drill; default 60), "
        f"resync {redis['resync_interval']:g} s; Redis down "
        f"{times.get('stop', '?')}-{times.get('start', '?')} s, restarted empty",
        file=out,
    )
    windows = redis["phase_windows"]
    for phase, seen in r.get("phases", {}).items():
        a, b = windows[phase]
        groups = "  ".join(
            f"{name} " + (" ".join(f"{code}:{n}" for code, n in seen[name].items()) or "-")
            for name in ("valid", "revoked", "other")
        )
        wrong = f"  WRONG {seen['wrong']}" if seen["wrong"] else ""
        print(f"    {phase:<15} {a:6.2f} to {b:6.2f} s  {groups}{wrong}", file=out)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frameworks", default="fastapi,flask,django")
    parser.add_argument(
        "--scenarios",
        default="mixed,jwks-down,jwks-slow-rotation,rotation,kid-flood,"
        "redis-down-closed,redis-down-open",
    )
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--duration", type=float, default=20.0, help="seconds per scenario")
    parser.add_argument("--max-requests", type=int, default=2_000_000, help="per scenario")
    parser.add_argument("--pool", type=int, default=1000, help="distinct valid tokens")
    parser.add_argument(
        "--redis-outage", type=float, default=20.0, help="seconds Redis is down (Redis drills)"
    )
    parser.add_argument(
        "--max-staleness",
        type=float,
        default=5.0,
        help="the list's max_staleness in the Redis drills (short, to be passed mid-outage)",
    )
    parser.add_argument("--json", metavar="FILE", help="also write every figure as JSON")
    parser.add_argument(
        "--soak", action="store_true", help="instead: a bounded soak run per framework"
    )
    parser.add_argument("--soak-seconds", type=float, default=300.0)
    args = parser.parse_args(argv)
    frameworks = [f for f in args.frameworks.split(",") if f]
    names = [s for s in args.scenarios.split(",") if s]
    unknown = [f for f in frameworks if f not in FRAMEWORKS]
    if unknown:
        parser.error(f"unknown framework(s) {unknown}")
    if any(n in REDIS_SCENARIOS for n in names):
        if args.redis_outage <= args.max_staleness + 1:
            parser.error("--redis-outage must exceed --max-staleness by more than a second")
        if find_redis_server() is None:
            print("no redis-server/valkey-server found: skipping the Redis drills", flush=True)
            names = [n for n in names if n not in REDIS_SCENARIOS]
    started = time.monotonic()
    soak_pool = 12_000 if args.soak else 0  # more than the default 10,000-entry token cache
    tokens = Tokens(pool=args.pool, soak_pool=soak_pool)
    print(
        f"tokens minted in {time.monotonic() - started:.1f}s; python {sys.version.split()[0]}, "
        f"{os.cpu_count()} CPUs (shared: figures are noisy)",
        flush=True,
    )
    results: list[dict[str, Any]] = []
    for framework in frameworks:
        if args.soak:
            results.append(
                run_soak(
                    framework, tokens, concurrency=args.concurrency, duration=args.soak_seconds
                )
            )
        else:
            known = scenarios(tokens, args.concurrency, args.duration)
            for name in names:
                if name not in known:
                    parser.error(f"unknown scenario {name!r}; known: {sorted(known)}")
                results.append(
                    run_scenario(
                        framework,
                        name,
                        tokens,
                        concurrency=args.concurrency,
                        duration=args.duration,
                        max_requests=args.max_requests,
                        redis_outage=args.redis_outage,
                        max_staleness=args.max_staleness,
                    )
                )
        print(f"{framework} done", flush=True)
    print()
    print_table(results)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    failed = [
        f"{r['framework']}/{r['scenario']}"
        for r in results
        if r["wrong"]
        or not all(v for k, v in (r.get("checks") or {}).items() if k.startswith("ok_"))
    ]
    if failed:
        print(f"\nFAILED: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
