"""``cognito-guard verify``: verify a token like CognitoVerifier does and explain each check."""

from __future__ import annotations

import argparse
import logging
import os
import re
import sys
import time
from typing import Any

from ..errors import (
    CognitoGuardError,
    ConfigurationError,
    KeysUnavailableError,
    NotAJWT,
    TokenError,
)
from ._explain import _Context, _kind, explain
from ._format import (
    EXIT_REJECTED,
    EXIT_USAGE,
    EXIT_VALID,
    _fail,
    _in_option_words,
    _json_out,
    _library_warnings,
    _marks,
    iso,
)
from ._input import _read_token, _read_unverified

AUDIENCE_ENV = "COGNITO_AUDIENCE"
"""The environment variable ``--audience`` defaults to (the adapters' setting of that name)."""

# The Python parameters behind each command's options, as a configuration error names them.
_VERIFY_OPTIONS = {
    "user_pool_id": "--user-pool-id",
    "issuer": "--issuer",
    "client_id": "--client-id",
    "token_use": "--token-use",
    "audience": "--audience",
    "scopes": "--scope",
    "groups": "--group",
    "leeway": "--leeway",
    "jwks_uri": "--jwks-uri",
}


def cmd_verify(args: argparse.Namespace) -> int:
    """Verify a token and explain each check."""
    from ..verifier import CognitoVerifier

    now = args.at if args.at is not None else time.time()
    try:
        token = _read_token(args.token)
        token_use = None if args.token_use == "any" else args.token_use
        # The environment's audience is for access tokens: an ID token check ignores it.
        audiences = tuple(args.audience) or (_audiences_from_env() if token_use != "id" else ())
        verifier = CognitoVerifier(
            user_pool_id=args.user_pool_id,
            issuer=args.issuer,
            client_id=args.client_id or None,
            allow_any_client=not args.client_id,
            token_use=token_use,
            audience=audiences or None,
            scopes=args.scope,
            groups=args.group,
            leeway=args.leeway,
            jwks_uri=args.jwks_uri,
            token_cache_size=0,
            clock=lambda: now,
        )
    except ConfigurationError as exc:
        return _fail("verify", _in_option_words(str(exc), _VERIFY_OPTIONS))
    try:
        header, claims = _read_unverified(token)
    except NotAJWT:
        header, claims = {}, {}
    ctx = _Context(
        header,
        claims,
        now,
        verifier.issuers,
        args.jwks_uri,
        tuple(args.client_id),
        token_use,
        verifier.audiences,
        tuple(args.scope),
        tuple(args.group),
    )
    error: CognitoGuardError | None = None
    verified: dict[str, Any] | None = None

    def reported(record: logging.LogRecord) -> bool:  # the fetch failure is in the error
        return isinstance(error, KeysUnavailableError) and record.funcName == "_record_failure"

    with _library_warnings(reported):
        try:
            verified = dict(verifier.verify(token))
        except (TokenError, KeysUnavailableError) as exc:
            error = exc
    rows = explain(ctx, error)
    if isinstance(error, KeysUnavailableError):
        outcome, code = "keys_unavailable", EXIT_USAGE
    elif error is not None:
        outcome, code = "rejected", EXIT_REJECTED
    else:
        outcome, code = "valid", EXIT_VALID
    if args.json:
        _json_out(
            {
                "valid": error is None,
                "outcome": outcome,
                "checks": [vars(row) for row in rows],
                "error": _error_json(error),
                "claims": verified,
                "checked_at": iso(now),
            }
        )
        return code
    marks = _marks(sys.stdout)
    width = max(len(row.check) for row in rows)
    for row in rows:
        print(f"{marks[row.status]} {row.check:<{width}}  {row.reason}")
    if isinstance(error, TokenError):
        print(f"REJECTED: {error.description} (HTTP {error.status_code} {error.error_code})")
    elif error is not None:
        print(f"UNAVAILABLE: the signing keys could not be fetched: {error}")
    else:
        print(f"VALID: {_kind(claims.get('token_use'))} for {_subject(claims)}")
    return code


def _audiences_from_env() -> tuple[str, ...]:
    return tuple(item for item in re.split(r"[\s,]+", os.environ.get(AUDIENCE_ENV, "")) if item)


def _subject(claims: dict[str, Any]) -> str:
    name = claims.get("username") or claims.get("cognito:username")
    if name:
        return f"user {name!r}"
    return f"app client {claims.get('client_id')!r} (machine to machine)"


def _error_json(error: CognitoGuardError | None) -> dict[str, Any] | None:
    if error is None:
        return None
    result: dict[str, Any] = {"type": type(error).__name__, "message": str(error)}
    if isinstance(error, TokenError):
        result.update(
            status_code=error.status_code,
            error_code=error.error_code,
            description=error.description,
        )
    return result
