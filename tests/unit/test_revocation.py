"""MemoryRevocations and the verifier's revocation hook (full path, cache hits, averify)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from cognito_guard import (
    CognitoVerifier,
    ConfigurationError,
    RevocationsUnavailableError,
    RevokedTokenError,
    ServiceUnavailableError,
    TokenError,
)
from cognito_guard.bearer import BearerGuard
from cognito_guard.claims import CognitoClaims
from cognito_guard.errors import KeysUnavailableError
from cognito_guard.revocation import MemoryRevocations, parse_member, parse_message
from cognito_guard.testing import OMIT, LocalIssuer, ManualClock

Revoke = Callable[[MemoryRevocations, CognitoClaims], None]

KINDS: dict[str, Revoke] = {
    "jti": lambda r, c: r.revoke_token(c["jti"]),
    "origin_jti": lambda r, c: r.revoke_session(c["origin_jti"]),
    "sub": lambda r, c: r.sign_out_user(c.sub),
}


@pytest.fixture
def issuer(cognito_issuer: LocalIssuer, clock: ManualClock) -> LocalIssuer:
    cognito_issuer.clock = clock
    return cognito_issuer


@pytest.fixture
def revocations(clock: ManualClock) -> MemoryRevocations:
    return MemoryRevocations(clock=clock)


def _verifier(
    issuer: LocalIssuer, revocations: MemoryRevocations, **options: object
) -> CognitoVerifier:
    return issuer.verifier(revocations=revocations, **options)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("path", ["full", "cache_hit", "averify"])
def test_each_kind_is_refused_on_every_path(
    issuer: LocalIssuer, revocations: MemoryRevocations, kind: str, path: str
) -> None:
    verifier = _verifier(issuer, revocations, token_cache_size=0 if path == "full" else 100)
    token = issuer.access_token()
    claims = verifier.verify(token)  # accepted, and cached when the cache is on
    KINDS[kind](revocations, claims)
    with pytest.raises(RevokedTokenError) as caught:
        if path == "averify":
            asyncio.run(verifier.averify(token))
        else:
            verifier.verify(token)
    assert caught.value.status_code == 401
    assert caught.value.description == "The token has been revoked"
    assert 'error="invalid_token"' in caught.value.www_authenticate()


@pytest.mark.parametrize("kind", KINDS)
def test_id_tokens_are_checked_too(
    issuer: LocalIssuer, revocations: MemoryRevocations, kind: str
) -> None:
    verifier = _verifier(issuer, revocations, token_use="id")
    token = issuer.id_token()
    KINDS[kind](revocations, verifier.verify(token))
    with pytest.raises(RevokedTokenError):
        verifier.verify(token)


def test_a_revocation_touches_only_its_own_tokens(
    issuer: LocalIssuer, revocations: MemoryRevocations
) -> None:
    verifier = _verifier(issuer, revocations)
    session = issuer.access_token_claims()
    first = issuer.sign(session)
    second_of_session = issuer.sign({**session, "jti": "another-jti"})
    other_session = issuer.access_token()
    other_user = issuer.access_token(username="bob")
    revocations.revoke_token(session["jti"])
    with pytest.raises(RevokedTokenError):
        verifier.verify(first)
    verifier.verify(second_of_session)  # same session, another token: jti revokes one token
    revocations.revoke_session(session["origin_jti"])
    with pytest.raises(RevokedTokenError):
        verifier.verify(second_of_session)
    verifier.verify(other_session)
    revocations.sign_out_user(verifier.verify(other_session).sub)
    with pytest.raises(RevokedTokenError):
        verifier.verify(other_session)
    verifier.verify(other_user)


def test_sign_out_covers_tokens_issued_at_or_before_it(
    issuer: LocalIssuer, revocations: MemoryRevocations, clock: ManualClock
) -> None:
    verifier = _verifier(issuer, revocations)
    before = issuer.access_token(issued_at=clock.now - 10)
    at_the_second = issuer.access_token(issued_at=clock.now)
    after = issuer.access_token(issued_at=clock.now + 1)
    no_iat = issuer.access_token(iat=OMIT)
    revocations.sign_out_user(verifier.verify(before).sub, at=clock.now)
    for token in (before, at_the_second, no_iat):  # no iat: nothing shows it came after
        with pytest.raises(RevokedTokenError):
            verifier.verify(token)
    clock.advance(1)
    assert verifier.verify(after).sub  # signed in again after the sign-out
    assert not revocations.is_revoked(verifier.verify(after))


def test_a_later_sign_out_moves_the_cutoff_and_an_earlier_one_does_not(
    revocations: MemoryRevocations, clock: ManualClock
) -> None:
    token = {"sub": "u1", "iat": clock.now - 100}
    revocations.sign_out_user("u1", at=clock.now - 200)
    assert not revocations.is_revoked(token)
    revocations.sign_out_user("u1", at=clock.now - 50)
    assert revocations.is_revoked(token)
    revocations.sign_out_user("u1", at=clock.now - 300)  # add-only: never un-revokes
    assert revocations.is_revoked(token)


def test_entries_expire_after_max_token_lifetime(clock: ManualClock) -> None:
    revocations = MemoryRevocations(max_token_lifetime=300, clock=clock)
    revocations.revoke_token("j1")
    revocations.revoke_session("o1")
    revocations.sign_out_user("u1")
    assert {(e.kind, e.id) for e in revocations.entries()} == {
        ("jti", "j1"),
        ("origin_jti", "o1"),
        ("sub", "u1"),
    }
    assert all(e.expires == clock.now + 300 for e in revocations.entries())
    clock.advance(301)
    assert revocations.entries() == []
    revocations.revoke_token("j2")  # a write prunes what expired
    assert len(revocations) == 1


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda r: r.revoke_token(""), "non-empty string"),
        (lambda r: r.revoke_token(None), "non-empty string"),
        (lambda r: r.revoke_session(123), "non-empty string"),
        (lambda r: r.revoke_session("a\nb"), "printable"),
        (lambda r: r.sign_out_user("x" * 2000), "printable"),
        (lambda r: r.sign_out_user(["u"]), "non-empty string"),
        (lambda r: r.sign_out_user("u", at="yesterday"), "epoch seconds"),
        (lambda r: r.sign_out_user("u", at=float("nan")), "epoch seconds"),
        (lambda r: r.sign_out_user("u", at=1_800_000_000.0 + 3600), "future"),
    ],
)
def test_bad_input_is_refused_at_the_call_and_changes_nothing(
    revocations: MemoryRevocations, call: Callable[[MemoryRevocations], None], message: str
) -> None:
    with pytest.raises(ConfigurationError, match=message) as caught:
        call(revocations)
    assert isinstance(caught.value, ValueError)
    assert len(revocations) == 0


def test_an_at_within_the_skew_is_accepted(
    revocations: MemoryRevocations, clock: ManualClock
) -> None:
    revocations.sign_out_user("u1", at=clock.now + 3)  # another host's clock, slightly ahead
    assert revocations.is_revoked({"sub": "u1", "iat": clock.now})


def test_async_writes(revocations: MemoryRevocations) -> None:
    async def write() -> None:
        await revocations.arevoke_token("j")
        await revocations.arevoke_session("o")
        await revocations.asign_out_user("u")

    asyncio.run(write())
    assert {e.kind for e in revocations.entries()} == {"jti", "origin_jti", "sub"}


def test_mistyped_claims_are_not_revoked_and_do_not_crash(revocations: MemoryRevocations) -> None:
    revocations.revoke_token("j")
    assert not revocations.is_revoked({"jti": ["j"], "origin_jti": {"o": 1}, "sub": 5})
    assert revocations.is_revoked({"jti": "j"})


def test_the_verifier_refuses_an_object_that_is_not_a_revocation_list(
    issuer: LocalIssuer,
) -> None:
    with pytest.raises(ConfigurationError, match="revocations"):
        issuer.verifier(revocations=object())


def test_no_revocations_means_no_check(issuer: LocalIssuer) -> None:
    verifier = issuer.verifier()
    assert verifier.revocations is None
    verifier.verify(issuer.access_token())


@pytest.mark.parametrize(
    "value",
    [
        b"not json",
        b'["jti"]',
        b'["nope","x",null]',
        b'["sub","x",null]',
        b'["jti","",null]',
        b'["jti","x",5]',
        b'{"kind":"jti"}',
        b'["jti","a\\u0000b",null]',
    ],
)
def test_malformed_members_parse_to_none(value: bytes) -> None:
    assert parse_member(value, 2e9) is None


def test_members_and_messages_round_trip(revocations: MemoryRevocations) -> None:
    revocations.revoke_session("o1")
    revocations.sign_out_user("u1")
    for entry in revocations.entries():
        assert parse_member(entry.member, entry.expires) == entry
        assert parse_message(entry.message) == entry
    assert parse_message(b'["jti","x",null,"soon"]') is None
    assert parse_message(b'["jti","x",null,Infinity]') is None


def test_both_503_errors_answer_through_one_branch(issuer: LocalIssuer) -> None:
    guard = BearerGuard(issuer.verifier())
    for error in (
        KeysUnavailableError("keys down", retry_after=7),
        RevocationsUnavailableError("redis down", retry_after=7),
    ):
        assert isinstance(error, ServiceUnavailableError)
        assert not isinstance(error, TokenError)
        answer = guard.answer(error)
        assert answer.status == 503
        assert ("Retry-After", "7") in answer.headers
        assert answer.error == "temporarily_unavailable"
        assert answer.description == type(error).description
    revoked = guard.answer(RevokedTokenError("revoked"))
    assert revoked.status == 401
    assert revoked.description == "The token has been revoked"


@pytest.mark.parametrize(
    ("domain", "api_url", "iss", "expected"),
    [
        (None, "http://127.0.0.1:9/", None, "http://127.0.0.1:9/"),
        (
            "https://myapp.auth.eu-west-1.amazoncognito.com",
            None,
            None,
            "https://cognito-idp.eu-west-1.amazonaws.com/",
        ),
        (
            "https://auth.example.com",
            None,
            "https://cognito-idp.ap-southeast-2.amazonaws.com/ap-southeast-2_AbC",
            "https://cognito-idp.ap-southeast-2.amazonaws.com/",
        ),
    ],
)
def test_where_global_sign_out_goes(
    issuer: LocalIssuer, domain: str | None, api_url: str | None, iss: str | None, expected: str
) -> None:
    from cognito_guard._oauth import Endpoint, user_pool_api_url

    token = issuer.access_token(**({"iss": iss} if iss else {}))
    assert user_pool_api_url(Endpoint("c", None, domain, api_url), token) == expected


@pytest.mark.parametrize(
    "iss", ["https://evil.example.com/x", "https://cognito-idp.eu-west-1.amazonaws.com.evil/x_y"]
)
def test_global_sign_out_with_a_custom_domain_needs_a_region(issuer: LocalIssuer, iss: str) -> None:
    from cognito_guard._oauth import Endpoint, user_pool_api_url

    with pytest.raises(ConfigurationError, match="region="):
        user_pool_api_url(
            Endpoint("c", None, "https://auth.example.com", None), issuer.access_token(iss=iss)
        )


def test_an_entry_made_again_lives_from_the_later_time(clock: ManualClock) -> None:
    revocations = MemoryRevocations(max_token_lifetime=300, clock=clock)
    revocations.revoke_token("j")
    revocations.sign_out_user("u")
    clock.advance(100)
    revocations.revoke_token("j")  # extended to now + 300
    revocations.sign_out_user("u")  # a later cutoff, a later expiry
    clock.advance(250)  # past the first expiry, before the second
    revocations.revoke_session("o")  # a write prunes what is due
    assert {(e.kind, e.id) for e in revocations.entries()} == {
        ("jti", "j"),
        ("sub", "u"),
        ("origin_jti", "o"),
    }
    assert revocations.is_revoked({"jti": "j"})
    clock.advance(51)
    revocations.revoke_session("o2")
    assert {e.id for e in revocations.entries()} == {"o", "o2"}
    assert len(revocations) == 2
