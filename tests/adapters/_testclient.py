"""Starlette's ``TestClient``, on the HTTP client Starlette recommends.

Starlette runs its test client on ``httpx2`` and deprecates ``httpx`` there. ``httpx2`` needs
Python 3.11, so on 3.10 the client still runs on ``httpx``, and only there is that deprecation
expected and silenced.
"""

from __future__ import annotations

import importlib.util
import warnings

with warnings.catch_warnings():
    if importlib.util.find_spec("httpx2") is None:
        warnings.filterwarnings("ignore", message=r"Using `httpx` with `starlette\.testclient`")
    from starlette.testclient import TestClient

__all__ = ["TestClient"]
