"""CognitoVerifier: configuration, claim checks in order, issuers, the token cache."""

from __future__ import annotations

import json
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from cryptography.hazmat.primitives.hashes import SHA256

from cognito_guard import (
    ClaimCheckError,
    CognitoClaims,
    CognitoVerifier,
    ConfigurationError,
    ExpiredTokenError,
    InsufficientScopeError,
    InvalidClientError,
    InvalidIssuerError,
    InvalidSignatureError,
    InvalidTokenUseError,
    MalformedTokenError,
    MissingGroupError,
    NotYetValidError,
    UnknownKeyError,
)
from cognito_guard.testing import OMIT, LocalIssuer, ManualClock, b64url


@pytest.fixture
def issuer(cognito_signing_keys: list[RSAPrivateKey], clock: ManualClock) -> LocalIssuer:
    return LocalIssuer("eu-west-1_AbCdEf123", keys=cognito_signing_keys, clock=clock)


# -- configuration -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"client_id": "c"}, "user_pool_id"),
        ({"user_pool_id": "not a pool", "client_id": "c"}, "user pool id"),
        ({"user_pool_id": "eu-west-1_" + "a" * 60, "client_id": "c"}, "user pool id"),
        ({"user_pool_id": "eu-west-1_abc", "client_id": None}, "client_id is required"),
        ({"user_pool_id": "eu-west-1_abc", "client_id": ""}, "client_id"),
        ({"user_pool_id": "eu-west-1_abc", "client_id": "c", "token_use": "refresh"}, "token_use"),
        ({"user_pool_id": "eu-west-1_abc", "client_id": "c", "leeway": -1}, "leeway"),
        ({"user_pool_id": "eu-west-1_abc", "client_id": "c", "token_cache_size": -1}, "cache"),
        ({"user_pool_id": "eu-west-1_abc", "client_id": "c", "jwks_uri": "http://x.io/j"}, "https"),
        ({"user_pool_id": "eu-west-1_abc", "client_id": "c", "jwks_uri": "ftp://x/j"}, "https"),
        ({"issuer": "https://x.example/pool/", "client_id": "c"}, "must not end with"),
        ({"user_pool_id": "eu-west-1_abc", "client_id": "c", "issuer_form": "new"}, "issuer_form"),
        ({"user_pool_id": "eu-west-1_abc", "client_id": "c", "jwks": {"keys": []}}, "jwks"),
        ({"user_pool_id": "eu-west-1_abc", "client_id": "c", "custom_check": 3}, "callable"),
    ],
)
def test_invalid_configuration_is_refused_at_construction(
    options: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigurationError, match=message):
        CognitoVerifier(**options)


@pytest.mark.parametrize(
    "uri",
    [
        "http://127.0.0.1:9/jwks.json",
        "http://localhost:9/jwks.json",
        "http://[::1]:9/jwks.json",
        "https://example.com/jwks.json",
    ],
)
def test_jwks_uri_https_or_loopback_http(uri: str) -> None:
    verifier = CognitoVerifier(user_pool_id="eu-west-1_abc", client_id="c", jwks_uri=uri)
    assert all(verifier.key_store(i).urls == (uri,) for i in verifier.issuers)


@pytest.mark.parametrize(
    ("uri", "hint"),
    [
        ("https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbCdEf123", "did you mean"),
        ("https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbCdEf123/", "did you mean"),
        (
            "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbCdEf123"
            "/.well-known/openid-configuration",
            "did you mean",
        ),
        ("https://issuer-cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbCdEf123", "did you mean"),
        ("https://cognito-idp.eu-west-1.amazonaws.com/", "<user pool id>"),
        ("https://cognito-idp.eu-west-1.amazonaws.com/jwks.json", "<user pool id>"),
    ],
)
def test_a_jwks_uri_on_a_cognito_host_must_be_a_pools_jwks_document(uri: str, hint: str) -> None:
    host = uri.split("/")[2]
    for options in ({"jwks_uri": uri}, {"jwks_fallback_uris": [uri]}):
        with pytest.raises(ConfigurationError, match="not a user pool's JWKS") as caught:
            CognitoVerifier(user_pool_id="eu-west-1_AbCdEf123", client_id="c", **options)
        assert hint in str(caught.value)
        if hint == "did you mean":
            fixed = f"https://{host}/eu-west-1_AbCdEf123/.well-known/jwks.json"
            assert f"did you mean {fixed!r}?" in str(caught.value)
            verifier = CognitoVerifier(
                user_pool_id="eu-west-1_AbCdEf123", client_id="c", jwks_uri=fixed
            )
            assert all(verifier.key_store(i).urls == (fixed,) for i in verifier.issuers)


def test_issuers_derived_from_pool_id_both_forms_by_default() -> None:
    verifier = CognitoVerifier(user_pool_id="eu-west-1_AbCdEf123", client_id="c")
    assert verifier.issuers == (
        "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbCdEf123",
        "https://issuer-cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbCdEf123",
    )
    for iss in verifier.issuers:
        assert verifier.key_store(iss).urls == (iss + "/.well-known/jwks.json",)


def test_issuer_form_pins_one_form(issuer: LocalIssuer) -> None:
    updated = "https://issuer-cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbCdEf123"
    verifier = issuer.verifier(issuer_form="updated")
    assert verifier.issuers == (updated,)
    with pytest.raises(InvalidIssuerError):
        verifier.verify(issuer.access_token())  # the original form is refused
    assert verifier.verify(issuer.access_token(iss=updated)).issuer == updated


def test_both_issuer_forms_verify(issuer: LocalIssuer) -> None:
    verifier = issuer.verifier()
    for iss in verifier.issuers:
        assert verifier.verify(issuer.access_token(iss=iss)).issuer == iss


# -- claim checks --------------------------------------------------------------------------------


def test_access_token_claims(issuer: LocalIssuer, clock: ManualClock) -> None:
    token = issuer.access_token(scopes=["openid", "orders/read"], groups=["admins"])
    claims = issuer.verifier().verify(token)
    assert isinstance(claims, CognitoClaims)
    assert claims.token_use == "access"
    assert claims.username == "alice"
    assert claims.client_id == issuer.client_id
    assert claims.scopes == frozenset({"openid", "orders/read"})
    assert claims.groups == frozenset({"admins"})
    assert claims.issued_at == int(clock.now)
    assert claims.expires_at == int(clock.now) + 3600
    assert claims.origin_jti and claims.jti
    assert not claims.is_machine
    assert claims["version"] == 2
    with pytest.raises(TypeError):
        claims["sub"] = "mallory"  # type: ignore[index]


def test_id_token_claims(issuer: LocalIssuer) -> None:
    claims = issuer.verifier(token_use="id").verify(issuer.id_token(email="a@b.example"))
    assert claims.token_use == "id"
    assert claims.username == "alice"
    assert claims.client_id == issuer.client_id
    assert claims.email == "a@b.example"
    assert claims.scopes == frozenset()


def test_m2m_token_is_recognised(issuer: LocalIssuer) -> None:
    claims = issuer.verifier().verify(issuer.m2m_token(scopes=["orders/read"]))
    assert claims.is_machine
    assert claims.username is None
    assert claims.sub == issuer.client_id


def test_token_use_none_accepts_both(issuer: LocalIssuer) -> None:
    verifier = issuer.verifier(token_use=None)
    assert verifier.verify(issuer.access_token()).token_use == "access"
    assert verifier.verify(issuer.id_token()).token_use == "id"


@pytest.mark.parametrize(
    ("mint", "options", "error"),
    [
        (lambda i: i.access_token(expires_in=-1), {}, ExpiredTokenError),
        (lambda i: i.access_token(expires_in=0), {}, ExpiredTokenError),
        (lambda i: i.access_token(issued_at=1_800_000_100), {}, NotYetValidError),
        (lambda i: i.access_token(nbf=1_800_000_100), {}, NotYetValidError),
        (lambda i: i.id_token(), {}, InvalidTokenUseError),
        (lambda i: i.access_token(), {"token_use": "id"}, InvalidTokenUseError),
        (lambda i: i.access_token(client_id="someone-else"), {}, InvalidClientError),
        (lambda i: i.access_token(client_id=OMIT), {}, InvalidClientError),
        (lambda i: i.id_token(aud="someone-else"), {"token_use": "id"}, InvalidClientError),
        (lambda i: i.access_token(scopes=["a"]), {"scopes": ["a", "b"]}, InsufficientScopeError),
        (lambda i: i.id_token(), {"token_use": "id", "scopes": ["x"]}, InsufficientScopeError),
        (lambda i: i.access_token(groups=["x"]), {"groups": ["admins"]}, MissingGroupError),
        (lambda i: i.access_token(), {"groups": ["admins"]}, MissingGroupError),
    ],
)
def test_rejections(
    issuer: LocalIssuer, mint: Any, options: dict[str, Any], error: type[Exception]
) -> None:
    with pytest.raises(error) as caught:
        issuer.verifier(**options).verify(mint(issuer))
    assert type(caught.value) is error


def test_leeway_tolerates_skew_both_ways(issuer: LocalIssuer) -> None:
    verifier = issuer.verifier(leeway=30)
    assert verifier.verify(issuer.access_token(expires_in=-29)).sub
    assert verifier.verify(issuer.access_token(issued_at=1_800_000_029)).sub
    with pytest.raises(ExpiredTokenError):
        verifier.verify(issuer.access_token(expires_in=-30))
    with pytest.raises(NotYetValidError):
        verifier.verify(issuer.access_token(issued_at=1_800_000_031))


def test_check_order_signature_before_claims(issuer: LocalIssuer) -> None:
    """An expired, wrong-client token with a bad signature is rejected for its signature."""
    good = issuer.access_token(expires_in=-100, client_id="other")
    header, _payload, signature = good.split(".")
    forged = ".".join([header, issuer.access_token().split(".")[1], signature])
    with pytest.raises(InvalidSignatureError):
        issuer.verifier().verify(forged)
    with pytest.raises(ExpiredTokenError):  # exp is checked before client_id
        issuer.verifier().verify(good)


def test_group_any_of_and_scope_all_of(issuer: LocalIssuer) -> None:
    verifier = issuer.verifier(scopes=["a", "b"], groups=["x", "y"])
    assert verifier.verify(issuer.access_token(scopes=["a", "b", "c"], groups=["y"])).sub
    with pytest.raises(InsufficientScopeError) as caught:
        verifier.verify(issuer.access_token(scopes=["a"], groups=["y"]))
    assert caught.value.required == ("a", "b")
    assert 'scope="a b"' in caught.value.www_authenticate()


def test_custom_check(issuer: LocalIssuer) -> None:
    def tenant_must_be_acme(claims: CognitoClaims) -> None:
        if claims.get("custom:tenant") != "acme":
            raise ValueError("wrong tenant")

    verifier = issuer.verifier(custom_check=tenant_must_be_acme)
    assert verifier.verify(issuer.access_token(claims={"custom:tenant": "acme"})).sub
    with pytest.raises(ClaimCheckError) as caught:
        verifier.verify(issuer.access_token(claims={"custom:tenant": "other"}))
    assert isinstance(caught.value.__cause__, ValueError)


def test_custom_check_may_raise_a_token_error(issuer: LocalIssuer) -> None:
    def only_admins(claims: CognitoClaims) -> None:
        claims.require_groups("admins")

    with pytest.raises(MissingGroupError):
        issuer.verifier(custom_check=only_admins).verify(issuer.access_token())


def test_several_clients(issuer: LocalIssuer) -> None:
    verifier = issuer.verifier(client_id=["first", issuer.client_id])
    assert verifier.verify(issuer.access_token()).sub
    assert verifier.verify(issuer.access_token(client_id="first")).sub
    anyone = issuer.verifier(client_id=None, allow_any_client=True)
    assert anyone.verify(issuer.access_token(client_id="whoever")).sub


def test_multi_pool_picks_pool_by_issuer_before_fetching(
    issuer: LocalIssuer, cognito_signing_keys: list[RSAPrivateKey], clock: ManualClock
) -> None:
    second = LocalIssuer("us-west-2_Second", keys=cognito_signing_keys[::-1], clock=clock)
    with issuer.serve() as first_server, second.serve() as second_server:
        verifier = CognitoVerifier(
            issuer=[first_server.issuer_url(), second_server.issuer_url()],
            client_id=[issuer.client_id, second.client_id],
            clock=clock,
        )
        a = issuer.access_token(iss=first_server.issuer_url())
        b = second.access_token(iss=second_server.issuer_url(), username="bob")
        assert verifier.verify(a).username == "alice"
        assert first_server.request_count() == 1 and second_server.request_count() == 0
        assert verifier.verify(b).username == "bob"
        assert first_server.request_count() == 1 and second_server.request_count() == 1
        # pool B's issuer with pool A's kid: verified against B's JWKS only
        crossed = issuer.access_token(iss=second_server.issuer_url())
        with pytest.raises((UnknownKeyError, InvalidSignatureError)):
            verifier.verify(crossed)


# -- the verified-token cache ------------------------------------------------------------------


def test_cache_hit_returns_same_claims_and_rechecks_expiry(
    issuer: LocalIssuer, clock: ManualClock
) -> None:
    verifier = issuer.verifier()
    token = issuer.access_token(expires_in=60)
    first = verifier.verify(token)
    assert verifier.verify(token) is first  # served from the cache
    clock.now += 60
    with pytest.raises(ExpiredTokenError):
        verifier.verify(token)


def test_cache_off_verifies_every_time(issuer: LocalIssuer) -> None:
    verifier = issuer.verifier(token_cache_size=0)
    token = issuer.access_token()
    assert verifier.verify(token) is not verifier.verify(token)


def test_cache_is_bounded(issuer: LocalIssuer) -> None:
    verifier = issuer.verifier(token_cache_size=2)
    tokens = [issuer.access_token() for _ in range(3)]
    claims = [verifier.verify(t) for t in tokens]
    assert verifier.verify(tokens[2]) is claims[2]
    assert verifier.verify(tokens[0]) is not claims[0]  # evicted, verified again


def test_cache_evicts_the_least_recently_used(issuer: LocalIssuer) -> None:
    verifier = issuer.verifier(token_cache_size=2)
    tokens = [issuer.access_token() for _ in range(3)]
    first, second = verifier.verify(tokens[0]), verifier.verify(tokens[1])
    assert verifier.verify(tokens[0]) is first  # used last: tokens[1] is now the oldest
    verifier.verify(tokens[2])
    assert verifier.verify(tokens[0]) is first
    assert verifier.verify(tokens[1]) is not second


def test_cache_drops_an_expired_token(issuer: LocalIssuer, clock: ManualClock) -> None:
    verifier = issuer.verifier(leeway=5)
    token = issuer.access_token(expires_in=60)
    claims = verifier.verify(token)
    clock.now += 62
    assert verifier.verify(token) is claims  # within the leeway, still a hit
    clock.now += 10
    with pytest.raises(ExpiredTokenError):
        verifier.verify(token)
    assert verifier._cache is not None and token not in verifier._cache


def test_rejected_tokens_are_not_cached(issuer: LocalIssuer) -> None:
    verifier = issuer.verifier(scopes=["x"])
    token = issuer.access_token(scopes=["y"])
    for _ in range(2):
        with pytest.raises(InsufficientScopeError):
            verifier.verify(token)


def test_custom_check_runs_on_cache_hits_too(issuer: LocalIssuer) -> None:
    revoked: set[str] = set()

    def not_revoked(claims: CognitoClaims) -> bool:
        return claims.origin_jti not in revoked

    verifier = issuer.verifier(custom_check=not_revoked)
    token = issuer.access_token()
    claims = verifier.verify(token)
    assert verifier.verify(token) is claims  # cached
    revoked.add(str(claims.origin_jti))  # the sign-in is revoked: cached or not, it is refused
    with pytest.raises(ClaimCheckError, match="returned False"):
        verifier.verify(token)


def test_pool_id_and_issuer_together_are_refused() -> None:
    with pytest.raises(ConfigurationError, match="not both"):
        CognitoVerifier(
            user_pool_id="eu-west-1_abc", issuer="https://issuer.example/pool", client_id="c"
        )


@pytest.mark.parametrize(
    ("before", "after", "accepted"),
    [("  ", "\n", True), ("", " x", False), ("", "{}", False)],
    ids=["whitespace-around", "trailing-garbage", "two-values"],
)
def test_payload_json_outside_the_compact_form(
    issuer: LocalIssuer, clock: ManualClock, before: str, after: str, accepted: bool
) -> None:
    """The fast path only handles compact JSON; the full parser decides everything else."""
    claims = {"sub": "s", "exp": int(clock.now) + 60, "token_use": "access"}
    claims.update(client_id=issuer.client_id, iss=issuer.issuer)
    header = b64url(json.dumps({"kid": issuer.access_key.kid, "alg": "RS256"}).encode())
    body = before + json.dumps(claims) + after
    signing_input = f"{header}.{b64url(body.encode())}"
    signature = issuer.access_key.private_key.sign(signing_input.encode(), PKCS1v15(), SHA256())
    token = f"{signing_input}.{b64url(signature)}"
    if accepted:
        assert issuer.verifier().verify(token).sub == "s"
    else:
        with pytest.raises(MalformedTokenError):
            issuer.verifier().verify(token)


def test_clients_paired_with_their_pools(
    issuer: LocalIssuer, cognito_signing_keys: list[RSAPrivateKey], clock: ManualClock
) -> None:
    other = LocalIssuer("us-west-2_Second", "second-client", keys=cognito_signing_keys, clock=clock)
    verifier = CognitoVerifier(
        client_id={issuer.user_pool_id: issuer.client_id, other.user_pool_id: ["second-client"]},
        jwks={"keys": issuer.jwks["keys"] + other.jwks["keys"]},
        clock=clock,
    )
    assert set(verifier.client_ids) == {issuer.client_id, "second-client"}
    assert verifier.verify(issuer.access_token()).client_id == issuer.client_id
    assert verifier.verify(other.access_token()).client_id == "second-client"
    with pytest.raises(InvalidClientError):  # pool A's token naming pool B's client
        verifier.verify(issuer.access_token(client_id="second-client"))
    id_tokens = CognitoVerifier(
        client_id={issuer.user_pool_id: issuer.client_id, other.user_pool_id: "second-client"},
        token_use="id",
        jwks={"keys": issuer.jwks["keys"] + other.jwks["keys"]},
        clock=clock,
    )
    assert id_tokens.verify(other.id_token(aud="second-client")).client_id == "second-client"
    with pytest.raises(InvalidClientError):  # the aud of an ID token is paired the same way
        id_tokens.verify(other.id_token(aud=issuer.client_id))


@pytest.mark.parametrize(
    "options",
    [
        {"client_id": {"eu-west-1_A": []}},
        {"client_id": {"not a pool": "c"}},
        {"client_id": {"eu-west-1_A": "c"}, "user_pool_id": "eu-west-1_B"},
        {"client_id": {"eu-west-1_A": "c"}, "issuer": "https://issuer.example/x"},
    ],
)
def test_client_mapping_mistakes(options: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError):
        CognitoVerifier(**options)


def test_for_id_tokens_verifies_id_tokens_of_the_same_pool_without_access_demands(
    issuer: LocalIssuer,
) -> None:
    access = issuer.verifier(
        scopes=["orders/read"], groups=["admins"], custom_check=lambda c: False
    )
    id_verifier = access.for_id_tokens()
    claims = id_verifier.verify(issuer.id_token(groups=["staff"]))
    assert claims.token_use == "id"
    with pytest.raises(InvalidTokenUseError):
        id_verifier.verify(issuer.access_token(scopes=["orders/read"], groups=["admins"]))
    assert id_verifier.key_store(issuer.issuer) is access.key_store(issuer.issuer)
    assert access.token_use == "access" and access.scopes == ("orders/read",)  # unchanged
