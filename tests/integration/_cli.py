"""Running the ``cognito-guard`` command line as a user does: a new process."""

from __future__ import annotations

import os
import subprocess
import sys


def cli(
    *args: str, stdin: str = "", env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``python -m cognito_guard.cli ARGS``, its output captured. The caller's ``COGNITO_*``
    variables are left out, so that only ``env`` configures it."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("COGNITO_")}
    return subprocess.run(  # noqa: S603 - our own module, fixed arguments
        [sys.executable, "-m", "cognito_guard.cli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        env={**base, **(env or {})},
        check=False,
    )
