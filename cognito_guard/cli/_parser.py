"""The argument parser of ``cognito-guard``: its commands, their options and examples."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from .._version import __version__
from ._cmd_decode import cmd_decode
from ._cmd_demo import cmd_demo
from ._cmd_revoke import REVOCATIONS_URL_ENV, cmd_revocations, cmd_revoke
from ._cmd_token import cmd_token
from ._cmd_verify import AUDIENCE_ENV, cmd_verify

# The words of each command, in one block: the line `cognito-guard --help` lists, the description
# that opens `cognito-guard COMMAND --help`, then the examples that close it.

_MAIN = """\
Verify, decode and obtain Amazon Cognito tokens.
examples:
  pbpaste | cognito-guard verify - --user-pool-id eu-west-1_AbCdEf123 --client-id 4a1b...
  pbpaste | cognito-guard decode -
  COGNITO_CLIENT_SECRET=... cognito-guard token --domain https://auth.example.com \\
      --client-id 4a1b... --scope orders/read
  cognito-guard demo

Run `cognito-guard COMMAND --help` for each command's options.
"""

_VERIFY = """\
verify a token and explain every check
Verify a token like CognitoVerifier does and explain each check.
examples:
  # paste the token on stdin so it does not end up in your shell history
  pbpaste | cognito-guard verify - --user-pool-id eu-west-1_AbCdEf123 \\
      --client-id 4a1b2c3d4e5f6g7h8i9j0k1l2m --scope orders/read

  # an ID token, as JSON for scripts
  cognito-guard verify - --user-pool-id eu-west-1_AbCdEf123 --token-use id --json < token.txt

  # was it valid at 10:00 UTC yesterday?
  cognito-guard verify - --user-pool-id eu-west-1_AbCdEf123 --at 2026-01-04T10:00:00Z

  # was it issued for this API (resource=https://api.example.com at sign-in)?
  cognito-guard verify - --user-pool-id eu-west-1_AbCdEf123 --audience https://api.example.com

exit status: 0 valid, 1 rejected, 2 usage error or signing keys unavailable
"""

_DECODE = """\
print a token's header and claims (UNVERIFIED)
Print a token's header and claims without verifying anything.
examples:
  pbpaste | cognito-guard decode -
  cognito-guard decode - --json < token.txt | jq .claims.scope

The output is UNVERIFIED: anyone can write a token that decodes. Use `verify` to trust it.
exit status: 0 decoded, 1 not a JWT, 2 usage error
"""

_TOKEN = """\
print a client-credentials (M2M) access token
Get an access token with the client-credentials grant and print it.
examples:
  export COGNITO_CLIENT_SECRET=...    # never on the command line
  cognito-guard token --domain https://auth.example.com \\
      --client-id 4a1b2c3d4e5f6g7h8i9j0k1l2m --scope orders/read
  curl -H "Authorization: Bearer $(cognito-guard token ...)" https://api.example.com/orders

Each call is a billed client-credentials request; reuse the token until it expires.
exit status: 0 printed, 1 refused by Cognito, 2 usage error or Cognito unreachable
"""

_DEMO = """\
run the local demo: a local issuer, good and bad tokens, a verdict table
Run the local demo (no AWS account needed).
examples:
  cognito-guard demo
"""

_REVOKE = """\
revoke a token, a session or every session of a user, in every API process
Record a revocation in the Redis list every RedisRevocations shares.
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

_REVOCATIONS = """\
list the live entries of the shared revocation list
List the revocations stored in Redis, with their kind and expiry.
examples:
  cognito-guard revocations --redis redis://127.0.0.1:6379/0 --json
"""


# -- option types (argparse names the option when they refuse a value) ---------------------------


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
    """A positive, finite number of seconds."""
    try:
        seconds = float(value)
    except ValueError:
        seconds = math.nan
    if not (0 < seconds < math.inf):
        raise argparse.ArgumentTypeError(f"{value!r} is not a positive number of seconds")
    return seconds


# -- the commands ---------------------------------------------------------------------------------


def _command(
    commands: Any, name: str, handler: Callable[[argparse.Namespace], int], words: str
) -> argparse.ArgumentParser:
    """Add the command ``name``, run by ``handler``, described by its block of ``words``."""
    summary, description, epilog = words.split("\n", 2)
    command: argparse.ArgumentParser = commands.add_parser(
        name,
        help=summary,
        description=description,
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    command.set_defaults(handler=handler)
    return command


def _repeatable(command: Any, option: str, metavar: str, text: str) -> None:
    command.add_argument(option, metavar=metavar, action="append", default=[], help=text)


def _add_token_argument(command: argparse.ArgumentParser) -> None:
    command.add_argument("token", metavar="TOKEN|-", help="the token, or - to read it from stdin")


def _add_verify(commands: Any) -> None:
    verify = _command(commands, "verify", cmd_verify, _VERIFY)
    _add_token_argument(verify)
    pool = verify.add_argument_group("the user pool (one of)")
    pool.add_argument("--user-pool-id", metavar="ID", help="e.g. eu-west-1_AbCdEf123")
    pool.add_argument("--issuer", metavar="URL", help="an explicit issuer (local test issuers)")
    _repeatable(
        verify,
        "--client-id",
        "ID",
        "an accepted app client id (repeatable); without it any client is accepted",
    )
    verify.add_argument(
        "--token-use",
        choices=("access", "id", "any"),
        default="access",
        help="the kind of token the API expects (default: access)",
    )
    _repeatable(
        verify,
        "--audience",
        "URL",
        f"a resource the access token's aud must name (repeatable: any one of them); default: "
        f"${AUDIENCE_ENV}, space- or comma-separated",
    )
    _repeatable(verify, "--scope", "S", "a required scope (repeatable)")
    _repeatable(verify, "--group", "G", "a group the user must be in (repeatable: any one of them)")
    verify.add_argument("--jwks-uri", metavar="URL", help="fetch the keys from this URL instead")
    verify.add_argument("--leeway", type=float, default=0.0, help="seconds of clock skew allowed")
    verify.add_argument(
        "--at",
        metavar="TIME",
        type=_parse_time,
        help="check as if it were TIME (epoch seconds or ISO 8601)",
    )
    verify.add_argument("--json", action="store_true", help="print the report as JSON")


def _add_decode(commands: Any) -> None:
    decode = _command(commands, "decode", cmd_decode, _DECODE)
    _add_token_argument(decode)
    decode.add_argument(
        "--at", metavar="TIME", type=_parse_time, help="describe times relative to TIME"
    )
    decode.add_argument("--json", action="store_true", help="print JSON")


def _add_token(commands: Any) -> None:
    token = _command(commands, "token", cmd_token, _TOKEN)
    token.add_argument("--domain", required=True, help="the hosted or custom domain URL")
    token.add_argument("--client-id", required=True, metavar="ID", help="the app client id")
    _repeatable(token, "--scope", "S", "a scope to request (repeatable)")
    token.add_argument(
        "--secret-env",
        metavar="NAME",
        default="COGNITO_CLIENT_SECRET",
        help="the environment variable holding the client secret (default: %(default)s)",
    )
    token.add_argument("--json", action="store_true", help="print the token response as JSON")


def _add_demo(commands: Any) -> None:
    _command(commands, "demo", cmd_demo, _DEMO)


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


def _add_revoke(commands: Any) -> None:
    revoke = _command(commands, "revoke", cmd_revoke, _REVOKE)
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


def _add_revocations(commands: Any) -> None:
    listing = _command(commands, "revocations", cmd_revocations, _REVOCATIONS)
    _add_redis_options(listing)
    listing.add_argument("--json", action="store_true", help="print JSON")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``cognito-guard``."""
    description, epilog = _MAIN.split("\n", 1)
    parser = argparse.ArgumentParser(
        prog="cognito-guard",
        description=description,
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"cognito-guard {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for add in (_add_verify, _add_decode, _add_token, _add_demo, _add_revoke, _add_revocations):
        add(commands)
    return parser
