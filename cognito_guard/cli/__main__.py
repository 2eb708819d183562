"""``python -m cognito_guard.cli``: the same as the ``cognito-guard`` command."""

from __future__ import annotations

import sys

from . import main

sys.exit(main())
