"""The shape of cognito_guard.testing: each module imports on its own, and a fake pool that needs
no HTTP (its import rules are in test_architecture)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import cognito_guard.testing
from cognito_guard import testing
from cognito_guard._jws import decode_unverified
from cognito_guard.testing import OMIT, LocalIssuer, ManualClock, OAuthServer
from cognito_guard.testing._pool import UserPool
from cognito_guard.testing._refusals import Refused

PACKAGE = "cognito_guard.testing"
FOLDER = Path(cognito_guard.testing.__file__).parent


def _module_name(path: Path) -> str:
    return PACKAGE if path.stem == "__init__" else f"{PACKAGE}.{path.stem}"


@pytest.mark.parametrize("module", sorted(_module_name(p) for p in FOLDER.glob("*.py")))
def test_each_module_imports_first_in_a_fresh_interpreter(module: str) -> None:
    # Importing one module first, alone, is what a lazy or typing-only import circle breaks.
    done = subprocess.run(  # noqa: S603 - this interpreter and a fixed statement
        [sys.executable, "-W", "error", "-c", f"import {module}"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr


def test_every_public_name_stays_importable_from_the_package() -> None:
    for name in testing.__all__:
        assert getattr(testing, name) is not None


def test_no_module_of_the_testing_package_is_over_400_lines() -> None:
    lengths = {p.name: len(p.read_text().splitlines()) for p in FOLDER.glob("*.py")}
    assert {name: n for name, n in lengths.items() if n > 400} == {}


# -- the pool's state, without any HTTP ---------------------------------------------------------


@pytest.fixture
def pool_clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def issuer(cognito_signing_keys: list[object], pool_clock: ManualClock) -> LocalIssuer:
    return LocalIssuer(keys=cognito_signing_keys, clock=pool_clock)  # type: ignore[arg-type]


def test_a_rotated_refresh_token_works_within_the_grace_period_then_is_refused(
    issuer: LocalIssuer, pool_clock: ManualClock
) -> None:
    pool = UserPool(issuer, rotate_refresh_tokens=True, retry_grace_period=10)
    first = pool.issue_refresh_token("alice")
    replacement = pool.refresh(first)["refresh_token"]
    assert not pool.is_revoked(first)  # retired, but within the grace period
    pool_clock.advance(11)
    assert pool.is_revoked(first)
    with pytest.raises(Refused) as refused:
        pool.refresh(first)
    assert refused.value.kind == "reused_grant"
    assert pool.refresh(replacement)["refresh_token"] != replacement


def test_revoking_a_refresh_token_ends_its_sign_in_and_its_access_tokens(
    issuer: LocalIssuer,
) -> None:
    pool = UserPool(issuer)
    token = pool.issue_refresh_token("alice")
    access = pool.refresh(token)["access_token"]
    assert pool.user_of(access, "openid")[0] == "alice"
    pool.revoke(token)
    assert pool.is_revoked(token)
    with pytest.raises(Refused) as refused:
        pool.user_of(access, "openid")
    assert refused.value.kind == "bad_token"


def test_a_signed_out_user_s_tokens_stop_working(
    issuer: LocalIssuer, pool_clock: ManualClock
) -> None:
    pool = UserPool(issuer)
    token = pool.issue_refresh_token("alice")
    access = pool.refresh(token)["access_token"]
    pool.sign_out("alice")
    assert pool.signed_out_at("alice") == pool_clock()
    assert pool.is_revoked(token)
    with pytest.raises(Refused, match="revoked"):
        pool.user_of(access, "openid")


def test_a_code_redeems_once_and_checks_its_pkce_verifier(issuer: LocalIssuer) -> None:
    pool = UserPool(issuer)
    # RFC 7636 appendix B: this verifier's S256 challenge.
    verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
    challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    code = pool.issue_code("bob", redirect_uri="https://app/cb", code_challenge=challenge)
    with pytest.raises(Refused, match="code_verifier"):
        pool.redeem_code(code, "https://app/cb", "wrong")
    code = pool.issue_code("bob", redirect_uri="https://app/cb", code_challenge=challenge)
    tokens = pool.redeem_code(code, "https://app/cb", verifier)
    assert issuer.verifier().verify(tokens["access_token"]).username == "bob"
    with pytest.raises(Refused, match="invalid or expired code"):
        pool.redeem_code(code, "https://app/cb", verifier)


def test_a_password_signs_in_only_an_added_user(issuer: LocalIssuer) -> None:
    pool = UserPool(issuer)
    pool.add_user("carol", password="pw", email="carol@example.org")
    assert pool.check_password("carol", "pw")
    assert not pool.check_password("carol", "nope")
    assert not pool.check_password("dave", "pw")
    assert pool.attributes("carol")["email"] == "carol@example.org"
    pool.reset()
    assert not pool.check_password("carol", "pw")
    assert not pool.has_passwords()


def test_a_grace_period_outside_cognito_s_range_is_refused(issuer: LocalIssuer) -> None:
    with pytest.raises(ValueError, match="0 to 60"):
        UserPool(issuer, retry_grace_period=61)


# -- the options every token method and the OAuth double take ------------------------------------


def _decoded(token: str) -> tuple[dict[str, object], dict[str, object]]:
    return decode_unverified(token, 16_384)


@pytest.mark.parametrize("kind", ["access_token", "id_token", "m2m_token"])
def test_every_token_method_takes_the_token_options_and_claim_overrides(
    issuer: LocalIssuer, kind: str
) -> None:
    mint = getattr(issuer, kind)
    token = mint(
        expires_in=60,
        issued_at=1_000,
        key=issuer.id_key,
        header={"typ": "JWT"},
        claims={"custom:tenant": "acme", "jti": "from-claims"},
        jti="from-keyword",  # keyword overrides apply after ``claims``
        event_id=OMIT,
    )
    header, claims = _decoded(token)
    assert header == {"kid": issuer.id_key.kid, "alg": "RS256", "typ": "JWT"}
    assert (claims["auth_time"], claims["iat"], claims["exp"]) == (1_000, 1_000, 1_060)
    assert claims["custom:tenant"] == "acme"
    assert claims["jti"] == "from-keyword"
    assert "event_id" not in claims


def test_each_token_kind_is_signed_by_its_own_key_by_default(issuer: LocalIssuer) -> None:
    assert _decoded(issuer.access_token())[0]["kid"] == issuer.access_key.kid
    assert _decoded(issuer.id_token())[0]["kid"] == issuer.id_key.kid
    assert _decoded(issuer.m2m_token())[0]["kid"] == issuer.access_key.kid


def test_groups_become_cognito_groups_on_user_tokens_and_a_plain_claim_on_m2m(
    issuer: LocalIssuer,
) -> None:
    for user_token in (issuer.access_token(groups=["admins"]), issuer.id_token(groups=["admins"])):
        assert next(iter(_decoded(user_token)[1].items())) == ("cognito:groups", ["admins"])
    m2m = _decoded(issuer.m2m_token(groups=["admins"]))[1]
    assert m2m["groups"] == ["admins"]
    assert "cognito:groups" not in m2m


def test_the_times_stand_where_cognito_puts_them(issuer: LocalIssuer) -> None:
    claims = list(_decoded(issuer.id_token())[1])
    assert claims[claims.index("token_use") + 1 : claims.index("jti")] == [
        "auth_time",
        "iat",
        "exp",
    ]


def test_the_oauth_double_hands_its_pool_options_to_the_pool(issuer: LocalIssuer) -> None:
    server = OAuthServer(
        issuer,
        client_secret="s3cret",
        rotate_refresh_tokens=True,
        retry_grace_period=5,
        device_tracking=True,
        access_token_ttl=600,
        code_ttl=30,
        resources=["https://api.example.com"],
        token_delay=0.5,
    )
    assert (server.client_secret, server.rotate_refresh_tokens, server.device_tracking) == (
        "s3cret",
        True,
        True,
    )
    assert (server.retry_grace_period, server.access_token_ttl, server.code_ttl) == (5.0, 600, 30)
    assert server.resources == ("https://api.example.com",)
    assert server.token_delay == 0.5
    server.client_secret = None  # the options stay settable attributes
    assert server.client_secret is None


def test_the_oauth_double_keeps_the_pool_s_defaults(issuer: LocalIssuer) -> None:
    server, pool = OAuthServer(issuer), UserPool(issuer)
    names = ["client_secret", "rotate_refresh_tokens", "retry_grace_period", "device_tracking"]
    names += ["access_token_ttl", "code_ttl", "resources"]
    assert {n: getattr(server, n) for n in names} == {n: getattr(pool, n) for n in names}


def test_the_oauth_double_refuses_an_unknown_or_out_of_range_option(issuer: LocalIssuer) -> None:
    with pytest.raises(TypeError, match="rotate_refresh_token"):
        OAuthServer(issuer, rotate_refresh_token=True)  # type: ignore[call-arg]
    with pytest.raises(ValueError, match="0 to 60"):
        issuer.serve_oauth(retry_grace_period=61)
