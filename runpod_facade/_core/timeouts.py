"""Each request's timeouts, decided once, here: the client's per-phase timeouts, a long-poll's
read stretched past the server's hold, and every phase capped by what remains of the caller's
deadline. The core puts the result on each ``Send``; drivers and transports only perform it."""

from __future__ import annotations

from .._constants import MIN_REQUEST_TIMEOUT
from .._transports.base import ApiRequest, Safety, Timeouts

__all__ = ["LONG_POLL_READ_MARGIN", "SUBMIT_READ_GRACE", "effective_timeouts"]

#: A long-poll's read runs this much past the server's hold: the client must never give up
#: before the server answers.
LONG_POLL_READ_MARGIN = 10.0

#: A submit's reply carries the job id, so its read may run this long past the deadline.
SUBMIT_READ_GRACE = 2.0


def effective_timeouts(default: Timeouts, request: ApiRequest, cap: float | None) -> Timeouts:
    """The timeouts of one request: the client's ``default``, a long-poll's read override
    (its hold plus :data:`LONG_POLL_READ_MARGIN`), and every phase capped at ``cap`` (what
    remains of the caller's deadline; ``None``: no deadline)."""
    long_read = None if request.hold is None else request.hold + LONG_POLL_READ_MARGIN
    if cap is None and long_read is None:
        # Most requests: the client's own timeouts, as they are (the same object each time,
        # so a transport converts it to its library's form once).
        return default
    read = long_read if long_read is not None else default.read

    def capped(value: float | None) -> float | None:
        if cap is None:
            return value
        floor = max(cap, MIN_REQUEST_TIMEOUT)
        return floor if value is None else min(value, floor)

    # A long-poll waiting for a pooled connection is still waiting for its job: let it queue
    # for as long as the deadline allows, so thousands of waiters share a bounded pool.
    pool = None if long_read is not None else default.pool
    # A submit's reply carries the job id, so its read gets a grace period past the deadline
    # (the core already fits the server's hold inside it): a late reply still yields the id,
    # while a hung server costs at most the grace.
    if request.safety is Safety.SUBMIT and cap is not None:
        limit = cap + SUBMIT_READ_GRACE
        read = limit if read is None else min(read, limit)
    else:
        read = capped(read)
    return Timeouts(
        connect=capped(default.connect), read=read, write=capped(default.write), pool=capped(pool)
    )
