"""How the commands answer: exit statuses, times in words, marks, JSON, option names in messages."""

from __future__ import annotations

import contextlib
import json
import logging
import logging.handlers
import math
import re
import sys
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from typing import Any, TextIO

EXIT_VALID = 0
EXIT_REJECTED = 1
EXIT_USAGE = 2


def _fail(command: str, message: object, status: int = EXIT_USAGE) -> int:
    """Say ``cognito-guard COMMAND: message`` on stderr; return the exit status to answer with."""
    print(f"cognito-guard {command}: {message}", file=sys.stderr)
    return status


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


def _is_time(value: object) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)


def _marks(stream: TextIO) -> dict[str, str]:
    fancy = {"pass": "✓", "fail": "✗", "skipped": "-", "not_reached": "·"}
    try:
        "".join(fancy.values()).encode(stream.encoding or "ascii")
    except (UnicodeEncodeError, LookupError):
        return {"pass": "PASS", "fail": "FAIL", "skipped": "skip", "not_reached": "----"}
    return {k: f"{v} {k.replace('_', ' ').upper():<11}" for k, v in fancy.items()}


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


def _json_out(value: Any) -> None:
    print(json.dumps(value, indent=2, sort_keys=False, default=str))
