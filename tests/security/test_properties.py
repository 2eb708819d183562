"""Property-based tests: whatever the input, ``verify`` either returns the claims of a genuine
token or raises a TokenError subclass; and no mutation of a valid token verifies."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from cognito_guard import CognitoClaims, CognitoVerifier, TokenError

from ._helpers import B64URL, CLIENT_ID, ISSUER, NOW, World, b64url, compact, sign_parts

B64_DOT = B64URL + "."
MAIN = settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
FEW = settings(max_examples=40, deadline=None)


@dataclass(frozen=True)
class Original:
    """A genuine token, the verifier meant for it, and the claims it verified to."""

    token: str
    verifier: CognitoVerifier
    claims: CognitoClaims


@pytest.fixture(scope="module", params=[True, False], ids=["cache-on", "cache-off"])
def originals(request: pytest.FixtureRequest, world: World) -> list[Original]:
    """An access token with scopes and groups, an ID token and an M2M token, each verified once
    (so with the cache on, the genuine token is in the cache while its mutants are tried)."""
    cache: bool = request.param
    access = world.verifier(cache=cache)
    pairs = [
        (world.pool.access_token(scopes=["openid", "orders/read"], groups=["admins"]), access),
        (world.pool.id_token(groups=["users"]), world.verifier("id", cache=cache)),
        (world.pool.m2m_token(), access),
    ]
    return [Original(token, verifier, verifier.verify(token)) for token, verifier in pairs]


@pytest.fixture(scope="module", params=[True, False], ids=["cache-on", "cache-off"])
def verifier(request: pytest.FixtureRequest, world: World) -> CognitoVerifier:
    """An access-token verifier of pool A, token cache on or off."""
    return world.verifier(cache=request.param)


def _rejects(verifier: CognitoVerifier, token: Any) -> TokenError:
    """Assert ``verify`` raises a TokenError subclass (anything else propagates and fails)."""
    with pytest.raises(TokenError) as info:
        verifier.verify(token)
    assert isinstance(info.value, TokenError)
    assert info.value.status_code in (401, 403)
    return info.value


# -- (a) arbitrary input ------------------------------------------------------------------------


@MAIN
@given(text=st.text(max_size=2000))
def test_arbitrary_text_raises_only_token_errors(verifier: CognitoVerifier, text: str) -> None:
    """Any unicode string is rejected with a TokenError."""
    _rejects(verifier, text)


@MAIN
@given(text=st.text(alphabet=B64_DOT, max_size=2000))
def test_arbitrary_base64url_text_raises_only_token_errors(
    verifier: CognitoVerifier, text: str
) -> None:
    """Any string over the base64url alphabet and '.' is rejected with a TokenError."""
    _rejects(verifier, text)


@MAIN
@given(parts=st.lists(st.binary(max_size=600), min_size=1, max_size=5))
def test_base64url_segments_of_arbitrary_bytes_raise_only_token_errors(
    verifier: CognitoVerifier, parts: list[bytes]
) -> None:
    """Dot-joined base64url of arbitrary bytes (any number of segments) is rejected."""
    _rejects(verifier, ".".join(b64url(part) for part in parts))


_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
JSON_VALUES = st.recursive(
    _SCALARS,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)


def _header_values(world: World) -> st.SearchStrategy[dict[str, Any]]:
    kids = st.sampled_from([world.kid, world.pool.id_key.kid, "unknown"])
    base = st.fixed_dictionaries({"alg": st.just("RS256") | JSON_VALUES, "kid": kids | JSON_VALUES})
    extra = st.dictionaries(st.sampled_from(["typ", "jku", "jwk", "crit", "cty", "x"]), JSON_VALUES)
    return st.tuples(base, extra).map(lambda pair: {**pair[1], **pair[0]})


@MAIN
@given(data=st.data(), payload=JSON_VALUES, signature=st.binary(min_size=0, max_size=300))
def test_arbitrary_json_with_a_forged_signature_raises_only_token_errors(
    world: World, verifier: CognitoVerifier, data: st.DataObject, payload: Any, signature: bytes
) -> None:
    """Well-formed JWS shapes with arbitrary JSON and a random signature never verify."""
    header = data.draw(_header_values(world))
    if isinstance(payload, dict) and data.draw(st.booleans()):
        payload = {**world.claims(), **payload}  # often reach the issuer and key lookups
    token = ".".join([b64url(compact(header)), b64url(compact(payload)), b64url(signature)])
    _rejects(verifier, token)


# -- signed by the real key, with arbitrary claim values ----------------------------------------

_CLAIMS = [
    "exp",
    "iat",
    "nbf",
    "iss",
    "sub",
    "token_use",
    "client_id",
    "scope",
    "cognito:groups",
    "username",
]
_HUGE = [10**400, -(10**400), 2**1024, 10**308, -(10**308)]


CLAIM_VALUES = (
    st.sampled_from([NOW - 1, NOW, NOW + 1, ISSUER, "access", "id", CLIENT_ID])
    | st.sampled_from(_HUGE)
    | st.integers(-(10**500), 10**500)
    | JSON_VALUES
)


def _assert_invariants(claims: CognitoClaims, verifier: CognitoVerifier, world: World) -> None:
    exp = claims["exp"]
    assert not isinstance(exp, bool) and isinstance(exp, (int, float))
    assert math.isfinite(exp) and exp > NOW
    for name in ("iat", "nbf"):
        if name in claims:
            value = claims[name]
            assert not isinstance(value, bool) and isinstance(value, (int, float))
            assert math.isfinite(value) and value <= NOW
    assert claims["iss"] in verifier.issuers
    assert claims["token_use"] == "access"
    assert claims["client_id"] == world.pool.client_id
    assert isinstance(claims["sub"], str)
    # The library reads a null scope / cognito:groups as absent (no scopes, no groups).
    assert claims.get("scope") is None or isinstance(claims["scope"], str)
    groups = claims.get("cognito:groups") or []
    assert isinstance(groups, list) and all(isinstance(g, str) for g in groups)
    assert claims.scopes <= set(str(claims.get("scope") or "").split())


@MAIN
@example(overrides={"exp": 10**400}, drop=None)
@example(overrides={"iat": -(10**400)}, drop=None)
@example(overrides={"nbf": 2**1024}, drop=None)
@given(
    overrides=st.dictionaries(st.sampled_from(_CLAIMS), CLAIM_VALUES, max_size=4),
    drop=st.none() | st.sampled_from(_CLAIMS),
)
def test_signed_tokens_with_arbitrary_claims_verify_or_raise_token_errors(
    world: World, verifier: CognitoVerifier, overrides: dict[str, Any], drop: str | None
) -> None:
    """A genuinely signed token with arbitrary claim values verifies only if every claim is
    acceptable, and is otherwise rejected with a TokenError (never another exception)."""
    claims = {**world.claims(), **overrides}
    if drop is not None:
        claims.pop(drop, None)
    token = sign_parts(b64url(compact(world.header())), b64url(compact(claims)), world.private)
    try:
        result = verifier.verify(token)
    except TokenError as exc:
        assert exc.status_code in (401, 403)
        return
    _assert_invariants(result, verifier, world)


# -- (b) mutations of a valid token -------------------------------------------------------------

_CHARS = st.sampled_from(B64_DOT) | st.characters()
_OPS = [
    "substitute",
    "neighbour",
    "segment-end",
    "insert",
    "delete",
    "truncate",
    "swap-segments",
    "copy-segment",
    "adjacent",
]


@dataclass(frozen=True)
class Edit:
    """One edit, positioned modulo the length of the text it is applied to."""

    op: str
    at: int
    run: int
    text: str
    i: int
    j: int


EDITS = st.lists(
    st.builds(
        Edit,
        op=st.sampled_from(_OPS),
        at=st.integers(0, 10**6),
        run=st.integers(1, 4),
        text=st.text(_CHARS, min_size=1, max_size=4),
        i=st.integers(0, 5),
        j=st.integers(0, 5),
    ),
    min_size=1,
    max_size=5,
)
"""One to five edits: single characters, runs of them, or whole segments."""


def _neighbour(char: str, step: int) -> str:
    """A character ``step`` places away in the base64url alphabet (plus '.')."""
    index = B64_DOT.find(char)
    return B64_DOT[(index + step) % len(B64_DOT)] if index >= 0 else "A"


def _mutate(token: str, edits: list[Edit]) -> str:
    text = token
    for edit in edits:
        size = len(text)
        at = edit.at % size if size else 0
        if edit.op == "substitute":
            text = text[:at] + edit.text + text[at + len(edit.text) :]
        elif edit.op == "neighbour" and size:
            text = text[:at] + _neighbour(text[at], edit.run) + text[at + 1 :]
        elif edit.op == "segment-end":  # the last character carries the unused base64 bits
            parts = text.split(".")
            i = edit.i % len(parts)
            if parts[i]:
                parts[i] = parts[i][:-1] + _neighbour(parts[i][-1], edit.run)
            text = ".".join(parts)
        elif edit.op == "insert":
            text = text[:at] + edit.text + text[at:]
        elif edit.op == "delete":
            text = text[:at] + text[at + edit.run :]
        elif edit.op == "truncate":
            text = text[:at]
        elif edit.op == "adjacent" and size >= 2:
            at = min(at, size - 2)
            text = text[:at] + text[at + 1] + text[at] + text[at + 2 :]
        elif edit.op in ("swap-segments", "copy-segment"):
            parts = text.split(".")
            i, j = edit.i % len(parts), edit.j % len(parts)
            if edit.op == "swap-segments":
                parts[i], parts[j] = parts[j], parts[i]
            else:
                parts[i] = parts[j]
            text = ".".join(parts)
    return text


def _check_mutant(original: Original, mutant: str) -> None:
    if mutant == original.token:
        assert dict(original.verifier.verify(mutant)) == dict(original.claims)
    else:
        _rejects(original.verifier, mutant)


@MAIN
@given(which=st.integers(0, 2), edits=EDITS)
def test_a_mutated_token_verifies_only_if_unchanged(
    originals: list[Original], which: int, edits: list[Edit]
) -> None:
    """Substitutions, insertions, deletions, truncation and segment swaps: any change rejects."""
    original = originals[which]
    _check_mutant(original, _mutate(original.token, edits))


def test_every_single_character_substitution_and_deletion_is_rejected(
    originals: list[Original],
) -> None:
    """Exhaustively, for every position of a genuine token: another character, or none."""
    original = originals[0]
    token = original.token
    for at, char in enumerate(token):
        replacement = B64_DOT[(B64_DOT.index(char) + 1) % len(B64_DOT)]
        _rejects(original.verifier, token[:at] + replacement + token[at + 1 :])
        _rejects(original.verifier, token[:at] + token[at + 1 :])
    assert dict(original.verifier.verify(token)) == dict(original.claims)


# -- (c) the same through averify ---------------------------------------------------------------


@pytest.mark.anyio
@FEW
@given(which=st.integers(0, 2), edits=EDITS)
async def test_a_mutated_token_averifies_only_if_unchanged(
    originals: list[Original], which: int, edits: list[Edit]
) -> None:
    """``averify`` agrees: only the unchanged token returns claims."""
    original = originals[which]
    mutant = _mutate(original.token, edits)
    if mutant == original.token:
        assert dict(await original.verifier.averify(mutant)) == dict(original.claims)
    else:
        with pytest.raises(TokenError):
            await original.verifier.averify(mutant)


@pytest.mark.anyio
@FEW
@given(text=st.text(alphabet=B64_DOT, max_size=600) | st.text(max_size=200))
async def test_arbitrary_text_averify_raises_only_token_errors(
    verifier: CognitoVerifier, text: str
) -> None:
    """``averify`` rejects arbitrary text with a TokenError, like ``verify``."""
    with pytest.raises(TokenError):
        await verifier.averify(text)
