"""Waiting in tests for what happens on another thread, process or server: bounded polls."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx


def wait_for(
    condition: Callable[[], object], timeout: float = 10.0, what: str = "the condition"
) -> None:
    """Poll ``condition`` until it is true; an AssertionError naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not met within {timeout:g} s")
        time.sleep(0.005)


def wait_for_status(
    url: str, status: int, timeout: float = 10.0, headers: dict[str, str] | None = None
) -> httpx.Response:
    """GET ``url`` until it answers ``status`` (or ``timeout``); the last answer."""
    deadline = time.monotonic() + timeout
    while True:
        response = httpx.get(url, headers=headers, timeout=10)
        if response.status_code == status or time.monotonic() > deadline:
            return response
        time.sleep(0.05)
