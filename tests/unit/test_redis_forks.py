"""The one fork hook of the Redis package: what a forked child resets, and in which order."""

from __future__ import annotations

import gc
import os
import warnings

import pytest

from cognito_guard._redis.forks import at_fork, forget_at_fork


class _Recorder:
    def __init__(self, name: str, fd: int) -> None:
        self.name = name
        self.fd = fd

    def after_fork(self) -> None:
        os.write(self.fd, self.name.encode() + b" ")


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_resets_in_registration_order_without_the_forgotten() -> None:
    """A connection is registered before the feature owning it, and must be fresh first."""
    read, write = os.pipe()
    try:
        first, forgotten, dropped, last = (
            _Recorder(name, write) for name in ("first", "forgotten", "dropped", "last")
        )
        for obj in (first, forgotten, dropped, last):
            at_fork(obj)
        at_fork(first)  # registering again keeps the first place
        forget_at_fork(forgotten)
        del dropped  # the registry holds it weakly: gone with its owner's last reference
        gc.collect()
        with warnings.catch_warnings():  # Python 3.12+ warns about forking with threads
            warnings.simplefilter("ignore", DeprecationWarning)
            pid = os.fork()
        if pid == 0:
            os._exit(0)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        os.close(write)
        write = -1
        with os.fdopen(read, "rb") as pipe:
            read = -1
            assert pipe.read().split() == [b"first", b"last"]
    finally:
        forget_at_fork(first)
        forget_at_fork(last)
        for fd in (read, write):
            if fd >= 0:
                os.close(fd)
