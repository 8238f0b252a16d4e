"""One monotonic deadline for a whole operation: requests, retries and sleeps all count."""

from __future__ import annotations

import time
from collections.abc import Callable

__all__ = ["Deadline"]


class Deadline:
    """A point in monotonic time, or none (``timeout=None`` waits without limit)."""

    __slots__ = ("_clock", "_expires_at", "timeout")

    def __init__(
        self, timeout: float | None, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.timeout = timeout
        self._clock = clock
        self._expires_at = None if timeout is None else clock() + timeout

    @property
    def unlimited(self) -> bool:
        return self._expires_at is None

    def remaining(self) -> float | None:
        """Seconds left (never negative), or ``None`` without a limit."""
        if self._expires_at is None:
            return None
        return max(0.0, self._expires_at - self._clock())

    def expired(self) -> bool:
        remaining = self.remaining()
        return remaining is not None and remaining <= 0.0

    @classmethod
    def earliest(cls, first: Deadline, second: Deadline) -> Deadline:
        """Whichever of two deadlines (on the same clock) ends first."""
        if second._expires_at is None or (
            first._expires_at is not None and first._expires_at <= second._expires_at
        ):
            return first
        return second

    def cap(self, seconds: float) -> float:
        """``seconds``, shortened so it ends no later than the deadline."""
        remaining = self.remaining()
        return seconds if remaining is None else min(seconds, remaining)
