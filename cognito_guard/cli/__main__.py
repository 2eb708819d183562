"""``python -m cognito_guard.cli``: the same as the ``cognito-guard`` command."""

from __future__ import annotations

import sys

from . import main

# Importing this module (pkgutil.walk_packages, documentation tools) must not run the command.
if __name__ == "__main__":
    sys.exit(main())
