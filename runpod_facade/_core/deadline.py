"""The caller's time limits. One monotonic deadline for a whole operation (requests, retries
and sleeps all count), and each request's timeouts, decided once here: the client's per-phase
timeouts, a long-poll's read stretched past the server's hold, and every phase capped by what
remains of the deadline. The core puts them on each ``Send``; drivers and transports only
perform them."""

from __future__ import annotations

import time
from collections.abc import Callable

from .._constants import MIN_REQUEST_TIMEOUT
from .._transports.base import ApiRequest, Safety, Timeouts

__all__ = ["LONG_POLL_READ_MARGIN", "SUBMIT_READ_GRACE", "Deadline", "effective_timeouts"]

#: A long-poll's read runs this much past the server's hold: the client must never give up
#: before the server answers.
LONG_POLL_READ_MARGIN = 10.0
#: A submit's reply carries the job id, so its read may run this long past the deadline.
SUBMIT_READ_GRACE = 2.0


class Deadline:
    """A point in monotonic time, or none (``timeout=None`` waits without limit)."""

    __slots__ = ("_clock", "_expires_at", "timeout")

    def __init__(
        self, timeout: float | None, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.timeout = timeout
        self._clock = clock
        self._expires_at = None if timeout is None else clock() + timeout

    def now(self) -> float:
        """The deadline's clock, read now (how long something took, on the same clock)."""
        return self._clock()

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


def effective_timeouts(default: Timeouts, request: ApiRequest, cap: float | None) -> Timeouts:
    """The timeouts of one request: the client's ``default``, a long-poll's read override
    (its hold plus :data:`LONG_POLL_READ_MARGIN`), and every phase capped at ``cap`` (what
    remains of the caller's deadline; ``None``: no deadline)."""
    hold = request.hold
    if cap is None and hold is None:
        # Most requests: the client's own timeouts, as they are (the same object each time,
        # so a transport converts it to its library's form once).
        return default
    long_read = None if hold is None else hold + LONG_POLL_READ_MARGIN
    read = default.read if long_read is None else long_read
    # A long-poll waiting for a pooled connection is still waiting for its job: let it queue
    # for as long as the deadline allows, so thousands of waiters share a bounded pool.
    pool = default.pool if long_read is None else None
    connect, write = default.connect, default.write
    if cap is None:
        return _long_poll(default, read)
    # Every phase at most `limit` (the deadline's remainder, but never below the minimum);
    # a phase without a limit gets exactly that.
    limit = cap if cap > MIN_REQUEST_TIMEOUT else MIN_REQUEST_TIMEOUT
    if request.safety is Safety.SUBMIT:
        # A submit's reply carries the job id, so its read gets a grace period past the
        # deadline (the core already fits the server's hold inside it): a late reply still
        # yields the id, while a hung server costs at most the grace.
        grace = cap + SUBMIT_READ_GRACE
        read = grace if read is None or read > grace else read
    else:
        read = limit if read is None or read > limit else read
    return Timeouts(
        connect=limit if connect is None or connect > limit else connect,
        read=read,
        write=limit if write is None or write > limit else write,
        pool=limit if pool is None or pool > limit else pool,
    )


#: Long-poll timeouts without a deadline, by the identity of the client's timeouts and the
#: read: each entry holds its ``default``, so that id is not reused while it is cached.
_LONG_POLLS: dict[tuple[int, float | None], tuple[Timeouts, Timeouts]] = {}


def _long_poll(default: Timeouts, read: float | None) -> Timeouts:
    """A long-poll's timeouts without a deadline: one object per client timeouts and hold
    (a handful), which a transport then converts to its library's form once. Found by
    identity, not hashed: a hash of ``Timeouts`` is a Python-level call."""
    key = (id(default), read)
    seen = _LONG_POLLS.get(key)
    if seen is not None and seen[0] is default:
        return seen[1]
    if len(_LONG_POLLS) >= 64:
        _LONG_POLLS.clear()
    made = Timeouts(connect=default.connect, read=read, write=default.write, pool=None)
    _LONG_POLLS[key] = (default, made)
    return made
