"""A revocation made in one OS process is honoured by the others: child verifiers, the CLI,
and the FastAPI example behind uvicorn with ``COGNITO_REVOCATIONS_URL``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from cognito_guard._redis import RedisConnection
from cognito_guard.demo import run_revocation_demo
from cognito_guard.revocation import RedisRevocations, read_entries
from cognito_guard.testing import AppProcess, LocalIssuer, RedisServer
from cognito_guard.testing.pytest_plugin import redis_server_or_skip

from ._cli import cli

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

# A child API process: its own verifier and RedisRevocations; it says when it first accepts the
# token and when it refuses it.
VERIFIER_CHILD = """
import json, os, sys, time
from cognito_guard import CognitoVerifier, RevokedTokenError
from cognito_guard.revocation import RedisRevocations
with RedisRevocations(os.environ["REDIS_URL"], resync_interval=0.2) as revocations:
    verifier = CognitoVerifier(user_pool_id=os.environ["POOL"], client_id=os.environ["CLIENT"],
                               jwks=json.loads(os.environ["JWKS"]), revocations=revocations)
    token = sys.stdin.readline().strip()
    verifier.verify(token)
    print("accepted", flush=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            verifier.verify(token)
        except RevokedTokenError:
            print("refused", flush=True)
            sys.exit(0)
        time.sleep(0.002)
    sys.exit(1)
"""

REVOKER_CHILD = """
import os, sys
from cognito_guard.revocation import RedisRevocations
with RedisRevocations(os.environ["REDIS_URL"]) as revocations:
    revocations.revoke_session(sys.argv[1])
print("revoked", flush=True)
"""


def _child_env(issuer: LocalIssuer, url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COGNITO_")}
    env.update(
        REDIS_URL=url,
        POOL=issuer.user_pool_id,
        CLIENT=issuer.client_id,
        JWKS=json.dumps(issuer.jwks),
    )
    return env


def test_a_session_revoked_in_one_process_is_refused_by_the_others(
    cognito_issuer: LocalIssuer, fleet_redis_url: str
) -> None:
    env = _child_env(cognito_issuer, fleet_redis_url)
    claims = cognito_issuer.access_token_claims()
    token = cognito_issuer.sign(claims)
    children = [
        subprocess.Popen(  # noqa: S603 - this interpreter and our own script
            [sys.executable, "-c", VERIFIER_CHILD],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    try:
        for child in children:
            assert child.stdin is not None and child.stdout is not None
            child.stdin.write(token + "\n")
            child.stdin.flush()
            assert child.stdout.readline().strip() == "accepted"
        revoker = subprocess.run(  # noqa: S603 - as above
            [sys.executable, "-c", REVOKER_CHILD, claims["origin_jti"]],
            env=env,
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
        assert revoker.stdout.strip() == "revoked"
        for child in children:
            assert child.stdout is not None
            assert child.stdout.readline().strip() == "refused"
            assert child.wait(timeout=30) == 0
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
                child.wait()
            for pipe in (child.stdin, child.stdout):
                if pipe is not None:
                    pipe.close()


# -- the CLI --------------------------------------------------------------------------------------


@pytest.fixture
def acl_server() -> Iterator[RedisServer]:
    server = redis_server_or_skip(acl_user=("ops", "ops-pa55word"))
    yield server
    server.close()


def test_cli_revoke_each_kind_and_list(
    cognito_issuer: LocalIssuer, acl_server: RedisServer
) -> None:
    url = acl_server.acl_url()
    token = cognito_issuer.access_token()
    m2m = cognito_issuer.m2m_token()
    results = [
        cli("revoke", "--redis", url, "--token", "-", stdin=token),
        cli("revoke", "--token", "-", stdin="Bearer " + m2m, env={"COGNITO_REVOCATIONS_URL": url}),
        cli("revoke", "--redis", url, "--sub", "user-123"),
        cli("revoke", "--redis", url, "--jti", "jti-456"),
    ]
    for result in results:
        assert result.returncode == 0, result.stderr
        assert "ops-pa55word" not in result.stdout + result.stderr
        assert "ops:***@" in result.stdout
    assert "session" in results[0].stdout and "token" in results[1].stdout
    listing = cli("revocations", "--json", env={"COGNITO_REVOCATIONS_URL": url})
    assert listing.returncode == 0, listing.stderr
    assert "ops-pa55word" not in listing.stdout
    data = json.loads(listing.stdout)
    origin = json.loads(_b64(token.split(".")[1]))["origin_jti"]
    m2m_jti = json.loads(_b64(m2m.split(".")[1]))["jti"]
    assert {(e["kind"], e["id"]) for e in data["entries"]} == {
        ("origin_jti", origin),
        ("jti", m2m_jti),
        ("sub", "user-123"),
        ("jti", "jti-456"),
    }
    table = cli("revocations", "--redis", url)
    assert table.returncode == 0
    assert "4 live revocation(s)" in table.stdout and "user (sub)" in table.stdout
    # What the CLI wrote is what a running RedisRevocations reads.
    conn = RedisConnection(url)
    try:
        entries, bad = read_entries(conn)
    finally:
        conn.close()
    assert bad == 0 and len(entries) == 4


def _b64(segment: str) -> bytes:
    import base64

    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def test_cli_errors(acl_server: RedisServer) -> None:
    url = acl_server.acl_url()
    no_url = cli("revoke", "--jti", "x")
    assert no_url.returncode == 2 and "COGNITO_REVOCATIONS_URL" in no_url.stderr
    bad_scheme = cli("revoke", "--redis", "http://ops:ops-pa55word@127.0.0.1/0", "--jti", "x")
    assert bad_scheme.returncode == 2 and "redis://" in bad_scheme.stderr
    assert "ops-pa55word" not in bad_scheme.stderr
    not_a_jwt = cli("revoke", "--redis", url, "--token", "-", stdin="hello")
    assert not_a_jwt.returncode == 1
    two_targets = cli("revoke", "--redis", url, "--jti", "a", "--sub", "b")
    assert two_targets.returncode == 2
    acl_server.stop()
    down = cli("revoke", "--redis", url, "--jti", "x", "--timeout", "1")
    assert down.returncode == 2 and "failed" in down.stderr
    assert "ops-pa55word" not in down.stderr and "ops:***@" in down.stderr


# -- one adapter end to end -------------------------------------------------------------------


def test_fastapi_refuses_a_revoked_session_through_uvicorn(
    cognito_issuer: LocalIssuer, fleet_redis_url: str
) -> None:
    with cognito_issuer.serve() as jwks:
        env = {
            "COGNITO_USER_POOL_ID": cognito_issuer.user_pool_id,
            "COGNITO_CLIENT_ID": cognito_issuer.client_id,
            "COGNITO_JWKS_URI": jwks.jwks_uri,
            "COGNITO_REVOCATIONS_URL": fleet_redis_url,
        }
        claims = cognito_issuer.access_token_claims()
        token = cognito_issuer.sign(claims)
        headers = {"Authorization": f"Bearer {token}"}
        with (
            AppProcess("fastapi_app:app", server="uvicorn", paths=[EXAMPLES], env=env) as app,
            httpx.Client(timeout=10) as http,
        ):
            assert http.get(app.url + "/me", headers=headers).status_code == 200
            with RedisRevocations(fleet_redis_url) as revocations:  # this process
                revocations.revoke_session(claims["origin_jti"])
            response = _poll(lambda: http.get(app.url + "/me", headers=headers), 401)
            assert response.json()["error_description"] == "The token has been revoked"
            assert 'error="invalid_token"' in response.headers["www-authenticate"]
            other = {"Authorization": f"Bearer {cognito_issuer.access_token()}"}
            assert http.get(app.url + "/me", headers=other).status_code == 200


def _poll(request: Callable[[], httpx.Response], status: int) -> httpx.Response:
    deadline = time.monotonic() + 15
    while True:
        response = request()
        if response.status_code == status or time.monotonic() > deadline:
            assert response.status_code == status, response.text
            return response
        time.sleep(0.01)


# -- the demo rows ------------------------------------------------------------------------------


def test_revocation_demo_rows_match(cognito_redis_server: RedisServer) -> None:
    lines: list[str] = []
    assert run_revocation_demo(lines.append), "\n".join(lines)
    table = "\n".join(lines)
    assert table.count("RevokedTokenError  401") == 2 and "MISMATCH" not in table
    assert "eyJ" not in table  # no token is printed


def test_revocation_demo_skips_without_a_redis_binary(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("cognito_guard.testing.redis.find_redis_server", lambda: None)
    lines: list[str] = []
    assert run_revocation_demo(lines.append)
    assert lines and lines[0].startswith("skipped: no Redis-compatible server found")


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_worker_keeps_its_list_current(fleet_redis_url: str) -> None:
    """gunicorn --preload and uWSGI build the app, then fork: the sync thread must restart."""
    import warnings

    from cognito_guard.revocation import RedisRevocations as Shared

    with Shared(fleet_redis_url, resync_interval=0.1) as revocations:
        revocations.revoke_token("j-before-fork")
        with warnings.catch_warnings():  # Python 3.12+ warns about forking with threads
            warnings.simplefilter("ignore", DeprecationWarning)
            pid = os.fork()
        if pid == 0:  # the worker: sees a revocation made after the fork, through its own thread
            code = 1
            try:
                deadline = time.monotonic() + 15
                while time.monotonic() < deadline:
                    if revocations.is_revoked({"jti": "j-after-fork"}):
                        code = 0 if revocations.is_revoked({"jti": "j-before-fork"}) else 2
                        break
                    time.sleep(0.01)
            finally:
                os._exit(code)
        with Shared(fleet_redis_url) as writer:
            writer.revoke_token("j-after-fork")
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
