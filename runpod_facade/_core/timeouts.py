"""Each request's timeouts, decided once: the client's per-phase timeouts, a long-poll's read
override, and every phase capped by what remains of the caller's deadline. Drivers only
perform what is decided here."""

from __future__ import annotations

from .._constants import MIN_REQUEST_TIMEOUT
from .._transports.base import Safety, Timeouts
from .effects import Send

__all__ = ["SUBMIT_READ_GRACE", "effective_timeouts"]


#: A submit's reply carries the job id, so its read may run this long past the deadline.
SUBMIT_READ_GRACE = 2.0


def effective_timeouts(default: Timeouts, send: Send) -> Timeouts:
    """The client's timeouts for one request: a long-poll's read override, and every phase
    capped at ``send.cap`` (what remains of the caller's deadline)."""
    request = send.request
    if send.cap is None and request.read_timeout is None:
        # Most requests: the client's own timeouts, as they are (the same object each time,
        # so a transport converts it to its library's form once).
        return default
    read = request.read_timeout if request.read_timeout is not None else default.read

    def capped(value: float | None) -> float | None:
        if send.cap is None:
            return value
        floor = max(send.cap, MIN_REQUEST_TIMEOUT)
        return floor if value is None else min(value, floor)

    # A long-poll waiting for a pooled connection is still waiting for its job: let it queue
    # for as long as the deadline allows, so thousands of waiters share a bounded pool.
    pool = None if request.read_timeout is not None else default.pool
    # A submit's reply carries the job id, so its read gets a grace period past the deadline
    # (the core already fits the server's hold inside it): a late reply still yields the id,
    # while a hung server costs at most the grace.
    if request.safety is Safety.SUBMIT and send.cap is not None:
        limit = send.cap + SUBMIT_READ_GRACE
        read = limit if read is None else min(read, limit)
    else:
        read = capped(read)
    return Timeouts(
        connect=capped(default.connect), read=read, write=capped(default.write), pool=capped(pool)
    )
