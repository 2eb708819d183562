"""Service: what a test starts and stops, usable as a ``with`` block."""

from __future__ import annotations

from types import TracebackType
from typing import TypeVar

__all__ = ["Service"]

_S = TypeVar("_S", bound="Service")


class Service:
    """Started on entering a ``with`` block and closed on leaving it, even on an error.

    Subclasses define :meth:`start` (returning self) and :meth:`stop`; one that holds more than
    a running server (a directory, a file) frees it in :meth:`close`.
    """

    def start(self: _S) -> _S:
        """Start; return self."""
        raise NotImplementedError

    def stop(self) -> None:
        """Stop; :meth:`start` may be called again."""
        raise NotImplementedError

    def close(self) -> None:
        """Stop for good (here: only :meth:`stop`)."""
        self.stop()

    def __enter__(self: _S) -> _S:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
