"""A process frozen between invocations, as AWS Lambda freezes an instance (SIGSTOP, then
SIGCONT, here): its ``RedisRevocations`` thread stops with it, the local copy grows older than
``max_staleness``, and a revocation is made meanwhile. Its first verification after the thaw
brings the list up to date first: the revoked token is refused, a good one passes, no 503."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cognito_guard.revocation import RedisRevocations
from cognito_guard.testing import LocalIssuer

from .._polling import wait_for

MAX_STALENESS = 1.0

# The child: a verifier with RedisRevocations, as a Lambda function builds it at import. It
# verifies both tokens, says "ready", and verifies them again, in that order, once a line comes.
CHILD = """
import asyncio, json, os, sys
from cognito_guard import CognitoVerifier, RevokedTokenError, ServiceUnavailableError
from cognito_guard.revocation import RedisRevocations

revocations = RedisRevocations(os.environ["REDIS_URL"], max_staleness=float(os.environ["STALE"]))
verifier = CognitoVerifier(user_pool_id=os.environ["POOL"], client_id=os.environ["CLIENT"],
                           jwks=json.loads(os.environ["JWKS"]), revocations=revocations)
mode = os.environ["MODE"]

def verdict(token, loop):
    try:
        if mode == "async":
            loop.run_until_complete(verifier.averify(token))
        else:
            verifier.verify(token)
    except RevokedTokenError:
        return "revoked"
    except ServiceUnavailableError as exc:
        return type(exc).__name__
    return "accepted"

loop = asyncio.new_event_loop()
doomed, good = sys.stdin.readline().split()
print(json.dumps([verdict(doomed, loop), verdict(good, loop)]), flush=True)
sys.stdin.readline()  # frozen here; the line is waiting when it thaws
verdicts = [verdict(doomed, loop), verdict(good, loop)]
print(json.dumps({"verdicts": verdicts}), flush=True)
revocations.close()
if mode == "async":
    loop.run_until_complete(revocations.aclose())
loop.close()
"""


def _stopped(pid: int) -> bool:
    status = Path(f"/proc/{pid}/stat").read_text()
    return status.rpartition(")")[2].split()[0] == "T"


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc to see the stop")
@pytest.mark.parametrize("mode", ["sync", "async"])
def test_a_revocation_made_while_the_process_was_frozen_is_honoured_at_once_after_the_thaw(
    cognito_issuer: LocalIssuer, cognito_redis_url: str, mode: str
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COGNITO_")}
    env.update(
        REDIS_URL=cognito_redis_url,
        STALE=str(MAX_STALENESS),
        POOL=cognito_issuer.user_pool_id,
        CLIENT=cognito_issuer.client_id,
        JWKS=json.dumps(cognito_issuer.jwks),
        MODE=mode,
    )
    doomed_claims = cognito_issuer.access_token_claims(username="doomed")
    doomed = cognito_issuer.sign(doomed_claims)
    good = cognito_issuer.access_token(username="good")
    child = subprocess.Popen(  # noqa: S603 - this interpreter and our own script
        [sys.executable, "-c", CHILD],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdin is not None and child.stdout is not None
    try:
        child.stdin.write(f"{doomed} {good}\n")
        child.stdin.flush()
        assert json.loads(child.stdout.readline()) == ["accepted", "accepted"]
        os.kill(child.pid, signal.SIGSTOP)
        wait_for(lambda: _stopped(child.pid), 10, "the child's stop")
        with RedisRevocations(cognito_redis_url) as revocations:
            revocations.revoke_session(doomed_claims["origin_jti"])
        time.sleep(MAX_STALENESS + 0.5)  # frozen past max_staleness
        child.stdin.write("go\n")  # waiting for it when it thaws: it verifies at once
        child.stdin.flush()
        os.kill(child.pid, signal.SIGCONT)
        answer = json.loads(child.stdout.readline())
        assert answer["verdicts"] == ["revoked", "accepted"]
        assert child.wait(timeout=30) == 0
    finally:
        if child.poll() is None:
            os.kill(child.pid, signal.SIGCONT)
            child.kill()
            child.wait()
        child.stdin.close()
        child.stdout.close()
