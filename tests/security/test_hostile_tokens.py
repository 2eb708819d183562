"""Hostile tokens from RFC 8725 (JWT BCP) and past JWT-library CVEs, each with its exact error.

Every case is one row of ``CASES``: an id, a builder and the exact error class it must raise.
Tokens that only one check can reject are signed with the pool's real key, so a missing check
shows up as an accepted token rather than as some other error.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, padding
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.hazmat.primitives.hashes import SHA256, SHA384, SHA512, HashAlgorithm
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from cryptography.x509.oid import NameOID

from cognito_guard import (
    CognitoVerifier,
    ExpiredTokenError,
    InsufficientScopeError,
    InvalidAlgorithmError,
    InvalidClientError,
    InvalidIssuerError,
    InvalidSignatureError,
    InvalidTokenUseError,
    MalformedClaimsError,
    MalformedTokenError,
    MissingGroupError,
    NotYetValidError,
    TokenError,
    UnknownKeyError,
)
from cognito_guard.testing import OMIT

from ._helpers import (
    B64URL,
    MAX_TOKEN,
    NOW,
    World,
    b64url,
    compact,
    sign_parts,
    splice_member,
)

Builder = Callable[[World], object]


@dataclass(frozen=True)
class Case:
    """One hostile token: how to build it, the exact error, and which verifier sees it."""

    id: str
    build: Builder
    expected: type[TokenError]
    verifier: str = "access"


# -- builders ---------------------------------------------------------------------------------


def _json_bytes(value: dict[str, Any] | bytes) -> bytes:
    return value if isinstance(value, bytes) else compact(value)


def _signed(
    w: World,
    header: dict[str, Any] | bytes,
    payload: dict[str, Any] | bytes,
    key: RSAPrivateKey | None = None,
) -> str:
    """RS256-sign arbitrary header and payload JSON (dicts, or raw bytes used verbatim)."""
    h = b64url(_json_bytes(header))
    p = b64url(_json_bytes(payload))
    return sign_parts(h, p, key or w.private)


def _valid(w: World, **claims: Any) -> str:
    return _signed(w, w.header(), w.claims(**claims))


def _raw_claim(w: World, name: str, raw_value: str) -> str:
    """A real-key-signed token whose claim ``name`` is the raw JSON text ``raw_value``."""
    body = w.claims(**{name: OMIT})
    return _signed(w, w.header(), splice_member(body, f'"{name}":{raw_value}'))


def _dup_claim(w: World, name: str, first_raw: str) -> str:
    """A real-key-signed token in which the payload member ``name`` appears twice."""
    return _signed(w, w.header(), splice_member(w.claims(), f'"{name}":{first_raw}'))


def _dup_header(w: World, raw_member: str) -> str:
    return _signed(w, splice_member(w.header(), raw_member), w.claims())


def _public_pem(w: World, fmt: PublicFormat = PublicFormat.SubjectPublicKeyInfo) -> bytes:
    return w.private.public_key().public_bytes(Encoding.PEM, fmt)


def _hmac_token(w: World, alg: str, secret: bytes) -> str:
    """CVE-2015-9235 / CVE-2016-10555 style: HMAC keyed with the RSA public key material."""
    digest = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}[alg]
    h = b64url(compact(w.header(alg=alg, typ="JWT")))
    p = b64url(compact(w.claims()))
    mac = hmac.new(secret, f"{h}.{p}".encode(), digest).digest()
    return f"{h}.{p}.{b64url(mac)}"


def _unsigned(w: World, header: dict[str, Any]) -> str:
    return f"{b64url(compact(header))}.{b64url(compact(w.claims()))}."


def _rsa_variant(w: World, alg: str, pad: padding.AsymmetricPadding, digest: HashAlgorithm) -> str:
    """The real key, but a padding/hash other than RS256, with a matching ``alg``."""
    signing_input = f"{b64url(compact(w.header(alg=alg)))}.{b64url(compact(w.claims()))}"
    signature = w.private.sign(signing_input.encode(), pad, digest)
    return f"{signing_input}.{b64url(signature)}"


def _ps256(w: World) -> str:
    pss = padding.PSS(mgf=padding.MGF1(SHA256()), salt_length=32)
    return _rsa_variant(w, "PS256", pss, SHA256())


def _es256(w: World) -> str:
    signing_input = f"{b64url(compact(w.header(alg='ES256')))}.{b64url(compact(w.claims()))}"
    r, s = decode_dss_signature(w.ec_key.sign(signing_input.encode(), ec.ECDSA(SHA256())))
    return f"{signing_input}.{b64url(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"


def _self_signed_x5c(w: World) -> list[str]:
    key = w.attacker.private_key
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "cognito-idp.amazonaws.com")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(datetime(2023, 1, 1, tzinfo=timezone.utc))
        .not_valid_after(datetime(2033, 1, 1, tzinfo=timezone.utc))
        .sign(key, SHA256())
    )
    return [base64.b64encode(cert.public_bytes(Encoding.DER)).decode()]


def _by_attacker(w: World, **header: Any) -> str:
    """Signed with the attacker's key, under the attacker's kid unless ``header`` says otherwise."""
    head = w.header(**{"kid": w.attacker.kid, **header})
    return _signed(w, head, w.claims(), key=w.attacker.private_key)


def _replace_payload(token: str, payload: dict[str, Any]) -> str:
    h, _, s = token.split(".")
    return f"{h}.{b64url(compact(payload))}.{s}"


def _tampered(w: World, **changes: Any) -> str:
    """A real token whose payload was re-encoded with ``changes``; the signature is kept."""
    token = w.pool.access_token()
    payload = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))
    payload.update(changes)
    return _replace_payload(token, payload)


def _with_signature(w: World, signature: bytes) -> str:
    h, p, _ = w.pool.access_token().split(".")
    return f"{h}.{p}.{b64url(signature)}"


def _bit_flipped_signature(w: World) -> str:
    h, p, s = w.pool.access_token().split(".")
    raw = bytearray(base64.urlsafe_b64decode(s + "=="))
    raw[100] ^= 0x01
    return f"{h}.{p}.{b64url(bytes(raw))}"


def _swapped_signature(w: World) -> str:
    first = w.pool.access_token(username="alice")
    second = w.pool.access_token(username="mallory")
    return first.rsplit(".", 1)[0] + "." + second.rsplit(".", 1)[1]


def _id_signature_on_access(w: World) -> str:
    access = w.pool.access_token()
    other = w.pool.id_token()
    return access.rsplit(".", 1)[0] + "." + other.rsplit(".", 1)[1]


def _token_with_url_chars_in_signature(w: World) -> str:
    for _ in range(1000):
        token = w.pool.access_token()
        if "-" in token.split(".")[2] or "_" in token.split(".")[2]:
            return token
    raise AssertionError("no signature with '-' or '_' in 1000 tries")


def _std_alphabet_signature(w: World) -> str:
    h, p, s = _token_with_url_chars_in_signature(w).split(".")
    return f"{h}.{p}.{s.replace('-', '+').replace('_', '/')}"


def _std_alphabet_payload(w: World) -> str:
    """The payload in the standard base64 alphabet, signed over exactly that text."""
    for n in range(64):
        payload = b64url(compact(w.claims(filler="?>" * n + "~")))
        if "-" in payload or "_" in payload:
            std = payload.replace("-", "+").replace("_", "/")
            return sign_parts(b64url(compact(w.header())), std, w.private)
    raise AssertionError("no payload with '-' or '_'")


def _pad_json(data: bytes, rest: int) -> bytes:
    """Append JSON whitespace until the base64url text has ``len % 4 == rest`` (2 or 3)."""
    want = {2: 1, 3: 2}[rest]
    while len(data) % 3 != want:
        data += b" "
    return data


def _noncanonical(segment: str) -> str:
    """Set an unused low bit of the last character: same decoded bytes, different text."""
    assert len(segment) % 4 in (2, 3)
    index = B64URL.index(segment[-1])
    assert index & 1 == 0, "the original encoding must be canonical"
    return segment[:-1] + B64URL[index | 1]


def _noncanonical_signature(w: World) -> str:
    h, p, s = w.pool.access_token().split(".")
    return f"{h}.{p}.{_noncanonical(s)}"


def _noncanonical_payload(w: World) -> str:
    """Signed over the non-canonical text, so only the canonical-encoding check can reject."""
    h = b64url(compact(w.header()))
    p = _noncanonical(b64url(_pad_json(compact(w.claims()), 2)))
    return sign_parts(h, p, w.private)


def _noncanonical_header(w: World) -> str:
    h = _noncanonical(b64url(_pad_json(compact(w.header()), 3)))
    return sign_parts(h, b64url(compact(w.claims())), w.private)


def _padded_payload(w: World) -> str:
    """``=`` padding on the payload, signed over the padded text."""
    p = b64url(_pad_json(compact(w.claims()), 2)) + "=="
    return sign_parts(b64url(compact(w.header())), p, w.private)


def _insert(token: str, segment: int, offset: int, text: str) -> str:
    parts = token.split(".")
    parts[segment] = parts[segment][:offset] + text + parts[segment][offset:]
    return ".".join(parts)


def _long_kid(w: World) -> str:
    return _by_attacker(w, kid="k" * 8000)


def _oversized(w: World) -> str:
    return w.pool.access_token(blob="x" * 13_000)


def _nested(depth: int, opener: str = "[", closer: str = "]") -> str:
    return opener * depth + closer * depth


def _deeply_nested(w: World, depth: int) -> str:
    body = w.claims()
    return _signed(w, w.header(), splice_member(body, f'"deep":{_nested(depth)}'))


def _deeply_nested_objects(w: World, depth: int) -> str:
    deep = _nested(depth, '{"":', "}")
    return _signed(w, w.header(), splice_member(w.claims(), f'"deep":{deep}'))


def _payload_bytes(w: World, data: bytes) -> str:
    return _signed(w, w.header(), data)


def _text_claims(w: World, **claims: Any) -> str:
    return json.dumps(w.claims(**claims), ensure_ascii=False)


def _other_pool_key_with_our_kid(w: World) -> str:
    return _signed(w, w.header(), w.claims(), key=w.other_pool.access_key.private_key)


def _other_pool_kid(w: World) -> str:
    key = w.other_pool.access_key
    return _signed(w, w.header(kid=key.kid), w.claims(), key=key.private_key)


def _iss(w: World, value: Any) -> str:
    return _valid(w, iss=value)


def _pool_issuer(w: World) -> str:
    return w.pool.issuer


# -- the table ----------------------------------------------------------------------------------

_FUTURE = NOW + 3600
_ALG = InvalidAlgorithmError
_BAD = MalformedTokenError
_CLAIMS = MalformedClaimsError  # signed and well formed, but a claim is missing or mistyped

CASES: list[Case] = [
    # Algorithm confusion (CVE-2015-9235, CVE-2016-10555, CVE-2022-29217) and "none".
    Case("alg-hs256-public-key-pem", lambda w: _hmac_token(w, "HS256", _public_pem(w)), _ALG),
    Case(
        "alg-hs256-public-key-pkcs1-pem",
        lambda w: _hmac_token(w, "HS256", _public_pem(w, PublicFormat.PKCS1)),
        _ALG,
    ),
    Case(
        "alg-hs256-jwk-n-as-secret",
        lambda w: _hmac_token(w, "HS256", w.pool.access_key.public_jwk()["n"].encode()),
        _ALG,
    ),
    Case(
        "alg-hs256-whole-jwk-as-secret",
        lambda w: _hmac_token(w, "HS256", compact(w.pool.access_key.public_jwk())),
        _ALG,
    ),
    Case("alg-hs384-public-key-pem", lambda w: _hmac_token(w, "HS384", _public_pem(w)), _ALG),
    Case("alg-hs512-public-key-pem", lambda w: _hmac_token(w, "HS512", _public_pem(w)), _ALG),
    Case("alg-none", lambda w: _unsigned(w, w.header(alg="none")), _ALG),
    Case("alg-None", lambda w: _unsigned(w, w.header(alg="None")), _ALG),
    Case("alg-NONE", lambda w: _unsigned(w, w.header(alg="NONE")), _ALG),
    Case("alg-nOnE", lambda w: _unsigned(w, w.header(alg="nOnE")), _ALG),
    Case("alg-none-without-kid", lambda w: _unsigned(w, {"alg": "none"}), _ALG),
    Case(
        "alg-none-with-valid-rs256-signature",
        lambda w: _signed(w, w.header(alg="none"), w.claims()),
        _ALG,
    ),
    Case("alg-missing", lambda w: _signed(w, w.header(alg=OMIT), w.claims()), _ALG),
    Case("alg-list", lambda w: _signed(w, w.header(alg=["RS256"]), w.claims()), _ALG),
    Case("alg-number", lambda w: _signed(w, w.header(alg=256), w.claims()), _ALG),
    Case("alg-null", lambda w: _signed(w, w.header(alg=None), w.claims()), _ALG),
    Case("alg-true", lambda w: _signed(w, w.header(alg=True), w.claims()), _ALG),
    Case("alg-empty-string", lambda w: _signed(w, w.header(alg=""), w.claims()), _ALG),
    Case("alg-object", lambda w: _signed(w, w.header(alg={"name": "RS256"}), w.claims()), _ALG),
    Case("alg-rs256-lowercase", lambda w: _signed(w, w.header(alg="rs256"), w.claims()), _ALG),
    Case(
        "alg-rs256-trailing-space", lambda w: _signed(w, w.header(alg="RS256 "), w.claims()), _ALG
    ),
    Case("alg-rs256-trailing-nul", lambda w: _signed(w, w.header(alg="RS256\0"), w.claims()), _ALG),
    Case("alg-es256", _es256, _ALG),
    Case("alg-ps256-real-key", _ps256, _ALG),
    Case(
        "alg-rs384-real-key",
        lambda w: _rsa_variant(w, "RS384", padding.PKCS1v15(), SHA384()),
        _ALG,
    ),
    Case(
        "alg-rs512-real-key",
        lambda w: _rsa_variant(w, "RS512", padding.PKCS1v15(), SHA512()),
        _ALG,
    ),
    # Header parameters that point at keys or change processing (RFC 8725 section 3.10).
    Case(
        "hdr-embedded-jwk-attacker-key",
        lambda w: _by_attacker(w, jwk=w.attacker.public_jwk()),
        _ALG,
    ),
    Case(
        "hdr-embedded-jwk-attacker-key-with-pool-kid",
        lambda w: _by_attacker(w, kid=w.kid, jwk=w.attacker.public_jwk()),
        _ALG,
    ),
    Case("hdr-jku", lambda w: _by_attacker(w, jku="https://attacker.example/jwks.json"), _ALG),
    Case(
        "hdr-jku-real-key",
        lambda w: _signed(w, w.header(jku="https://attacker.example/jwks.json"), w.claims()),
        _ALG,
    ),
    Case("hdr-jku-null", lambda w: _signed(w, w.header(jku=None), w.claims()), _ALG),
    Case(
        "hdr-x5u-real-key",
        lambda w: _signed(w, w.header(x5u="https://attacker.example/cert.pem"), w.claims()),
        _ALG,
    ),
    Case("hdr-x5c-self-signed", lambda w: _by_attacker(w, x5c=_self_signed_x5c(w)), _ALG),
    Case(
        "hdr-crit-exp",
        lambda w: _signed(w, w.header(crit=["exp"], exp=_FUTURE), w.claims()),
        _ALG,
    ),
    Case("hdr-crit-empty", lambda w: _signed(w, w.header(crit=[]), w.claims()), _ALG),
    Case(
        "hdr-b64-false",
        lambda w: _signed(w, w.header(b64=False, crit=["b64"]), w.claims()),
        _ALG,
    ),
    Case("hdr-zip-def", lambda w: _signed(w, w.header(zip="DEF"), w.claims()), _ALG),
    Case("hdr-enc", lambda w: _signed(w, w.header(enc="A256GCM"), w.claims()), _ALG),
    Case("hdr-typ-not-string", lambda w: _signed(w, w.header(typ=1), w.claims()), _BAD),
    Case("hdr-typ-null", lambda w: _signed(w, w.header(typ=None), w.claims()), _BAD),
    # Explicit typing (RFC 8725 section 3.11): the pool's key signed it, but as another kind.
    Case("hdr-typ-at+jwt", lambda w: _signed(w, w.header(typ="at+jwt"), w.claims()), _ALG),
    Case(
        "hdr-typ-application-at+jwt",
        lambda w: _signed(w, w.header(typ="application/at+jwt"), w.claims()),
        _ALG,
    ),
    Case("hdr-typ-dpop+jwt", lambda w: _signed(w, w.header(typ="dpop+jwt"), w.claims()), _ALG),
    Case(
        "hdr-typ-logout+jwt",
        lambda w: _signed(w, w.header(typ="logout+jwt"), w.claims()),
        _ALG,
    ),
    Case("hdr-typ-jose", lambda w: _signed(w, w.header(typ="JOSE"), w.claims()), _ALG),
    Case("hdr-typ-empty", lambda w: _signed(w, w.header(typ=""), w.claims()), _ALG),
    Case("hdr-typ-padded", lambda w: _signed(w, w.header(typ=" JWT"), w.claims()), _ALG),
    Case("hdr-typ-jwt-suffix", lambda w: _signed(w, w.header(typ="JWT2"), w.claims()), _ALG),
    # kid tricks (CVE-2018-0114-style key injection, path traversal, injection strings).
    Case("kid-path-traversal", lambda w: _by_attacker(w, kid="../../dev/null"), UnknownKeyError),
    Case(
        "kid-path-traversal-real-key",
        lambda w: _signed(w, w.header(kid="../../../../../../dev/null"), w.claims()),
        UnknownKeyError,
    ),
    Case(
        "kid-sql-injection",
        lambda w: _by_attacker(w, kid="x' UNION SELECT 'secret' --"),
        UnknownKeyError,
    ),
    Case("kid-shell-injection", lambda w: _by_attacker(w, kid="|cat /etc/passwd"), UnknownKeyError),
    Case("kid-empty", lambda w: _by_attacker(w, kid=""), _BAD),
    Case("kid-int", lambda w: _by_attacker(w, kid=1), _BAD),
    Case("kid-null", lambda w: _by_attacker(w, kid=None), _BAD),
    Case("kid-list", lambda w: _signed(w, w.header(kid=[w.kid]), w.claims()), _BAD),
    Case("kid-object-nosql", lambda w: _by_attacker(w, kid={"$ne": ""}), _BAD),
    Case("kid-bool", lambda w: _by_attacker(w, kid=True), _BAD),
    Case("kid-missing", lambda w: _signed(w, w.header(kid=OMIT), w.claims()), _BAD),
    Case("kid-of-other-pool", _other_pool_kid, UnknownKeyError),
    Case("kid-very-long", _long_kid, UnknownKeyError),
    Case("kid-unknown", lambda w: _by_attacker(w), UnknownKeyError),
    Case(
        "kid-case-changed-real-key",
        lambda w: _signed(w, w.header(kid=w.kid.upper()), w.claims()),
        UnknownKeyError,
    ),
    Case(
        "kid-trailing-nul-real-key",
        lambda w: _signed(w, w.header(kid=w.kid + "\0"), w.claims()),
        UnknownKeyError,
    ),
    Case(
        "kid-leading-space-real-key",
        lambda w: _signed(w, w.header(kid=" " + w.kid), w.claims()),
        UnknownKeyError,
    ),
    # Signatures that do not belong to the signing input.
    Case("sig-tampered-username", lambda w: _tampered(w, username="admin"), InvalidSignatureError),
    Case(
        "sig-tampered-scope",
        lambda w: _tampered(w, scope="openid email orders/write aws.cognito.signin.user.admin"),
        InvalidSignatureError,
    ),
    Case(
        "sig-tampered-exp",
        lambda w: _tampered(w, exp=NOW + 10 * 365 * 86400),
        InvalidSignatureError,
    ),
    Case(
        "sig-tampered-header",
        lambda w: (
            b64url(compact(w.header(typ="JWT"))) + "." + w.pool.access_token().split(".", 1)[1]
        ),
        InvalidSignatureError,
    ),
    Case("sig-swapped-from-other-token", _swapped_signature, InvalidSignatureError),
    Case("sig-from-id-token", _id_signature_on_access, InvalidSignatureError),
    Case(
        "sig-by-id-key-under-access-kid",
        lambda w: _signed(w, w.header(), w.claims(), key=w.pool.id_key.private_key),
        InvalidSignatureError,
    ),
    Case(
        "sig-by-attacker-under-pool-kid",
        lambda w: _by_attacker(w, kid=w.kid),
        InvalidSignatureError,
    ),
    Case("sig-by-other-pool-under-pool-kid", _other_pool_key_with_our_kid, InvalidSignatureError),
    Case("sig-bit-flipped", _bit_flipped_signature, InvalidSignatureError),
    Case(
        "sig-truncated-one-byte",
        lambda w: _with_signature(
            w, base64.urlsafe_b64decode(w.pool.access_token().split(".")[2] + "==")[:-1]
        ),
        InvalidSignatureError,
    ),
    Case(
        "sig-extended-one-byte",
        lambda w: _with_signature(
            w, base64.urlsafe_b64decode(w.pool.access_token().split(".")[2] + "==") + b"\0"
        ),
        InvalidSignatureError,
    ),
    Case("sig-all-zero", lambda w: _with_signature(w, b"\0" * 256), InvalidSignatureError),
    Case(
        "sig-all-ones-above-modulus",
        lambda w: _with_signature(w, b"\xff" * 256),
        InvalidSignatureError,
    ),
    Case("sig-one-byte", lambda w: _with_signature(w, b"\0"), InvalidSignatureError),
    Case("sig-empty", lambda w: w.pool.access_token().rsplit(".", 1)[0] + ".", _BAD),
    Case("sig-stripped-with-its-dot", lambda w: w.pool.access_token().rsplit(".", 1)[0], _BAD),
    # Duplicate member names, signed by the real key: only the duplicate check can reject them.
    Case("dup-header-alg", lambda w: _dup_header(w, '"alg":"none"'), _BAD),
    Case("dup-header-kid", lambda w: _dup_header(w, '"kid":"attacker-key-1"'), _BAD),
    Case("dup-payload-sub", lambda w: _dup_claim(w, "sub", '"admin"'), _BAD),
    Case(
        "dup-payload-iss",
        lambda w: _dup_claim(w, "iss", '"https://attacker.example/pool"'),
        _BAD,
    ),
    Case("dup-payload-exp", lambda w: _dup_claim(w, "exp", str(NOW - 3600)), _BAD),
    Case("dup-payload-token-use", lambda w: _dup_claim(w, "token_use", '"id"'), _BAD),
    Case("dup-payload-client-id", lambda w: _dup_claim(w, "client_id", '"other-client"'), _BAD),
    Case("dup-payload-scope", lambda w: _dup_claim(w, "scope", '"orders/write"'), _BAD),
    Case(
        "dup-payload-nested-object",
        lambda w: _signed(w, w.header(), splice_member(w.claims(), '"custom":{"a":1,"a":2}')),
        _BAD,
    ),
    # NumericDate claims.
    Case("exp-string", lambda w: _valid(w, exp=str(_FUTURE)), _CLAIMS),
    Case("exp-bool", lambda w: _valid(w, exp=True), _CLAIMS),
    Case("exp-null", lambda w: _valid(w, exp=None), _CLAIMS),
    Case("exp-list", lambda w: _valid(w, exp=[_FUTURE]), _CLAIMS),
    Case("exp-object", lambda w: _valid(w, exp={"$gt": 0}), _CLAIMS),
    Case("exp-nan", lambda w: _raw_claim(w, "exp", "NaN"), _BAD),
    Case("exp-infinity", lambda w: _raw_claim(w, "exp", "Infinity"), _BAD),
    Case("exp-minus-infinity", lambda w: _raw_claim(w, "exp", "-Infinity"), _BAD),
    Case("exp-float-overflow-1e400", lambda w: _raw_claim(w, "exp", "1e400"), _CLAIMS),
    Case("exp-huge-int-10pow400", lambda w: _valid(w, exp=10**400), _CLAIMS),
    Case("exp-5000-digit-int", lambda w: _raw_claim(w, "exp", "9" * 5000), _BAD),
    Case("exp-missing", lambda w: _valid(w, exp=OMIT), _CLAIMS),
    Case("exp-passed", lambda w: w.pool.access_token(expires_in=-60), ExpiredTokenError),
    Case("exp-equals-now", lambda w: _valid(w, exp=NOW), ExpiredTokenError),
    Case("exp-zero", lambda w: _valid(w, exp=0), ExpiredTokenError),
    Case("exp-negative", lambda w: _valid(w, exp=-1), ExpiredTokenError),
    Case("iat-future", lambda w: w.pool.access_token(issued_at=_FUTURE), NotYetValidError),
    Case("nbf-future", lambda w: _valid(w, nbf=NOW + 60), NotYetValidError),
    Case("iat-string", lambda w: _valid(w, iat=str(NOW)), _CLAIMS),
    Case("iat-huge-int-minus-10pow400", lambda w: _valid(w, iat=-(10**400)), _CLAIMS),
    Case("nbf-bool", lambda w: _valid(w, nbf=False), _CLAIMS),
    Case("nbf-nan", lambda w: _raw_claim(w, "nbf", "NaN"), _BAD),
    # token_use, client_id and aud.
    Case("id-token-to-access-verifier", lambda w: w.pool.id_token(), InvalidTokenUseError),
    Case(
        "access-token-to-id-verifier",
        lambda w: w.pool.access_token(),
        InvalidTokenUseError,
        "id",
    ),
    Case("token-use-missing", lambda w: _valid(w, token_use=OMIT), InvalidTokenUseError),
    Case("token-use-refresh", lambda w: _valid(w, token_use="refresh"), InvalidTokenUseError),
    Case("token-use-uppercase", lambda w: _valid(w, token_use="ACCESS"), InvalidTokenUseError),
    Case("token-use-list", lambda w: _valid(w, token_use=["access"]), InvalidTokenUseError),
    Case("token-use-null", lambda w: _valid(w, token_use=None), InvalidTokenUseError),
    Case("token-use-int", lambda w: _valid(w, token_use=1), InvalidTokenUseError),
    Case("client-id-wrong", lambda w: _valid(w, client_id="other-client"), InvalidClientError),
    Case("client-id-missing", lambda w: _valid(w, client_id=OMIT), InvalidClientError),
    Case(
        "client-id-list",
        lambda w: _valid(w, client_id=[w.pool.client_id]),
        InvalidClientError,
    ),
    Case(
        "client-id-case-changed",
        lambda w: _valid(w, client_id=w.pool.client_id.upper()),
        InvalidClientError,
    ),
    Case(
        "m2m-token-of-other-client",
        lambda w: w.pool.m2m_token(client_id="other-client"),
        InvalidClientError,
    ),
    Case("aud-wrong", lambda w: w.pool.id_token(aud="other-client"), InvalidClientError, "id"),
    Case("aud-missing", lambda w: w.pool.id_token(aud=OMIT), InvalidClientError, "id"),
    Case(
        "aud-list-of-others",
        lambda w: w.pool.id_token(aud=["other-client", "third"]),
        InvalidClientError,
        "id",
    ),
    Case("aud-int", lambda w: w.pool.id_token(aud=1), InvalidClientError, "id"),
    # Issuers: checked before any key is looked up.
    Case(
        "iss-other-pool-signed-by-other-pool",
        lambda w: w.other_pool.access_token(),
        InvalidIssuerError,
    ),
    Case("iss-trailing-slash", lambda w: _iss(w, _pool_issuer(w) + "/"), InvalidIssuerError),
    Case(
        "iss-http-instead-of-https",
        lambda w: _iss(w, _pool_issuer(w).replace("https://", "http://")),
        InvalidIssuerError,
    ),
    Case(
        "iss-uppercase-host",
        lambda w: _iss(w, _pool_issuer(w).replace("cognito-idp", "COGNITO-IDP")),
        InvalidIssuerError,
    ),
    Case(
        "iss-pool-id-case-changed",
        lambda w: _iss(w, _pool_issuer(w).replace("LocalPool1", "localpool1")),
        InvalidIssuerError,
    ),
    Case(
        "iss-lookalike-host",
        lambda w: _iss(
            w, _pool_issuer(w).replace("amazonaws.com", "amazonaws.com.attacker.example")
        ),
        InvalidIssuerError,
    ),
    Case("iss-trailing-space", lambda w: _iss(w, _pool_issuer(w) + " "), InvalidIssuerError),
    Case("iss-missing", lambda w: _iss(w, OMIT), InvalidIssuerError),
    Case("iss-null", lambda w: _iss(w, None), InvalidIssuerError),
    Case("iss-int", lambda w: _iss(w, 1), InvalidIssuerError),
    Case("iss-list", lambda w: _iss(w, [_pool_issuer(w)]), InvalidIssuerError),
    Case("iss-object", lambda w: _iss(w, {"url": _pool_issuer(w)}), InvalidIssuerError),
    # Claim types, scopes and groups.
    Case("scope-int", lambda w: _valid(w, scope=1), _CLAIMS),
    Case(
        "scope-list-with-required-scope",
        lambda w: _valid(w, scope=["orders/write"]),
        _CLAIMS,
        "scoped",
    ),
    Case("scope-insufficient", lambda w: _valid(w), InsufficientScopeError, "scoped"),
    Case(
        "scope-required-as-prefix",
        lambda w: _valid(w, scope="openid orders/writeX"),
        InsufficientScopeError,
        "scoped",
    ),
    Case(
        "scope-comma-separated",
        lambda w: _valid(w, scope="openid,orders/write"),
        InsufficientScopeError,
        "scoped",
    ),
    Case("groups-string", lambda w: _valid(w, **{"cognito:groups": "admins"}), _CLAIMS, "grouped"),
    Case("groups-list-of-int", lambda w: _valid(w, **{"cognito:groups": [1]}), _CLAIMS),
    Case(
        "groups-object",
        lambda w: _valid(w, **{"cognito:groups": {"admins": True}}),
        _CLAIMS,
        "grouped",
    ),
    Case("group-missing", lambda w: _valid(w), MissingGroupError, "grouped"),
    Case(
        "group-case-changed",
        lambda w: _valid(w, **{"cognito:groups": ["Admins"]}),
        MissingGroupError,
        "grouped",
    ),
    Case("sub-missing", lambda w: _valid(w, sub=OMIT), _CLAIMS),
    Case("sub-int", lambda w: _valid(w, sub=1), _CLAIMS),
    Case("sub-null", lambda w: _valid(w, claims={"sub": None}), _CLAIMS),
    # JSON structure of header and payload.
    Case("payload-json-array", lambda w: _payload_bytes(w, compact([w.claims()])), _BAD),
    Case("payload-json-string", lambda w: _payload_bytes(w, b'"claims"'), _BAD),
    Case("payload-json-number", lambda w: _payload_bytes(w, b"1"), _BAD),
    Case("payload-json-null", lambda w: _payload_bytes(w, b"null"), _BAD),
    Case("payload-json-true", lambda w: _payload_bytes(w, b"true"), _BAD),
    Case("payload-not-json", lambda w: _payload_bytes(w, b"sub=admin&scope=all"), _BAD),
    Case(
        "payload-trailing-garbage",
        lambda w: _payload_bytes(w, compact(w.claims()) + b"x"),
        _BAD,
    ),
    Case(
        "payload-two-json-objects",
        lambda w: _payload_bytes(w, compact(w.claims()) + compact({"sub": "admin"})),
        _BAD,
    ),
    Case(
        "header-not-json",
        lambda w: sign_parts(b64url(b"RS256"), b64url(compact(w.claims())), w.private),
        _BAD,
    ),
    Case(
        "header-json-array",
        lambda w: sign_parts(b64url(compact([w.header()])), b64url(compact(w.claims())), w.private),
        _BAD,
    ),
    Case(
        "header-non-utf8",
        lambda w: sign_parts(
            b64url(b'{"kid":"\xff","alg":"RS256"}'), b64url(compact(w.claims())), w.private
        ),
        _BAD,
    ),
    Case(
        "payload-latin1",
        lambda w: _payload_bytes(w, _text_claims(w, username="\u00e9ve").encode("latin-1")),
        _BAD,
    ),
    Case(
        "payload-overlong-utf8",
        lambda w: _payload_bytes(
            w, compact(w.claims(username="XX")).replace(b'"XX"', b'"\xc0\xaf"')
        ),
        _BAD,
    ),
    Case(
        "payload-cesu8-surrogate",
        lambda w: _payload_bytes(
            w, compact(w.claims(username="XX")).replace(b'"XX"', b'"\xed\xa0\x80"')
        ),
        _BAD,
    ),
    Case("payload-utf16", lambda w: _payload_bytes(w, _text_claims(w).encode("utf-16")), _BAD),
    Case(
        "payload-utf16le-without-bom",
        lambda w: _payload_bytes(w, _text_claims(w).encode("utf-16-le")),
        _BAD,
    ),
    Case(
        "payload-utf8-bom",
        lambda w: _payload_bytes(w, b"\xef\xbb\xbf" + compact(w.claims())),
        _BAD,
    ),
    # base64url: one canonical text per token (RFC 7515 section 2, RFC 4648 section 3.5).
    Case("b64-signature-padding", lambda w: w.pool.access_token() + "==", _BAD),
    Case("b64-payload-padding", _padded_payload, _BAD),
    Case("b64-signature-standard-alphabet", _std_alphabet_signature, _BAD),
    Case("b64-payload-standard-alphabet", _std_alphabet_payload, _BAD),
    Case("b64-space-in-signature", lambda w: _insert(w.pool.access_token(), 2, 100, " "), _BAD),
    Case("b64-tab-in-payload", lambda w: _insert(w.pool.access_token(), 1, 10, "\t"), _BAD),
    Case("b64-newline-before-dot", lambda w: w.pool.access_token().replace(".", "\n.", 1), _BAD),
    Case("b64-trailing-newline", lambda w: w.pool.access_token() + "\n", _BAD),
    Case("b64-trailing-crlf", lambda w: w.pool.access_token() + "\r\n", _BAD),
    Case("b64-leading-space", lambda w: " " + w.pool.access_token(), _BAD),
    Case("b64-trailing-space", lambda w: w.pool.access_token() + " ", _BAD),
    Case("b64-noncanonical-signature", _noncanonical_signature, _BAD),
    Case("b64-noncanonical-payload", _noncanonical_payload, _BAD),
    Case("b64-noncanonical-header", _noncanonical_header, _BAD),
    Case(
        "b64-impossible-length",
        lambda w: w.pool.access_token()[:-1],  # 341 signature characters: 341 % 4 == 1
        _BAD,
    ),
    # Compact-serialisation structure.
    Case("segments-2", lambda w: ".".join(w.pool.access_token().split(".")[:2]), _BAD),
    Case("segments-4", lambda w: w.pool.access_token() + "." + "QUJD", _BAD),
    Case("segments-4-trailing-dot", lambda w: w.pool.access_token() + ".", _BAD),
    Case("segments-5-jwe-shaped", lambda w: ".".join(["QUJD"] * 5), _BAD),
    Case("segments-empty-header", lambda w: "." + w.pool.access_token().split(".", 1)[1], _BAD),
    Case(
        "segments-empty-payload",
        lambda w: "..".join(w.pool.access_token().split(".")[::2]),
        _BAD,
    ),
    Case("empty-string", lambda w: "", _BAD),
    Case("only-one-dot", lambda w: ".", _BAD),
    Case("only-two-dots", lambda w: "..", _BAD),
    Case("only-three-dots", lambda w: "...", _BAD),
    Case("non-ascii-e-acute", lambda w: _insert(w.pool.access_token(), 1, 5, "\u00e9"), _BAD),
    Case(
        "non-ascii-fullwidth-dot",
        lambda w: w.pool.access_token().replace(".", "\uff0e", 1),
        _BAD,
    ),
    Case(
        "non-ascii-cyrillic-a",
        lambda w: _insert(w.pool.access_token(), 1, 3, "\u0430"),
        _BAD,
    ),
    Case("non-ascii-zero-width-space", lambda w: w.pool.access_token() + "\u200b", _BAD),
    Case("nul-character", lambda w: w.pool.access_token() + "\0", _BAD),
    # Resource exhaustion.
    Case("oversized-valid-token", _oversized, _BAD),
    Case("oversized-garbage", lambda w: "a" * (MAX_TOKEN + 1), _BAD),
    Case("nested-arrays-5000-within-cap", lambda w: _deeply_nested(w, 5000), _BAD),
    Case("nested-arrays-20000-beyond-cap", lambda w: _deeply_nested(w, 20_000), _BAD),
    Case("nested-objects-2000-within-cap", lambda w: _deeply_nested_objects(w, 2000), _BAD),
    # Not a str at all.
    Case("non-str-bytes", lambda w: w.pool.access_token().encode(), _BAD),
    Case("non-str-none", lambda w: None, _BAD),
    Case("non-str-int", lambda w: 123, _BAD),
    Case("non-str-bytearray", lambda w: bytearray(w.pool.access_token().encode()), _BAD),
    Case("non-str-list", lambda w: [w.pool.access_token()], _BAD),
]


# -- the checks ---------------------------------------------------------------------------------

_FORBIDDEN_STATUS = (InsufficientScopeError, MissingGroupError)


def _token_text(token: object) -> str | None:
    if isinstance(token, str):
        return token
    if isinstance(token, (bytes, bytearray)):
        return bytes(token).decode("ascii", "replace")
    if isinstance(token, list) and token and isinstance(token[0], str):
        return token[0]
    return None


def _assert_well_formed_rejection(exc: TokenError, case: Case, token: object) -> None:
    """The exact class, the HTTP status, and no token material in anything printable."""
    assert type(exc) is case.expected, f"{case.id}: got {type(exc).__name__}: {exc}"
    assert exc.status_code == (403 if case.expected in _FORBIDDEN_STATUS else 401)
    challenges = [exc.www_authenticate(), exc.www_authenticate(realm="api")]
    for challenge in challenges:
        assert challenge.startswith("Bearer ")
        assert "\r" not in challenge and "\n" not in challenge
    rendered = [str(exc), repr(exc), *challenges]
    text = _token_text(token)
    if text is None:
        return
    secrets = [text] if len(text) >= 8 else []
    secrets += [segment for segment in text.split(".") if len(segment) >= 8]
    for output in rendered:
        for secret in secrets:
            assert secret not in output, f"{case.id}: token material leaked into {output!r}"


@pytest.mark.parametrize("cache", [True, False], ids=["cache-on", "cache-off"])
@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_hostile_token_is_rejected(world: World, case: Case, cache: bool) -> None:
    """``verify`` raises exactly the expected class, twice in a row, and leaks nothing."""
    token: Any = case.build(world)
    verifier = world.verifier(case.verifier, cache=cache)
    for _ in range(2):  # a rejection must not be remembered as anything else
        with pytest.raises(case.expected) as info:
            verifier.verify(token)
        _assert_well_formed_rejection(info.value, case, token)


@pytest.mark.anyio
@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
async def test_hostile_token_is_rejected_async(world: World, case: Case) -> None:
    """``averify`` rejects every hostile token exactly like ``verify``."""
    token: Any = case.build(world)
    with pytest.raises(case.expected) as info:
        await world.verifier(case.verifier).averify(token)
    _assert_well_formed_rejection(info.value, case, token)


def test_the_table_has_at_least_60_distinct_cases() -> None:
    """The suite keeps its breadth: at least 60 cases, ids unique."""
    ids = [case.id for case in CASES]
    assert len(ids) == len(set(ids))
    assert len(ids) >= 60


def _case(case_id: str) -> Case:
    return next(case for case in CASES if case.id == case_id)


# -- preconditions: each case tests what its name says ------------------------------------------


def _decode(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def test_honest_versions_of_the_handmade_tokens_verify(world: World) -> None:
    """The builders make valid tokens when nothing hostile is added, so each case isolates
    exactly one defect (and an ID-key-signed token under the ID kid is fine, as in Cognito)."""
    verifier = world.verifier(cache=False)
    sub = verifier.verify(_valid(world)).sub
    assert sub == world.claims()["sub"]
    assert verifier.verify(_raw_claim(world, "exp", str(_FUTURE))).expires_at == _FUTURE
    assert verifier.verify(_signed(world, world.header(typ="JWT"), world.claims())).sub == sub
    # typ is a media type: case-insensitive, "application/" implied (RFC 7515 section 4.1.9).
    for typ in ("jwt", "Jwt", "application/jwt", "Application/JWT"):
        assert verifier.verify(_signed(world, world.header(typ=typ), world.claims())).sub == sub
    padded = _pad_json(compact(world.claims()), 2)
    assert verifier.verify(_payload_bytes(world, padded)).sub == sub  # JSON whitespace is fine
    id_key = world.pool.id_key
    by_id_key = _signed(world, world.header(kid=id_key.kid), world.claims(), id_key.private_key)
    assert verifier.verify(by_id_key).sub == sub
    assert verifier.verify(_deeply_nested(world, 50)).sub == sub
    assert verifier.verify(world.pool.m2m_token()).is_machine
    assert world.verifier("id").verify(world.pool.id_token()).token_use == "id"
    scoped = _valid(world, scope="openid orders/write")
    assert "orders/write" in world.verifier("scoped").verify(scoped).scopes
    grouped = _valid(world, **{"cognito:groups": ["users", "admins"]})
    assert "admins" in world.verifier("grouped").verify(grouped).groups
    assert world.other_pool.verifier().verify(world.other_pool.access_token()).sub


@pytest.mark.parametrize(
    "case_id",
    ["b64-noncanonical-signature", "b64-noncanonical-payload", "b64-noncanonical-header"],
)
def test_noncanonical_segment_decodes_to_the_same_bytes(world: World, case_id: str) -> None:
    """The flipped last character changes the text but not the bytes a lenient decoder sees."""
    token = _case(case_id).build(world)
    assert isinstance(token, str)
    index = {"header": 0, "payload": 1, "signature": 2}[case_id.rsplit("-", 1)[1]]
    segment = token.split(".")[index]
    last = B64URL.index(segment[-1])
    canonical = segment[:-1] + B64URL[last & ~1]
    assert canonical != segment
    assert _decode(canonical) == _decode(segment)


def test_size_preconditions(world: World) -> None:
    """Over-cap cases are over the cap; within-cap cases are within it (so parsing is reached)."""
    for case_id in ("oversized-valid-token", "oversized-garbage", "nested-arrays-20000-beyond-cap"):
        token = _case(case_id).build(world)
        assert isinstance(token, str) and len(token) > MAX_TOKEN
    for case_id in (
        "nested-arrays-5000-within-cap",
        "nested-objects-2000-within-cap",
        "kid-very-long",
        "exp-5000-digit-int",
    ):
        token = _case(case_id).build(world)
        assert isinstance(token, str) and len(token) <= MAX_TOKEN


def test_std_alphabet_cases_really_use_plus_or_slash(world: World) -> None:
    """The standard-alphabet cases contain '+' or '/', which base64url never does."""
    for case_id in ("b64-signature-standard-alphabet", "b64-payload-standard-alphabet"):
        token = _case(case_id).build(world)
        assert isinstance(token, str) and ("+" in token or "/" in token)


# -- no key fetch before the issuer is known ----------------------------------------------------

_UNKNOWN_ISSUER_CASES = [case for case in CASES if case.expected is InvalidIssuerError]
_MALFORMED_CASES = [
    _case(case_id)
    for case_id in ("alg-none", "hdr-jku", "kid-missing", "b64-noncanonical-signature")
]


@pytest.mark.parametrize("cache", [True, False], ids=["cache-on", "cache-off"])
def test_untrusted_issuer_is_rejected_before_any_key_fetch(world: World, cache: bool) -> None:
    """RFC 8725 section 3.8: the JWKS of an issuer we do not trust is never fetched, nor ours."""
    with world.pool.serve() as server:
        verifier = world.pool.verifier(
            jwks_uri=server.jwks_uri, token_cache_size=10_000 if cache else 0
        )
        for case in _UNKNOWN_ISSUER_CASES + _MALFORMED_CASES:
            with pytest.raises(case.expected) as info:
                verifier.verify(case.build(world))  # type: ignore[arg-type]
            assert type(info.value) is case.expected
        assert server.request_count() == 0
        verifier.verify(world.pool.access_token())  # control: a good token does fetch
        assert server.request_count() == 1


@pytest.mark.anyio
async def test_untrusted_issuer_is_rejected_before_any_key_fetch_async(world: World) -> None:
    """The async path also decides on the issuer before fetching."""
    with world.pool.serve() as server:
        verifier = world.pool.verifier(jwks_uri=server.jwks_uri)
        for case in _UNKNOWN_ISSUER_CASES:
            with pytest.raises(InvalidIssuerError) as info:
                await verifier.averify(case.build(world))  # type: ignore[arg-type]
            assert type(info.value) is InvalidIssuerError
        assert server.request_count() == 0
        await verifier.averify(world.pool.access_token())
        assert server.request_count() == 1


def test_unknown_kid_flood_costs_at_most_one_fetch(world: World) -> None:
    """Random kids from a trusted issuer cannot turn into a flood of JWKS requests."""
    with world.pool.serve() as server:
        verifier = world.pool.verifier(jwks_uri=server.jwks_uri)
        for n in range(50):
            with pytest.raises(UnknownKeyError) as info:
                verifier.verify(_by_attacker(world, kid=f"random-kid-{n}"))
            assert type(info.value) is UnknownKeyError
        # The start-up fetch, then one for the first unknown kid; the rest wait out the cool-down.
        assert server.request_count() == 2
        verifier.verify(world.pool.access_token())
        assert server.request_count() == 2


def test_key_of_one_tenant_does_not_verify_tokens_of_another(world: World) -> None:
    """Multi-pool verifier: each issuer's tokens are checked against that issuer's JWKS only."""
    pool_a, pool_b = world.pool, world.other_pool
    with pool_a.serve() as server_a, pool_b.serve() as server_b:
        iss_a, iss_b = server_a.issuer_url(), server_b.issuer_url()
        verifier = CognitoVerifier(
            issuer=[iss_a, iss_b],
            client_id=[pool_a.client_id, pool_b.client_id],
            clock=lambda: float(NOW),
        )
        b_key = pool_b.access_key
        cross = _signed(
            world,
            world.header(kid=b_key.kid),
            world.claims(iss=iss_a, client_id=pool_b.client_id),
            key=b_key.private_key,
        )
        with pytest.raises(UnknownKeyError) as info:
            verifier.verify(cross)
        assert type(info.value) is UnknownKeyError
        assert server_a.request_count() == 1
        assert server_b.request_count() == 0
        # controls: each pool's own tokens verify through its own JWKS
        assert verifier.verify(pool_b.access_token(iss=iss_b)).issuer == iss_b
        assert verifier.verify(pool_a.access_token(iss=iss_a)).issuer == iss_a
