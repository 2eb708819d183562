"""``cognito-guard demo``: the local demo (no AWS account needed)."""

from __future__ import annotations

import argparse


def cmd_demo(args: argparse.Namespace) -> int:
    """Run the local demo (a local issuer, good and bad tokens, the three example apps)."""
    from ..demo import main as demo  # imported here: it pulls in httpx and the test servers

    return demo()
