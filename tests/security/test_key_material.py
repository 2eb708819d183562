"""JWKS key material: only RSA signing keys fit for RS256 are used; everything else is ignored
without failing, and a JWKS with nothing usable is refused."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from jwt.algorithms import RSAAlgorithm

from cognito_guard import (
    CognitoVerifier,
    ConfigurationError,
    KeyPolicy,
    KeyStore,
    KeysUnavailableError,
    UnknownKeyError,
)
from cognito_guard.keys import JWKSError, parse_jwks
from cognito_guard.testing import OMIT, SigningKey

from ._helpers import CLIENT_ID, ISSUER, NOW, World, b64url, compact, sign_parts


def _rsa_jwk(key: RSAPrivateKey, kid: Any, **overrides: Any) -> dict[str, Any]:
    jwk: dict[str, Any] = {**SigningKey("x", key).public_jwk(), "kid": kid, **overrides}
    return {name: value for name, value in jwk.items() if value is not OMIT}


def _private_jwk(key: RSAPrivateKey, kid: str, keep: tuple[str, ...]) -> dict[str, Any]:
    full = RSAAlgorithm.to_jwk(key, as_dict=True)
    public = _rsa_jwk(key, kid)
    return {**public, **{name: full[name] for name in keep}}


def _ec_jwk(w: World, **overrides: Any) -> dict[str, Any]:
    numbers = w.ec_key.public_key().public_numbers()
    return {
        "kty": "EC",
        "crv": "P-256",
        "x": b64url(numbers.x.to_bytes(32, "big")),
        "y": b64url(numbers.y.to_bytes(32, "big")),
        "kid": "ec-key",
        "use": "sig",
        "alg": "ES256",
        **overrides,
    }


def _okp_jwk() -> dict[str, Any]:
    public = ed25519.Ed25519PrivateKey.generate().public_key()
    raw = public.public_bytes(Encoding.Raw, PublicFormat.Raw)
    return {"kty": "OKP", "crv": "Ed25519", "x": b64url(raw), "kid": "okp-key", "alg": "EdDSA"}


def _oct_jwk(w: World, alg: str) -> dict[str, Any]:
    """A symmetric key whose secret is the pool's public key PEM: an alg-confusion lure."""
    pem = w.private.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    return {"kty": "oct", "k": b64url(pem), "kid": "oct-key", "alg": alg, "use": "sig"}


JwkBuilder = Callable[[World, RSAPrivateKey], Any]
"""Builds one unusable JWKS entry from the world and a 1024-bit key."""

UNUSABLE: dict[str, JwkBuilder] = {
    "ec-p256": lambda w, weak: _ec_jwk(w),
    "ec-claiming-rs256": lambda w, weak: _ec_jwk(w, alg="RS256"),
    "okp-ed25519": lambda w, weak: _okp_jwk(),
    "oct-hs256": lambda w, weak: _oct_jwk(w, "HS256"),
    "oct-claiming-rs256": lambda w, weak: _oct_jwk(w, "RS256"),
    "kty-lowercase": lambda w, weak: _rsa_jwk(w.attacker.private_key, "k", kty="rsa"),
    "kty-missing": lambda w, weak: _rsa_jwk(w.attacker.private_key, "k", kty=OMIT),
    "use-enc": lambda w, weak: _rsa_jwk(w.attacker.private_key, "enc-key", use="enc"),
    "alg-rs512": lambda w, weak: _rsa_jwk(w.attacker.private_key, "rs512-key", alg="RS512"),
    "alg-none": lambda w, weak: _rsa_jwk(w.attacker.private_key, "none-key", alg="none"),
    "private-d": lambda w, weak: _private_jwk(w.attacker.private_key, "d-key", ("d",)),
    "private-full": lambda w, weak: _private_jwk(
        w.attacker.private_key, "full-key", ("d", "p", "q", "dp", "dq", "qi")
    ),
    "rsa-1024": lambda w, weak: _rsa_jwk(weak, "weak-key"),
    "no-kid": lambda w, weak: _rsa_jwk(w.attacker.private_key, OMIT),
    "kid-empty": lambda w, weak: _rsa_jwk(w.attacker.private_key, ""),
    "kid-int": lambda w, weak: _rsa_jwk(w.attacker.private_key, 7),
    "not-an-object-string": lambda w, weak: "RSA",
    "not-an-object-null": lambda w, weak: None,
    "not-an-object-list": lambda w, weak: [_rsa_jwk(w.attacker.private_key, "in-a-list")],
    "n-not-base64url": lambda w, weak: _rsa_jwk(w.attacker.private_key, "bad-n", n="!!!"),
    "n-missing": lambda w, weak: _rsa_jwk(w.attacker.private_key, "no-n", n=OMIT),
    "n-not-a-string": lambda w, weak: _rsa_jwk(w.attacker.private_key, "int-n", n=12345),
    "e-is-one": lambda w, weak: _rsa_jwk(w.attacker.private_key, "e-one", e=b64url(b"\x01")),
    "e-empty": lambda w, weak: _rsa_jwk(w.attacker.private_key, "e-empty", e=""),
}

# Unusable entries whose private key is an RSA key we hold, with the kid they are listed under:
# a token signed by that key under that kid must be refused as signed by an unknown key.
SIGNABLE: dict[str, tuple[str, str]] = {
    "use-enc": ("attacker", "enc-key"),
    "alg-rs512": ("attacker", "rs512-key"),
    "alg-none": ("attacker", "none-key"),
    "private-d": ("attacker", "d-key"),
    "private-full": ("attacker", "full-key"),
    "rsa-1024": ("weak", "weak-key"),
    "e-is-one": ("attacker", "e-one"),
}


def _good(w: World) -> dict[str, Any]:
    return w.pool.access_key.public_jwk()


def _token(w: World, key: RSAPrivateKey, kid: str) -> str:
    return sign_parts(b64url(compact(w.header(kid=kid))), b64url(compact(w.claims())), key)


def _verifier(jwks: dict[str, Any]) -> CognitoVerifier:
    return CognitoVerifier(issuer=ISSUER, client_id=CLIENT_ID, jwks=jwks, clock=lambda: float(NOW))


@pytest.mark.parametrize("name", list(UNUSABLE))
def test_unusable_key_is_ignored_next_to_a_usable_one(
    world: World, weak_key: RSAPrivateKey, name: str
) -> None:
    """parse_jwks skips the entry without failing and keeps the good key; tokens still verify."""
    bad = UNUSABLE[name](world, weak_key)
    keys = parse_jwks({"keys": [bad, _good(world)]})
    assert list(keys) == [world.kid]
    assert keys[world.kid].public_numbers() == world.private.public_key().public_numbers()
    keys_after = parse_jwks({"keys": [_good(world), bad]})
    assert list(keys_after) == [world.kid]
    verifier = _verifier({"keys": [bad, _good(world)]})
    assert verifier.verify(world.pool.access_token()).sub


@pytest.mark.parametrize("name", list(UNUSABLE))
def test_jwks_of_only_an_unusable_key_is_refused(
    world: World, weak_key: RSAPrivateKey, name: str
) -> None:
    """Nothing usable left: JWKSError from the parser, ConfigurationError when preloaded."""
    jwks = {"keys": [UNUSABLE[name](world, weak_key)]}
    with pytest.raises(JWKSError):
        parse_jwks(jwks)
    with pytest.raises(ConfigurationError) as info:
        _verifier(jwks)
    assert type(info.value) is ConfigurationError
    with pytest.raises(ConfigurationError):
        KeyStore(jwks=jwks)


def test_jwks_of_all_unusable_keys_together_is_refused(
    world: World, weak_key: RSAPrivateKey
) -> None:
    """Many unusable keys add up to no usable key."""
    jwks = {"keys": [build(world, weak_key) for build in UNUSABLE.values()]}
    with pytest.raises(ConfigurationError) as info:
        _verifier(jwks)
    assert type(info.value) is ConfigurationError


@pytest.mark.parametrize("name", list(SIGNABLE))
def test_token_signed_by_an_ignored_key_is_from_an_unknown_key(
    world: World, weak_key: RSAPrivateKey, name: str
) -> None:
    """The key is published, the token is signed by it under its kid, and still: unknown key."""
    owner, kid = SIGNABLE[name]
    private = weak_key if owner == "weak" else world.attacker.private_key
    verifier = _verifier({"keys": [UNUSABLE[name](world, weak_key), _good(world)]})
    with pytest.raises(UnknownKeyError) as info:
        verifier.verify(_token(world, private, kid))
    assert type(info.value) is UnknownKeyError


def test_1024_bit_key_in_the_jwks_does_not_verify(world: World, weak_key: RSAPrivateKey) -> None:
    """A 1024-bit RSA key published under its kid cannot verify anything (UnknownKeyError)."""
    assert weak_key.key_size == 1024
    verifier = _verifier({"keys": [_rsa_jwk(weak_key, "weak-key"), _good(world)]})
    with pytest.raises(UnknownKeyError) as info:
        verifier.verify(_token(world, weak_key, "weak-key"))
    assert type(info.value) is UnknownKeyError
    assert verifier.verify(_token(world, world.private, world.kid)).sub  # the good key works


@pytest.mark.parametrize("copies", [2, 3])
def test_duplicate_kids_are_dropped(world: World, copies: int) -> None:
    """A kid listed twice (with different keys) is ambiguous: none of its keys is used."""
    holders = [world.attacker.private_key, world.pool.id_key.private_key, world.private][:copies]
    dups = [_rsa_jwk(key, "dup-kid") for key in holders]
    keys = parse_jwks({"keys": [*dups, _good(world)]})
    assert list(keys) == [world.kid]
    verifier = _verifier({"keys": [*dups, _good(world)]})
    for key in holders:
        with pytest.raises(UnknownKeyError) as info:
            verifier.verify(_token(world, key, "dup-kid"))
        assert type(info.value) is UnknownKeyError
    with pytest.raises(ConfigurationError):
        _verifier({"keys": dups})


@pytest.mark.parametrize("member", ["p", "q", "dp", "dq", "qi"])
def test_key_with_any_private_member_is_ignored(world: World, member: str) -> None:
    """Like ``d``, any one private CRT member published in a JWKS gives the private key away
    (``p`` alone factors ``n``), so such a key must not be trusted."""
    leaky = _private_jwk(world.attacker.private_key, "leaky", (member,))
    keys = parse_jwks({"keys": [leaky, _good(world)]})
    assert list(keys) == [world.kid]


@pytest.mark.parametrize(
    "document",
    [{}, {"keys": {}}, {"keys": "RSA"}, {"keys": None}, {"keys": []}, [], "keys"],
    ids=["empty", "keys-object", "keys-string", "keys-null", "keys-empty", "list", "string"],
)
def test_malformed_preloaded_jwks_is_a_configuration_error(document: Any) -> None:
    """A preloaded document that is not a JWKS is refused at construction."""
    with pytest.raises(ConfigurationError) as info:
        _verifier(document)
    assert type(info.value) is ConfigurationError


@pytest.mark.parametrize(
    "body",
    [b"not json", b"\xff\xfe{}", b"[" * 50_000 + b"]" * 50_000, b'{"keys": 1}'],
    ids=["not-json", "not-utf8", "deeply-nested", "keys-not-a-list"],
)
def test_malformed_jwks_bytes_are_a_jwks_error(body: bytes) -> None:
    """Raw JWKS bytes that are not a JWKS raise JWKSError (never RecursionError or ValueError)."""
    with pytest.raises(JWKSError) as info:
        parse_jwks(body)
    assert type(info.value) is JWKSError


def test_min_key_bits_cannot_be_lowered_below_2048() -> None:
    """The 2048-bit floor is not configurable downwards."""
    with pytest.raises(ConfigurationError):
        KeyPolicy(min_key_bits=1024)
    assert KeyPolicy(min_key_bits=3072).min_key_bits == 3072


def test_min_key_bits_raised_ignores_2048_bit_keys(world: World) -> None:
    """With a 3072-bit floor, the pool's 2048-bit keys are ignored, so nothing is usable."""
    with pytest.raises(JWKSError):
        parse_jwks(world.pool.jwks, min_key_bits=3072)


def test_served_jwks_of_only_unusable_keys_means_keys_unavailable(
    world: World, weak_key: RSAPrivateKey
) -> None:
    """Fetched over HTTP, a JWKS with nothing usable is an outage (503), not a token error."""
    jwks = {"keys": [build(world, weak_key) for build in UNUSABLE.values()]}
    with world.pool.serve() as server:
        server.body = json.dumps(jwks).encode()
        verifier = world.pool.verifier(jwks_uri=server.jwks_uri)
        with pytest.raises(KeysUnavailableError) as info:
            verifier.verify(world.pool.access_token())
        assert info.value.status_code == 503
        assert server.request_count() == 1


@pytest.mark.parametrize("name", ["e-is-one", "n-not-base64url", "private-d", "rsa-1024"])
def test_served_jwks_with_one_unusable_key_still_serves_the_good_one(
    world: World, weak_key: RSAPrivateKey, name: str
) -> None:
    """Over HTTP too, one bad entry does not take the good keys down with it."""
    jwks = {"keys": [UNUSABLE[name](world, weak_key), *world.pool.jwks["keys"]]}
    with world.pool.serve() as server:
        server.body = json.dumps(jwks).encode()
        verifier = world.pool.verifier(jwks_uri=server.jwks_uri, token_cache_size=0)
        for _ in range(3):
            assert verifier.verify(world.pool.access_token()).sub
        assert server.request_count() == 1
