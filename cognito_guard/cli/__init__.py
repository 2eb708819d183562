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
from collections.abc import Callable, Sequence

# The table, the time words, the log collector and the command's "not a JWT" error stay importable
# from here: tests use them.
from ..errors import NotAJWT as NotAJWT
from ._explain import CHECKS as CHECKS
from ._explain import Check as Check
from ._explain import Row as Row
from ._explain import explain as explain
from ._format import EXIT_REJECTED as EXIT_REJECTED
from ._format import EXIT_USAGE as EXIT_USAGE
from ._format import EXIT_VALID as EXIT_VALID
from ._format import _library_warnings as _library_warnings
from ._format import iso as iso
from ._format import relative as relative
from ._parser import build_parser as build_parser

__all__ = ["main"]


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
