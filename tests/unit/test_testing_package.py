"""The shape of cognito_guard.testing: no import circle, and a fake pool that needs no HTTP."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import cognito_guard.testing
from cognito_guard import testing
from cognito_guard.testing import LocalIssuer, ManualClock
from cognito_guard.testing._pool import UserPool
from cognito_guard.testing._refusals import Refused

PACKAGE = "cognito_guard.testing"
FOLDER = Path(cognito_guard.testing.__file__).parent


def _module_name(path: Path) -> str:
    return PACKAGE if path.stem == "__init__" else f"{PACKAGE}.{path.stem}"


def _testing_imports(path: Path) -> set[str]:
    """Every module of the package ``path`` imports: at the top, in a function, or for typing."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                base = node.module or ""
            elif node.level == 1:
                base = f"{PACKAGE}.{node.module}" if node.module else PACKAGE
            else:
                continue  # the library above the package: it never imports the package
            # ``from . import server`` names a module; ``from .server import X`` names a member.
            names = [base, *(f"{base}.{alias.name}" for alias in node.names)]
        else:
            continue
        found.update(n for n in names if n == PACKAGE or n.startswith(PACKAGE + "."))
    return found


def _graph() -> dict[str, set[str]]:
    modules = {_module_name(p): p for p in FOLDER.glob("*.py")}
    return {name: _testing_imports(path) & set(modules) - {name} for name, path in modules.items()}


def _reach(graph: dict[str, set[str]], start: str) -> set[str]:
    seen: set[str] = set()
    todo = list(graph[start])
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo.extend(graph[name])
    return seen


def test_no_module_of_the_testing_package_imports_itself_back() -> None:
    graph = _graph()
    circles = {name: sorted(_reach(graph, name)) for name in graph if name in _reach(graph, name)}
    assert circles == {}


def test_the_issuer_s_key_minting_and_token_building_reach_no_server() -> None:
    graph = _graph()
    minting = {LocalIssuer.sign.__module__, LocalIssuer.rotate.__module__}
    reached = set().union(*(_reach(graph, name) for name in minting))
    servers = {f"{PACKAGE}.server", f"{PACKAGE}.oauth", f"{PACKAGE}.issuer"}
    assert minting.isdisjoint(servers)
    assert reached.isdisjoint(servers)


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
