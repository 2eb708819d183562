"""``make demo``: a local issuer on loopback, good and bad tokens, and the verdict on each.

Everything runs on 127.0.0.1 with real RSA keys and a real JWKS endpoint: no AWS account needed.
The process exits non-zero if any verdict differs from the expected one.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass

from .errors import CognitoGuardError
from .testing import LocalIssuer, b64url, generate_rsa_key
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
        verdict, status = _verdict(cold, issuer.access_token())
        ok = verdict == "KeysUnavailableError"
        all_match &= ok
        rows.append(
            ("JWKS down, cold cache", "KeysUnavailableError", verdict, str(status), "ok" * ok)
        )
        fetches = server.request_count()
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    for n, row in enumerate(rows):
        out("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))
        if n == 0:
            out("  ".join("-" * width for width in widths))
    out(f"\n{len(rows) - 1} cases, JWKS requests at the server: {fetches}")
    return all_match


def main(argv: list[str] | None = None) -> int:
    """Run the demo; exit status 0 when every verdict is the expected one."""
    logging.basicConfig(level=logging.WARNING, format="  (log) %(message)s", stream=sys.stdout)
    ok = run_core_demo()
    print("\nall verdicts as expected" if ok else "\nSOME VERDICTS DIFFER FROM THE EXPECTED ONES")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
