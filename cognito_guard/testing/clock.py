"""A clock that tests move by hand."""

from __future__ import annotations

__all__ = ["ManualClock"]


class ManualClock:
    """Epoch seconds that change only when the test says so; pass it as ``clock=``.

    Example::

        clock = ManualClock()
        verifier = issuer.verifier(clock=clock)
        clock.advance(3600)            # the token minted before is now expired
    """

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        """Move the clock forward by ``seconds``."""
        self.now += seconds
