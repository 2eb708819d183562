"""``cognito-guard revoke`` and ``revocations``: write and list the shared revocation list."""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any

from ..errors import ConfigurationError, NotAJWT
from ._format import EXIT_REJECTED, EXIT_USAGE, EXIT_VALID, _fail, _json_out, iso, relative
from ._input import _read_token, _read_unverified

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
    from .._redis import url_secrets

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
            _fail(command, exc)
            return None
    url = os.environ.get(REVOCATIONS_URL_ENV)
    if url:
        return url, f"${REVOCATIONS_URL_ENV}"
    _fail(command, f"set ${REVOCATIONS_URL_ENV}, or pass --redis-file PATH (or --redis URL)")
    return None


def _revocations_connection(args: argparse.Namespace, command: str) -> Any:
    """The RedisConnection of the command's Redis URL; None after a message."""
    from .._redis import RedisConnection

    found = _revocations_url(args, command)
    if found is None:
        return None
    url, source = found
    try:
        return RedisConnection(url, timeout=args.timeout, what=source)
    except ConfigurationError as exc:
        _fail(command, exc)
        return None


def _redis_failure(command: str, conn: Any, exc: BaseException) -> int:
    from .._redis import describe

    return _fail(command, f"Redis at {conn.url} failed: {describe(exc, conn.secrets)}")


def _token_target(value: str) -> tuple[str, str]:
    """(kind, id) to revoke for a token read with ``--token``: its session, else itself."""
    _header, claims = _read_unverified(_read_token(value))
    origin, jti = claims.get("origin_jti"), claims.get("jti")
    if isinstance(origin, str) and origin:
        return "origin_jti", origin
    if isinstance(jti, str) and jti:
        return "jti", jti
    raise ConfigurationError("the token has neither an origin_jti nor a jti claim")


def cmd_revoke(args: argparse.Namespace) -> int:
    """Record a revocation in the shared list: every process refuses it within about a second."""
    from ..revocation import redis_failures, write_entry

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
        return _fail("revoke", exc)
    except NotAJWT as exc:
        return _fail("revoke", f"not a JWT: {exc}", EXIT_REJECTED)
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
        return _fail("revoke", exc)
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
    from ..revocation import read_entries, redis_failures

    conn = _revocations_connection(args, "revocations")
    if conn is None:
        return EXIT_USAGE
    now = time.time()
    try:
        entries, bad = read_entries(conn, args.prefix, now)
    except ConfigurationError as exc:  # the kind of server rules the URL out (/1 on a cluster)
        return _fail("revocations", exc)
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
