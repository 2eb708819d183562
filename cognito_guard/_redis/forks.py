"""One fork hook for every Redis user of the process: what it registers is reset in a forked
child (gunicorn ``--preload``, uWSGI), where only the forking thread survives."""

from __future__ import annotations

import os
import weakref
from typing import Protocol

__all__ = ["AfterFork", "at_fork", "forget_at_fork"]


class AfterFork(Protocol):
    """Anything holding locks or threads that a forked child must make again."""

    def after_fork(self) -> None: ...


# Weak, so that the registry keeps nothing alive that its owner abandoned; a dict (not a set),
# so that the child resets in the order of registration: a connection is registered before the
# feature that owns it, and is fresh before that feature starts a thread using it.
_LIVE: weakref.WeakKeyDictionary[AfterFork, None] = weakref.WeakKeyDictionary()


def at_fork(obj: AfterFork) -> None:
    """Call ``obj.after_fork()`` in every forked child of this process, while ``obj`` lives,
    after those registered before it."""
    _LIVE[obj] = None


def forget_at_fork(obj: AfterFork) -> None:
    """Stop calling ``obj.after_fork()`` in forked children (``obj`` is closed)."""
    _LIVE.pop(obj, None)


def _after_fork_in_child() -> None:
    # A thread of the parent (a readiness ping, a lock holder, a sync thread) may have held a lock
    # at the fork: in the child that thread does not exist and the lock would stay held for good.
    for obj in list(_LIVE):
        obj.after_fork()


if hasattr(os, "register_at_fork"):  # not on Windows
    os.register_at_fork(after_in_child=_after_fork_in_child)
