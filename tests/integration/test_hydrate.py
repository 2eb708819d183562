"""Start-up: ``hydrate()`` fetches every issuer's JWKS at once, a pool still on one issuer form
hydrates all the same, and a JWKS bundled with the deployment is refreshed from its URL.

The pool's own JWKS URLs (``https://cognito-idp...`` and ``https://issuer-cognito-idp...``) are
served by a real JWKS server on loopback: :class:`ToLoopback` sends ``https://HOST/PATH`` to it as
``/HOST/PATH``, so that one issuer form's JWKS can answer 404 while the other's answers.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

from cognito_guard import (
    CognitoVerifier,
    KeyPolicy,
    KeysUnavailableError,
    UnknownKeyError,
    _http,
)
from cognito_guard.issuers import issuers_for
from cognito_guard.testing import JWKSServer, LocalIssuer, ManualClock, Response

from ._key_support import wait_until_landed

POOL = "eu-west-1_AbCdEf123"
OTHER_POOL = "eu-west-1_Other0001"


class ToLoopback(httpx.BaseTransport, httpx.AsyncBaseTransport):
    """Sends each request for ``https://HOST/PATH`` to ``server`` as ``/HOST/PATH``."""

    def __init__(self, server: JWKSServer) -> None:
        self.server = server

    def _rewrite(self, request: httpx.Request) -> httpx.Request:
        url = f"{self.server.url}/{request.url.host}{request.url.path}"
        return httpx.Request(request.method, url, headers=request.headers)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        with httpx.HTTPTransport() as real:
            answer = real.handle_request(self._rewrite(request))
            body = answer.read()
        return httpx.Response(answer.status_code, headers=answer.headers, content=body)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        async with httpx.AsyncHTTPTransport() as real:
            answer = await real.handle_async_request(self._rewrite(request))
            body = await answer.aread()
        return httpx.Response(answer.status_code, headers=answer.headers, content=body)


def served_path(issuer_url: str) -> str:
    """The path under which the loopback server sees ``issuer_url``'s JWKS."""
    parts = urlsplit(issuer_url)
    return f"/{parts.hostname}{parts.path}/.well-known/jwks.json"


@pytest.fixture
def issuer(cognito_signing_keys: list[RSAPrivateKey], clock: ManualClock) -> LocalIssuer:
    return LocalIssuer(POOL, keys=cognito_signing_keys, clock=clock)


@pytest.fixture
def server(issuer: LocalIssuer) -> Iterator[JWKSServer]:
    with issuer.serve() as running:
        yield running


def pool_verifier(issuer: LocalIssuer, server: JWKSServer, **options: object) -> CognitoVerifier:
    """A verifier of the pool with its derived JWKS URLs (both issuer forms), on loopback."""
    transport = ToLoopback(server)
    options.setdefault("user_pool_id", POOL)
    return CognitoVerifier(
        client_id=issuer.client_id,
        clock=issuer.clock,
        transport=transport,
        async_transport=transport,
        **options,  # type: ignore[arg-type]
    )


def refuse(server: JWKSServer, issuer_url: str, status: int) -> None:
    server.routes[served_path(issuer_url)] = lambda _req: Response.json({"message": "no"}, status)


def test_hydrate_fetches_each_issuer_forms_jwks_once_and_verify_needs_no_fetch(
    issuer: LocalIssuer, server: JWKSServer
) -> None:
    verifier = pool_verifier(issuer, server)
    original, updated = issuers_for(POOL)
    assert verifier.hydrate() == {original: 2, updated: 2}
    assert server.request_count(served_path(original)) == 1
    assert server.request_count(served_path(updated)) == 1
    for iss in (original, updated):
        assert verifier.verify(issuer.access_token(iss=iss)).issuer == iss
    assert server.request_count() == 2  # the tokens were verified with the hydrated keys


@pytest.mark.parametrize("status", [403, 404])
def test_a_pool_on_one_issuer_form_hydrates_when_the_other_forms_jwks_is_refused(
    issuer: LocalIssuer, server: JWKSServer, status: int, caplog: pytest.LogCaptureFixture
) -> None:
    original, updated = issuers_for(POOL)
    refuse(server, updated, status)
    verifier = pool_verifier(issuer, server)
    with caplog.at_level(logging.DEBUG, logger="cognito_guard"):
        assert verifier.hydrate() == {original: 2, updated: 0}
    # One INFO line saying why, and no warning: this pool simply issues one form.
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    (info,) = [r for r in caplog.records if r.levelno == logging.INFO]
    assert updated in info.getMessage() and f"HTTP {status}" in info.getMessage()
    assert "other issuer form has keys" in info.getMessage()
    assert verifier.verify(issuer.access_token()).issuer == original
    assert server.request_count(served_path(original)) == 1


def test_hydrate_raises_when_a_pool_has_no_usable_jwks_at_all(
    issuer: LocalIssuer, server: JWKSServer
) -> None:
    for iss in issuers_for(POOL):
        refuse(server, iss, 404)
    verifier = pool_verifier(issuer, server)
    with pytest.raises(KeysUnavailableError) as caught:
        verifier.hydrate()
    message = str(caught.value)
    assert caught.value.status_code == 503 and caught.value.retry_after >= 1
    assert issuers_for(POOL)[0] in message and "HTTP 404" in message


def test_hydrate_raises_for_the_pool_without_keys_and_keeps_the_other_pools_keys(
    issuer: LocalIssuer, server: JWKSServer
) -> None:
    for iss in issuers_for(OTHER_POOL):
        refuse(server, iss, 404)
    verifier = pool_verifier(issuer, server, user_pool_id=[POOL, OTHER_POOL])
    with pytest.raises(KeysUnavailableError) as caught:
        verifier.hydrate()
    assert OTHER_POOL in str(caught.value) and POOL not in str(caught.value)
    requests = server.request_count()
    assert verifier.verify(issuer.access_token()).sub
    assert server.request_count() == requests  # the first pool's keys were kept


def test_ahydrate_does_the_same_on_the_event_loop(issuer: LocalIssuer, server: JWKSServer) -> None:
    original, updated = issuers_for(POOL)
    refuse(server, updated, 404)
    verifier = pool_verifier(issuer, server)

    async def start_up() -> dict[str, int]:
        counts = await verifier.ahydrate()
        await verifier.averify(issuer.access_token())
        return counts

    assert asyncio.run(start_up()) == {original: 2, updated: 0}
    assert server.request_count() == 2
    refuse(server, original, 404)
    with pytest.raises(KeysUnavailableError):
        asyncio.run(pool_verifier(issuer, server).ahydrate())


def test_hydrating_a_verifier_with_preloaded_keys_fetches_nothing(issuer: LocalIssuer) -> None:
    verifier = issuer.verifier()  # jwks= alone: no network at all
    assert verifier.hydrate() == dict.fromkeys(issuers_for(POOL), 2)


def test_hydrate_builds_the_tls_context_once_for_every_fetch(
    issuer: LocalIssuer, server: JWKSServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Loading the CA bundle costs tens of milliseconds: once per process, not per fetch."""
    loads: list[object] = []
    real = ssl.SSLContext.load_verify_locations

    def counting(self: ssl.SSLContext, *args: object, **kwargs: object) -> None:
        loads.append(args or kwargs)
        real(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(ssl.SSLContext, "load_verify_locations", counting)
    monkeypatch.setattr(_http, "_ssl", None)  # as in a new process
    verifiers = [
        issuer.verifier(issuer=server.issuer_url(name), jwks_uri=None)
        for name in ("us-east-1_A1", "us-east-1_B2")
    ]
    for verifier in verifiers:
        verifier.hydrate()
        verifier.hydrate()
    assert server.request_count() == 4
    assert len(loads) == 1


# -- a JWKS bundled with the deployment ------------------------------------------------------------


def test_a_bundled_jwks_with_a_jwks_uri_fetches_an_unknown_kid(
    issuer: LocalIssuer, server: JWKSServer
) -> None:
    bundled = issuer.jwks
    old = issuer.access_token()
    verifier = issuer.verifier(jwks=bundled, jwks_uri=server.jwks_uri)
    assert verifier.verify(old).sub
    assert server.request_count() == 0  # the bundled keys serve without a fetch
    issuer.rotate()
    assert verifier.verify(issuer.access_token()).sub  # a key published since the build
    assert server.request_count() == 1


def test_a_bundled_jwks_is_refreshed_after_the_ttl_like_fetched_keys(
    issuer: LocalIssuer, server: JWKSServer, clock: ManualClock
) -> None:
    policy = KeyPolicy(ttl=600, stale_if_error=0)
    verifier = issuer.verifier(
        jwks=issuer.jwks, jwks_uri=server.jwks_uri, key_policy=policy, token_cache_size=0
    )
    old_key = issuer.access_key
    issuer.rotate()
    issuer.retire(old_key.kid)  # removed from the live JWKS after the build
    token = issuer.sign(issuer.access_token_claims(expires_in=7200), key=old_key)
    assert verifier.verify(token).sub  # trusted while the bundled JWKS is fresh
    clock.advance(policy.ttl + 1)
    with pytest.raises(UnknownKeyError):
        verifier.verify(token)  # the refresh brought the live JWKS, without the retired key
    wait_until_landed(verifier)
    assert server.request_count() == 1


def test_a_bundled_jwks_without_a_url_stays_static(
    issuer: LocalIssuer, server: JWKSServer, clock: ManualClock
) -> None:
    verifier = pool_verifier(issuer, server, jwks=issuer.jwks)  # the pool's URLs are reachable
    old = issuer.access_token(expires_in=86400)
    issuer.rotate()
    with pytest.raises(UnknownKeyError):
        verifier.verify(issuer.access_token())
    clock.advance(3 * 3600)  # past any TTL: a static store has none
    assert verifier.verify(old).sub
    assert verifier.hydrate() == dict.fromkeys(issuers_for(POOL), 2)
    assert server.request_count() == 0
