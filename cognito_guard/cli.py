"""``cognito-guard``: explain why a token is accepted or rejected, decode one, or get an M2M token.

Example::

    $ pbpaste | cognito-guard verify - --user-pool-id eu-west-1_AbCdEf123 --client-id 4a1b...
    PASS  structure      three base64url segments with a JSON header and claims
    ...
    FAIL  expiry         expired 3 minutes ago (2026-01-05T10:00:00Z)
    ----  not before     not reached
    REJECTED: The token has expired

``verify`` does not re-implement verification: it runs :meth:`CognitoVerifier.verify` and
explains the outcome. The verifier checks in a fixed order and raises a distinct error per
check, so every check before the failing one passed and those after it were not reached.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import contextlib
import json
import logging
import logging.handlers
import math
import os
import re
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, TextIO

from ._oauth import OAuthError, TokenEndpointUnavailable
from ._version import __version__
from .errors import (
    CognitoGuardError,
    ConfigurationError,
    KeysUnavailableError,
    MalformedTokenError,
    NotAJWT,
    TokenError,
)

__all__ = ["main"]

EXIT_VALID = 0
EXIT_REJECTED = 1
EXIT_USAGE = 2

_TIME_CLAIMS = ("exp", "iat", "nbf", "auth_time")


# -- words for times ------------------------------------------------------------------------------


def _plural(count: int, unit: str) -> str:
    return f"{count} {unit}" if count == 1 else f"{count} {unit}s"


def relative(seconds: float) -> str:
    """``seconds`` from now in words: ``"in 20 minutes"``, ``"3 minutes ago"``, ``"now"``."""
    size = abs(seconds)
    if size < 1:
        return "now"
    if size < 60:
        text = _plural(int(size + 0.5), "second")
    elif size < 3600:
        text = _plural(int(size / 60 + 0.5), "minute")
    elif size < 48 * 3600:
        text = _plural(int(size / 3600 + 0.5), "hour")
    else:
        text = _plural(int(size / 86400 + 0.5), "day")
    return f"in {text}" if seconds > 0 else f"{text} ago"


def iso(epoch: float) -> str:
    """An epoch time as an ISO 8601 UTC date: ``2026-01-05T10:00:00Z``."""
    moment = datetime.fromtimestamp(epoch, tz=timezone.utc)
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def _when(epoch: object, now: float) -> str:
    if isinstance(epoch, bool) or not isinstance(epoch, (int, float)) or not math.isfinite(epoch):
        return f"{epoch!r} (not a time)"
    return f"{relative(epoch - now)} ({iso(epoch)})"


# -- unverified decoding --------------------------------------------------------------------------


def _b64json(segment: str, what: str) -> dict[str, Any]:
    try:
        raw = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
        value = json.loads(raw)
    except (ValueError, binascii.Error, RecursionError):
        raise NotAJWT(f"the {what} is not base64url-encoded JSON") from None
    if not isinstance(value, dict):
        raise NotAJWT(f"the {what} is not a JSON object")
    return value


def decode_unverified(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The header and claims of a JWS, without checking anything. Raises :class:`NotAJWT`."""
    parts = token.split(".")
    if len(parts) == 5:
        raise NotAJWT("this is an encrypted JWE (a Cognito refresh token?), not a signed JWT")
    if len(parts) != 3:
        raise NotAJWT(f"a JWT has 3 dot-separated parts; this has {len(parts)}")
    return _b64json(parts[0], "header"), _b64json(parts[1], "claims")


# -- the checks and their explanations (one table) ------------------------------------------------


@dataclass
class _Context:
    """What the explanations may use: unverified header/claims and the expectations."""

    header: dict[str, Any]
    claims: dict[str, Any]
    now: float
    issuers: tuple[str, ...]
    jwks_uri: str | None
    client_ids: tuple[str, ...]
    token_use: str | None
    scopes: tuple[str, ...]
    groups: tuple[str, ...]


def _kind(token_use: object) -> str:
    return {"access": "an access token", "id": "an ID token"}.get(
        token_use if isinstance(token_use, str) else "", f"a token with token_use {token_use!r}"
    )


def _client_of(ctx: _Context) -> object:
    if ctx.claims.get("token_use") == "id":
        return ctx.claims.get("aud")
    return ctx.claims.get("client_id")


def _token_scopes(ctx: _Context) -> list[str]:
    scope = ctx.claims.get("scope")
    return scope.split() if isinstance(scope, str) else []


def _token_groups(ctx: _Context) -> list[str]:
    groups = ctx.claims.get("cognito:groups")
    return [g for g in groups if isinstance(g, str)] if isinstance(groups, list) else []


def _fail_issuer(ctx: _Context, exc: TokenError) -> str:
    iss = ctx.claims.get("iss")
    if iss is None:
        return "the token has no iss claim"
    expected = " or ".join(ctx.issuers)
    return f"issued by {iss!r}; this check expects {expected}"


def _fail_key(ctx: _Context, exc: TokenError) -> str:
    where = f" at {ctx.jwks_uri}" if ctx.jwks_uri else ""
    return (
        f"key id {ctx.header.get('kid')!r} is not in the pool's JWKS{where}: the token comes "
        "from another user pool, or its key was retired"
    )


def _fail_expiry(ctx: _Context, exc: TokenError) -> str:
    exp = ctx.claims.get("exp")
    if isinstance(exc, MalformedTokenError):
        return "the token has no valid exp (expiry) claim"
    return f"expired {_when(exp, ctx.now)}"


def _fail_not_before(ctx: _Context, exc: TokenError) -> str:
    if isinstance(exc, MalformedTokenError):
        return "the iat or nbf claim is not a valid time"
    times = [ctx.claims.get(n) for n in ("iat", "nbf")]
    latest = max((t for t in times if isinstance(t, (int, float))), default=None)
    return f"not valid until {_when(latest, ctx.now)}: issued in the future (check the clocks)"


def _fail_token_use(ctx: _Context, exc: TokenError) -> str:
    actual = ctx.claims.get("token_use")
    if actual not in ("access", "id"):
        return f"token_use is {actual!r}; a Cognito token says 'access' or 'id'"
    return f"this is {_kind(actual)}; the API expects {_kind(ctx.token_use)}"


def _fail_client(ctx: _Context, exc: TokenError) -> str:
    claim = "aud" if ctx.claims.get("token_use") == "id" else "client_id"
    expected = ", ".join(ctx.client_ids)
    return f"issued to app client {_client_of(ctx)!r} ({claim}); expected {expected}"


def _fail_scopes(ctx: _Context, exc: TokenError) -> str:
    has = _token_scopes(ctx)
    missing = [s for s in ctx.scopes if s not in has]
    return f"lacks {', '.join(missing)}; the token has {', '.join(has) or 'no scope'}"


def _fail_groups(ctx: _Context, exc: TokenError) -> str:
    groups = _token_groups(ctx)
    return (
        f"the user is in none of {', '.join(ctx.groups)}; "
        f"they are in {', '.join(groups) or 'no group'}"
    )


def _detail(ctx: _Context, exc: TokenError) -> str:
    return str(exc)


def _pass_client(ctx: _Context) -> str:
    return f"issued to app client {_client_of(ctx)!r}"


def _pass_scopes(ctx: _Context) -> str:
    return f"has {', '.join(ctx.scopes)}"


def _pass_groups(ctx: _Context) -> str:
    present = [g for g in ctx.groups if g in _token_groups(ctx)]
    return f"the user is in {', '.join(present)}"


@dataclass(frozen=True)
class Check:
    """One row: the check's name (the ``check`` of the errors that fail it), how to explain it."""

    name: str
    passed: Callable[[_Context], str]
    failed: Callable[[_Context, TokenError], str]
    skipped: Callable[[_Context], str | None] = lambda ctx: None


# In the verifier's order.
CHECKS: tuple[Check, ...] = (
    Check(
        "structure",
        lambda ctx: "three base64url segments with a JSON header and claims",
        _detail,
    ),
    Check(
        "algorithm",
        lambda ctx: f"RS256, key id {ctx.header.get('kid')!r}",
        lambda ctx, exc: f"{exc}; Cognito signs with RS256 and no key-bearing headers",
    ),
    Check(
        "issuer",
        lambda ctx: f"issued by {ctx.claims.get('iss')}",
        _fail_issuer,
    ),
    Check(
        "signing key",
        lambda ctx: f"key {ctx.header.get('kid')!r} is in the pool's JWKS",
        _fail_key,
    ),
    Check(
        "signature",
        lambda ctx: "the RS256 signature is valid",
        lambda ctx, exc: (
            "the signature does not match the pool's key: the token was altered, "
            "or signed by someone else"
        ),
    ),
    Check(
        "expiry",
        lambda ctx: f"expires {_when(ctx.claims.get('exp'), ctx.now)}",
        _fail_expiry,
    ),
    Check(
        "not before",
        lambda ctx: f"issued {_when(ctx.claims.get('iat'), ctx.now)}",
        _fail_not_before,
    ),
    Check(
        "token use",
        lambda ctx: (
            f"{_kind(ctx.claims.get('token_use'))}"
            + ("" if ctx.token_use else " (either kind accepted)")
        ),
        _fail_token_use,
    ),
    Check(
        "claims",
        lambda ctx: "sub, scope and cognito:groups are well-formed",
        _detail,
    ),
    Check(
        "client",
        _pass_client,
        _fail_client,
        lambda ctx: None if ctx.client_ids else "no --client-id given: any app client accepted",
    ),
    Check(
        "scopes",
        _pass_scopes,
        _fail_scopes,
        lambda ctx: None if ctx.scopes else "no --scope required",
    ),
    Check(
        "groups",
        _pass_groups,
        _fail_groups,
        lambda ctx: None if ctx.groups else "no --group required",
    ),
    Check("custom check", lambda ctx: "passed", _detail, lambda ctx: "none"),
)


def _is_time(value: object) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)


@dataclass
class Row:
    """One line of the report: ``status`` is pass, fail, skipped or not_reached."""

    check: str
    status: str
    reason: str


def explain(ctx: _Context, error: BaseException | None, *, custom_check: bool = False) -> list[Row]:
    """The report rows for the outcome of ``CognitoVerifier.verify``.

    ``error`` is None (valid), a TokenError (rejected) or KeysUnavailableError (the key check
    could not run).
    """
    failed: str | None = None
    if isinstance(error, (TokenError, KeysUnavailableError)):
        # verify() raises only its checks' errors: one without a check came from a custom check.
        failed = error.check or "custom check"
    rows: list[Row] = []
    reached = True
    for check in CHECKS:
        if check.name == "custom check" and not custom_check:
            continue
        if not reached:
            rows.append(Row(check.name, "not_reached", "not reached: an earlier check failed"))
            continue
        if check.name == failed:
            if isinstance(error, KeysUnavailableError):  # the cause is on the closing line
                reason = "could not be checked: the pool's signing keys are unavailable"
            else:
                assert isinstance(error, TokenError)  # noqa: S101 - failed is set only then
                reason = check.failed(ctx, error)
            rows.append(Row(check.name, "fail", reason))
            reached = False
            continue
        skipped = check.skipped(ctx)
        if skipped is not None:
            rows.append(Row(check.name, "skipped", skipped))
        else:
            rows.append(Row(check.name, "pass", check.passed(ctx)))
    return rows


# -- output ---------------------------------------------------------------------------------------


def _marks(stream: TextIO) -> dict[str, str]:
    fancy = {"pass": "✓", "fail": "✗", "skipped": "-", "not_reached": "·"}
    try:
        "".join(fancy.values()).encode(stream.encoding or "ascii")
    except (UnicodeEncodeError, LookupError):
        return {"pass": "PASS", "fail": "FAIL", "skipped": "skip", "not_reached": "----"}
    return {k: f"{v} {k.replace('_', ' ').upper():<11}" for k, v in fancy.items()}


def _read_token(value: str) -> str:
    text = sys.stdin.read() if value == "-" else value
    text = text.strip()
    if text[:7].lower() == "bearer ":
        text = text[7:].strip()
    if not text and value == "-":
        raise ConfigurationError(
            "stdin was empty: pipe the token in (pbpaste | cognito-guard ...), or pass it "
            "instead of '-'"
        )
    if not text:
        raise ConfigurationError("no token given (pass it, or '-' to read it from stdin)")
    return text


# The Python parameters behind each command's options, as a configuration error names them.
_VERIFY_OPTIONS = {
    "user_pool_id": "--user-pool-id",
    "issuer": "--issuer",
    "client_id": "--client-id",
    "token_use": "--token-use",
    "scopes": "--scope",
    "groups": "--group",
    "leeway": "--leeway",
    "jwks_uri": "--jwks-uri",
}
_TOKEN_OPTIONS = {"client_id": "--client-id", "domain": "--domain", "scopes": "--scope"}


def _in_option_words(message: str, options: dict[str, str]) -> str:
    """``message`` with the Python parameter names it uses replaced by the command's options."""
    names = "|".join(map(re.escape, options))
    return re.sub(rf"(?<![\w./=-])({names})(?![\w-])", lambda m: options[m[1]], message)


@contextlib.contextmanager
def _library_warnings(reported: Callable[[logging.LogRecord], bool]) -> Iterator[None]:
    """Hold back the library's log records; afterwards print those the report does not cover.

    Without this, Python's last-resort handler prints a record such as "JWKS fetch failed" above
    the report, which then says the same again.
    """
    handler = logging.handlers.BufferingHandler(capacity=10_000)  # one command: a few records
    handler.setLevel(logging.WARNING)
    logger = logging.getLogger("cognito_guard")
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)
    for record in handler.buffer:
        if not reported(record):
            message = record.getMessage().removeprefix("cognito_guard: ")
            print(f"cognito-guard: {record.levelname.lower()}: {message}", file=sys.stderr)


def _parse_time(value: str) -> float:
    try:
        return float(value)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{value!r} is not epoch seconds or an ISO 8601 time"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp()


def _seconds(value: str) -> float:
    """A positive, finite number of seconds (refused by argparse, naming the option)."""
    try:
        seconds = float(value)
    except ValueError:
        seconds = math.nan
    if not (0 < seconds < math.inf):
        raise argparse.ArgumentTypeError(f"{value!r} is not a positive number of seconds")
    return seconds


def _json_out(value: Any) -> None:
    print(json.dumps(value, indent=2, sort_keys=False, default=str))


# -- commands -------------------------------------------------------------------------------------


def cmd_verify(args: argparse.Namespace) -> int:
    """Verify a token and explain each check."""
    from .verifier import CognitoVerifier

    now = args.at if args.at is not None else time.time()
    try:
        token = _read_token(args.token)
        token_use = None if args.token_use == "any" else args.token_use
        verifier = CognitoVerifier(
            user_pool_id=args.user_pool_id,
            issuer=args.issuer,
            client_id=args.client_id or None,
            allow_any_client=not args.client_id,
            token_use=token_use,
            scopes=args.scope,
            groups=args.group,
            leeway=args.leeway,
            jwks_uri=args.jwks_uri,
            token_cache_size=0,
            clock=lambda: now,
        )
    except ConfigurationError as exc:
        print(
            f"cognito-guard verify: {_in_option_words(str(exc), _VERIFY_OPTIONS)}", file=sys.stderr
        )
        return EXIT_USAGE
    try:
        header, claims = decode_unverified(token)
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


def cmd_decode(args: argparse.Namespace) -> int:
    """Print a token's header and claims, unverified."""
    now = args.at if args.at is not None else time.time()
    try:
        header, claims = decode_unverified(_read_token(args.token))
    except ConfigurationError as exc:
        print(f"cognito-guard decode: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except NotAJWT as exc:
        print(f"cognito-guard decode: not a JWT: {exc}", file=sys.stderr)
        return EXIT_REJECTED
    times = {
        name: {
            "epoch": claims[name],
            "iso": iso(claims[name]),
            "relative": relative(claims[name] - now),
        }
        for name in _TIME_CLAIMS
        if _is_time(claims.get(name))
    }
    if args.json:
        _json_out({"verified": False, "header": header, "claims": claims, "times": times})
        return EXIT_VALID
    print("UNVERIFIED: decoded without checking the signature or any claim. Do not trust it;")
    print("use `cognito-guard verify` to check it.")
    print("\nHeader:")
    print(json.dumps(header, indent=2))
    print("\nClaims:")
    print(json.dumps(claims, indent=2))
    if times:
        print("\nTimes:")
        for name, value in times.items():
            print(f"  {name:<10} {value['iso']}  ({value['relative']})")
    return EXIT_VALID


def cmd_token(args: argparse.Namespace) -> int:
    """Print a client-credentials access token."""
    from .client import CognitoTokenClient

    secret = os.environ.get(args.secret_env)
    if not secret:
        print(
            f"cognito-guard token: set the client secret in the environment variable "
            f"{args.secret_env} (it is never taken as an argument, to keep it out of shell "
            "history and process lists)",
            file=sys.stderr,
        )
        return EXIT_USAGE
    try:
        client = CognitoTokenClient(args.client_id, secret, domain=args.domain)
        tokens = client.client_credentials(scopes=args.scope)
    except ConfigurationError as exc:
        print(f"cognito-guard token: {_in_option_words(str(exc), _TOKEN_OPTIONS)}", file=sys.stderr)
        return EXIT_USAGE
    except OAuthError as exc:
        print(f"cognito-guard token: Cognito refused: {exc}", file=sys.stderr)
        return EXIT_REJECTED
    except TokenEndpointUnavailable as exc:
        print(f"cognito-guard token: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if args.json:
        _json_out(
            {
                "access_token": tokens.access_token,
                "token_type": tokens.token_type,
                "expires_in": tokens.expires_in,
                "expires_at": iso(tokens.expires_at),
            }
        )
    else:
        print(tokens.access_token)
    return EXIT_VALID


def cmd_demo(args: argparse.Namespace) -> int:
    """Run the local demo (a local issuer, good and bad tokens, the three example apps)."""
    from .demo import main as demo  # imported here: it pulls in httpx and the test servers

    return demo()


# -- revocation -----------------------------------------------------------------------------------

REVOCATIONS_URL_ENV = "COGNITO_REVOCATIONS_URL"
_KIND_NAMES = {"jti": "token", "origin_jti": "session", "sub": "user"}


_URL_FILE_LIMIT = 64 * 1024


def _read_url_file(path: str) -> str:
    """The one URL in the file at ``path`` (surrounding blank lines and spaces ignored)."""
    try:
        # Read only so far: the path may be a FIFO or /dev/stdin.
        with open(os.path.expanduser(path), encoding="utf-8") as file:
            text = file.read(_URL_FILE_LIMIT + 1)
    except OSError as exc:
        why = exc.strerror or type(exc).__name__
        raise ConfigurationError(f"cannot read --redis-file {path}: {why}") from None
    except UnicodeDecodeError:
        raise ConfigurationError(f"--redis-file {path} is not UTF-8 text") from None
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    # The count, never the content: the lines may hold passwords.
    if len(text) > _URL_FILE_LIMIT:
        found = f"it is larger than {_URL_FILE_LIMIT // 1024} KiB"
    elif len(lines) != 1:
        found = "it is empty" if not lines else f"it holds {len(lines)} lines"
    else:
        return lines[0]
    raise ConfigurationError(f"--redis-file {path} must hold one Redis URL ({found})")


def _revocations_url(args: argparse.Namespace, command: str) -> tuple[str, str] | None:
    """(the Redis URL, where it came from) of ``--redis``, ``--redis-file`` or the environment.

    None after a message. A password in ``--redis`` works, with a warning: every user of the
    machine can read a command line (``ps``, ``/proc``), and shells keep it in their history.
    """
    from ._redis import url_secrets

    if args.redis is not None:
        if url_secrets(args.redis):
            print(
                f"cognito-guard {command}: warning: the --redis URL holds a password, which "
                "other users of this machine can read in the process list and which stays in "
                f"shell history; set ${REVOCATIONS_URL_ENV} or use --redis-file PATH instead",
                file=sys.stderr,
            )
        return args.redis, "--redis"
    if args.redis_file is not None:
        try:
            return _read_url_file(args.redis_file), "--redis-file"
        except ConfigurationError as exc:
            print(f"cognito-guard {command}: {exc}", file=sys.stderr)
            return None
    url = os.environ.get(REVOCATIONS_URL_ENV)
    if url:
        return url, f"${REVOCATIONS_URL_ENV}"
    print(
        f"cognito-guard {command}: set ${REVOCATIONS_URL_ENV}, or pass --redis-file PATH "
        "(or --redis URL)",
        file=sys.stderr,
    )
    return None


def _revocations_connection(args: argparse.Namespace, command: str) -> Any:
    """The RedisConnection of the command's Redis URL; None after a message."""
    from ._redis import RedisConnection

    found = _revocations_url(args, command)
    if found is None:
        return None
    url, source = found
    try:
        return RedisConnection(url, timeout=args.timeout, what=source)
    except ConfigurationError as exc:
        print(f"cognito-guard {command}: {exc}", file=sys.stderr)
        return None


def _redis_failure(command: str, conn: Any, exc: BaseException) -> int:
    from ._redis import describe

    print(
        f"cognito-guard {command}: Redis at {conn.url} failed: {describe(exc, conn.secrets)}",
        file=sys.stderr,
    )
    return EXIT_USAGE


def _token_target(value: str) -> tuple[str, str]:
    """(kind, id) to revoke for a token read with ``--token``: its session, else itself."""
    _header, claims = decode_unverified(_read_token(value))
    origin, jti = claims.get("origin_jti"), claims.get("jti")
    if isinstance(origin, str) and origin:
        return "origin_jti", origin
    if isinstance(jti, str) and jti:
        return "jti", jti
    raise ConfigurationError("the token has neither an origin_jti nor a jti claim")


def cmd_revoke(args: argparse.Namespace) -> int:
    """Record a revocation in the shared list: every process refuses it within about a second."""
    from .revocation import redis_failures, write_entry

    try:
        if args.token is not None:
            kind, ident = _token_target(args.token)
        else:
            kind, ident = next(
                (k, v)
                for k, v in (("origin_jti", args.origin_jti), ("jti", args.jti), ("sub", args.sub))
                if v is not None
            )
    except ConfigurationError as exc:
        print(f"cognito-guard revoke: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except NotAJWT as exc:
        print(f"cognito-guard revoke: not a JWT: {exc}", file=sys.stderr)
        return EXIT_REJECTED
    conn = _revocations_connection(args, "revoke")
    if conn is None:
        return EXIT_USAGE
    try:
        entry = write_entry(
            conn,
            kind,  # type: ignore[arg-type]
            ident,
            prefix=args.prefix,
            max_token_lifetime=args.max_token_lifetime,
        )
    except ConfigurationError as exc:
        print(f"cognito-guard revoke: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except redis_failures() as exc:
        return _redis_failure("revoke", conn, exc)
    finally:
        conn.close()
    what = {"origin_jti": "session", "jti": "token", "sub": "every session of user"}[kind]
    print(
        f"revoked {what} {ident} ({kind}) in {conn.url}; kept until {iso(entry.expires)} "
        f"({relative(entry.expires - time.time())})"
    )
    return EXIT_VALID


def cmd_revocations(args: argparse.Namespace) -> int:
    """List the live entries of the shared revocation list."""
    from .revocation import read_entries, redis_failures

    conn = _revocations_connection(args, "revocations")
    if conn is None:
        return EXIT_USAGE
    now = time.time()
    try:
        entries, bad = read_entries(conn, args.prefix, now)
    except redis_failures() as exc:
        return _redis_failure("revocations", conn, exc)
    finally:
        conn.close()
    if args.json:
        _json_out(
            {
                "redis": conn.url,
                "entries": [
                    {
                        "kind": e.kind,
                        "id": e.id,
                        "signed_out_at": iso(e.at) if e.at is not None else None,
                        "expires": iso(e.expires),
                    }
                    for e in entries
                ],
                "malformed": bad,
            }
        )
        return EXIT_VALID
    print(f"{len(entries)} live revocation(s) in {conn.url} (prefix {args.prefix!r})")
    if entries:
        rows = [("kind", "id", "signed out at", "expires")]
        rows += [
            (
                f"{_KIND_NAMES[e.kind]} ({e.kind})",
                e.id,
                iso(e.at) if e.at is not None else "",
                f"{iso(e.expires)} ({relative(e.expires - now)})",
            )
            for e in entries
        ]
        widths = [max(len(row[i]) for row in rows) for i in range(4)]
        for row in rows:
            print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    if bad:
        print(f"{bad} malformed entr{'y' if bad == 1 else 'ies'} ignored")
    return EXIT_VALID


_REVOKE_EXAMPLES = """\
examples:
  export COGNITO_REVOCATIONS_URL=rediss://app:...@cache.example.com:6380/0
  # or keep the URL in a file only you can read: --redis-file ~/.config/revocations-url
  # one sign-in session, from a token pasted on stdin (nothing is verified)
  pbpaste | cognito-guard revoke --token -
  # every session of a user, now
  cognito-guard revoke --sub 0f6c1c2e-7a4b-4c3a-9d51-2b8e4f3a1c77
  cognito-guard revoke --origin-jti 5a1f...   # one session
  cognito-guard revoke --jti 9c2e...          # exactly one token

Every API process sharing that Redis refuses the tokens within about a second. This does not
revoke anything at Cognito (use GlobalSignOut / AdminUserGlobalSignOut for refresh tokens).
exit status: 0 recorded, 1 not a JWT, 2 usage error or Redis unreachable
"""


def _add_redis_options(command: argparse.ArgumentParser) -> None:
    where = command.add_mutually_exclusive_group()
    where.add_argument(
        "--redis-file",
        metavar="PATH",
        help="a file holding the redis://, rediss:// (TLS) or unix:// URL "
        f"(default: the URL in ${REVOCATIONS_URL_ENV})",
    )
    where.add_argument(
        "--redis",
        metavar="URL",
        help="the URL itself; a password in it is visible to every user of the machine (ps), "
        f"so prefer ${REVOCATIONS_URL_ENV} or --redis-file",
    )
    command.add_argument(
        "--prefix",
        default="cognito_guard:",
        help="the key namespace the API processes use (default: %(default)s)",
    )
    command.add_argument(
        "--timeout", type=_seconds, default=5.0, help="seconds to wait for Redis (default: 5)"
    )


def _add_revocation_commands(commands: Any, formatter: type[argparse.HelpFormatter]) -> None:
    revoke = commands.add_parser(
        "revoke",
        help="revoke a token, a session or every session of a user, in every API process",
        description="Record a revocation in the Redis list every RedisRevocations shares.",
        epilog=_REVOKE_EXAMPLES,
        formatter_class=formatter,
    )
    target = revoke.add_mutually_exclusive_group(required=True)
    target.add_argument("--origin-jti", metavar="ID", help="revoke one sign-in session")
    target.add_argument("--jti", metavar="ID", help="revoke exactly one token")
    target.add_argument("--sub", metavar="SUB", help="sign a user out: tokens issued until now")
    target.add_argument(
        "--token", metavar="-", help="read a token from stdin (-) and revoke its session"
    )
    _add_redis_options(revoke)
    revoke.add_argument(
        "--max-token-lifetime",
        type=float,
        default=86400,
        metavar="SECONDS",
        help="how long the entry is kept (default: 86400, the longest token lifetime)",
    )
    revoke.set_defaults(handler=cmd_revoke)

    listing = commands.add_parser(
        "revocations",
        help="list the live entries of the shared revocation list",
        description="List the revocations stored in Redis, with their kind and expiry.",
        epilog="examples:\n  cognito-guard revocations --redis redis://127.0.0.1:6379/0 --json\n",
        formatter_class=formatter,
    )
    _add_redis_options(listing)
    listing.add_argument("--json", action="store_true", help="print JSON")
    listing.set_defaults(handler=cmd_revocations)


# -- the parser -----------------------------------------------------------------------------------

_VERIFY_EXAMPLES = """\
examples:
  # paste the token on stdin so it does not end up in your shell history
  pbpaste | cognito-guard verify - --user-pool-id eu-west-1_AbCdEf123 \\
      --client-id 4a1b2c3d4e5f6g7h8i9j0k1l2m --scope orders/read

  # an ID token, as JSON for scripts
  cognito-guard verify - --user-pool-id eu-west-1_AbCdEf123 --token-use id --json < token.txt

  # was it valid at 10:00 UTC yesterday?
  cognito-guard verify - --user-pool-id eu-west-1_AbCdEf123 --at 2026-01-04T10:00:00Z

exit status: 0 valid, 1 rejected, 2 usage error or signing keys unavailable
"""

_DECODE_EXAMPLES = """\
examples:
  pbpaste | cognito-guard decode -
  cognito-guard decode - --json < token.txt | jq .claims.scope

The output is UNVERIFIED: anyone can write a token that decodes. Use `verify` to trust it.
exit status: 0 decoded, 1 not a JWT, 2 usage error
"""

_TOKEN_EXAMPLES = """\
examples:
  export COGNITO_CLIENT_SECRET=...    # never on the command line
  cognito-guard token --domain https://auth.example.com \\
      --client-id 4a1b2c3d4e5f6g7h8i9j0k1l2m --scope orders/read
  curl -H "Authorization: Bearer $(cognito-guard token ...)" https://api.example.com/orders

Each call is a billed client-credentials request; reuse the token until it expires.
exit status: 0 printed, 1 refused by Cognito, 2 usage error or Cognito unreachable
"""

_MAIN_EXAMPLES = """\
examples:
  pbpaste | cognito-guard verify - --user-pool-id eu-west-1_AbCdEf123 --client-id 4a1b...
  pbpaste | cognito-guard decode -
  COGNITO_CLIENT_SECRET=... cognito-guard token --domain https://auth.example.com \\
      --client-id 4a1b... --scope orders/read
  cognito-guard demo

Run `cognito-guard COMMAND --help` for each command's options.
"""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``cognito-guard``."""
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(
        prog="cognito-guard",
        description="Verify, decode and obtain Amazon Cognito tokens.",
        epilog=_MAIN_EXAMPLES,
        formatter_class=formatter,
    )
    parser.add_argument("--version", action="version", version=f"cognito-guard {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    verify = commands.add_parser(
        "verify",
        help="verify a token and explain every check",
        description="Verify a token like CognitoVerifier does and explain each check.",
        epilog=_VERIFY_EXAMPLES,
        formatter_class=formatter,
    )
    verify.add_argument("token", metavar="TOKEN|-", help="the token, or - to read it from stdin")
    pool = verify.add_argument_group("the user pool (one of)")
    pool.add_argument("--user-pool-id", metavar="ID", help="e.g. eu-west-1_AbCdEf123")
    pool.add_argument("--issuer", metavar="URL", help="an explicit issuer (local test issuers)")
    verify.add_argument(
        "--client-id",
        metavar="ID",
        action="append",
        default=[],
        help="an accepted app client id (repeatable); without it any client is accepted",
    )
    verify.add_argument(
        "--token-use",
        choices=("access", "id", "any"),
        default="access",
        help="the kind of token the API expects (default: access)",
    )
    verify.add_argument(
        "--scope", metavar="S", action="append", default=[], help="a required scope (repeatable)"
    )
    verify.add_argument(
        "--group",
        metavar="G",
        action="append",
        default=[],
        help="a group the user must be in (repeatable: any one of them)",
    )
    verify.add_argument("--jwks-uri", metavar="URL", help="fetch the keys from this URL instead")
    verify.add_argument("--leeway", type=float, default=0.0, help="seconds of clock skew allowed")
    verify.add_argument(
        "--at",
        metavar="TIME",
        type=_parse_time,
        help="check as if it were TIME (epoch seconds or ISO 8601)",
    )
    verify.add_argument("--json", action="store_true", help="print the report as JSON")
    verify.set_defaults(handler=cmd_verify)

    decode = commands.add_parser(
        "decode",
        help="print a token's header and claims (UNVERIFIED)",
        description="Print a token's header and claims without verifying anything.",
        epilog=_DECODE_EXAMPLES,
        formatter_class=formatter,
    )
    decode.add_argument("token", metavar="TOKEN|-", help="the token, or - to read it from stdin")
    decode.add_argument(
        "--at", metavar="TIME", type=_parse_time, help="describe times relative to TIME"
    )
    decode.add_argument("--json", action="store_true", help="print JSON")
    decode.set_defaults(handler=cmd_decode)

    token = commands.add_parser(
        "token",
        help="print a client-credentials (M2M) access token",
        description="Get an access token with the client-credentials grant and print it.",
        epilog=_TOKEN_EXAMPLES,
        formatter_class=formatter,
    )
    token.add_argument("--domain", required=True, help="the hosted or custom domain URL")
    token.add_argument("--client-id", required=True, metavar="ID", help="the app client id")
    token.add_argument(
        "--scope", metavar="S", action="append", default=[], help="a scope to request (repeatable)"
    )
    token.add_argument(
        "--secret-env",
        metavar="NAME",
        default="COGNITO_CLIENT_SECRET",
        help="the environment variable holding the client secret (default: %(default)s)",
    )
    token.add_argument("--json", action="store_true", help="print the token response as JSON")
    token.set_defaults(handler=cmd_token)

    demo = commands.add_parser(
        "demo",
        help="run the local demo: a local issuer, good and bad tokens, a verdict table",
        description="Run the local demo (no AWS account needed).",
        epilog="examples:\n  cognito-guard demo\n",
        formatter_class=formatter,
    )
    demo.set_defaults(handler=cmd_demo)
    _add_revocation_commands(commands, formatter)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``cognito-guard`` with ``argv`` (default: the command line); return the exit status.

    Example: ``main(["decode", token])``
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help (0) and usage errors (2)
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    handler: Callable[[argparse.Namespace], int] = args.handler
    return handler(args)


if __name__ == "__main__":
    sys.exit(main())
