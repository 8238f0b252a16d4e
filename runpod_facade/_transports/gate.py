"""Admission of requests on one asyncio client, shared by every async transport.

An ``AsyncEndpoint`` may have thousands of calls pending, and the HTTP libraries' own pools
queue badly (httpcore rescans every waiter on each event and hands a freed connection to
several at once). So the transport queues calls itself and lets at most ``limit`` requests into
the library — no more than its pool holds, so the library never queues. Long-polls (requests
with a server-side hold) take at most ``limit - reserve`` of those slots: a short call
(``status``, ``run``, ``cancel`` …) never waits behind long-polls, however many are pending.

The gate, its queue's futures and the HTTP client belong to one event loop:
:class:`GatedTransport` renews them on a new loop (a second ``asyncio.run()``) when it owns the
client, and closes its own client when the loop shuts down.
"""

from __future__ import annotations

import asyncio
import functools
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import Generic, TypeVar

from .._constants import CALLER_CLIENT_IN_FLIGHT, MAX_IN_FLIGHT, SHORT_CALL_RESERVE
from .._exceptions import RunpodError
from .base import ApiRequest, ApiResponse, Delivery, Timeouts, TransportFailure
from .wakeup import Waker, waker_for

__all__ = ["POOL_TIMEOUT", "Gate", "GatedTransport", "close_at_loop_shutdown"]

C = TypeVar("C")

#: No slot came free within the pool timeout: the request never left.
POOL_TIMEOUT = TransportFailure(
    delivery=Delivery.NOT_SENT, timeout=True, message="PoolTimeout: no connection free"
)


class Gate:
    """At most ``limit`` requests in flight, of which at most ``limit - reserve`` long-polls.
    Waiters queue in arrival order, short calls ahead of long-polls; a freed slot is handed to
    the next admissible waiter directly (its count taken on its behalf), so no one else can
    take it in between."""

    __slots__ = ("_long", "_short", "in_flight", "limit", "long_in_flight", "long_limit")

    def __init__(self, limit: int = MAX_IN_FLIGHT, reserve: int = SHORT_CALL_RESERVE) -> None:
        if not 0 < reserve < limit:
            raise ValueError(f"need 0 < reserve < limit, got reserve={reserve}, limit={limit}")
        self.limit = limit
        self.long_limit = limit - reserve
        self.in_flight = 0
        self.long_in_flight = 0
        self._short: deque[asyncio.Future[None]] = deque()
        self._long: deque[asyncio.Future[None]] = deque()

    def try_enter(self, long: bool) -> bool:
        """Take a slot now if one is free and nobody of the same kind queues for it."""
        if self.in_flight >= self.limit:
            return False
        if long:
            if self._long or self.long_in_flight >= self.long_limit:
                return False
            self.long_in_flight += 1
        elif self._short:
            return False
        self.in_flight += 1
        return True

    async def enter(self, long: bool, timeout: float | None) -> bool:
        """Queue for a slot; ``False`` if ``timeout`` seconds passed first (call this only
        after :meth:`try_enter` failed: the fast path needs no coroutine or timer)."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        (self._long if long else self._short).append(future)
        try:
            async with asyncio.timeout(timeout):  # None: no limit
                await future
        except TimeoutError:
            # Granted just as the timeout fired: the slot is ours, use it.
            return future.done() and not future.cancelled()
        except BaseException:
            if future.done() and not future.cancelled():
                self.leave(long)  # granted, then cancelled before it could be used
            raise
        return True

    def leave(self, long: bool) -> None:
        """Give a slot back (exactly once per successful enter)."""
        self.in_flight -= 1
        if long:
            self.long_in_flight -= 1
        if self._short or self._long:
            self._wake()

    def _wake(self) -> None:
        # Abandoned waiters (timed out, cancelled) stay queued until they are reached here.
        while self.in_flight < self.limit:
            long = not self._short
            if long and not (self._long and self.long_in_flight < self.long_limit):
                return
            future = (self._long if long else self._short).popleft()
            if future.done():
                continue
            self.in_flight += 1
            if long:
                self.long_in_flight += 1
            future.set_result(None)


async def _closing(close: Callable[[], Awaitable[object]]) -> AsyncGenerator[None, None]:
    try:
        yield
    finally:
        await close()


async def close_at_loop_shutdown(
    close: Callable[[], Awaitable[object]],
) -> AsyncGenerator[None, None]:
    """Have the running loop await ``close()`` when it shuts down. Returns an async generator
    the loop knows about: asyncio.run() (and asyncio.Runner) close those at shutdown, while
    the loop still runs, so a client's connections close cleanly. Keep it (the loop holds it
    weakly) and ``aclose()`` it to close earlier."""
    closer = _closing(close)
    await closer.__anext__()
    return closer


class GatedTransport(ABC, Generic[C]):
    """An async transport over an HTTP client ``C``: gated, bound to one loop at a time.

    Subclasses make clients (:meth:`_new_client`), close them (:meth:`_close_client`) and
    perform one exchange (:meth:`_exchange`). A client passed in by the caller is used as it
    is, on the loop it first ran on, and never closed here.
    """

    _what = "http_client"

    def __init__(
        self,
        client: C | None,
        *,
        max_in_flight: int | None = None,
        reserve: int = SHORT_CALL_RESERVE,
    ) -> None:
        self.owns_client = client is None
        if max_in_flight is None:  # what the pool holds: ours, or most likely the caller's
            max_in_flight = MAX_IN_FLIGHT if client is None else CALLER_CLIENT_IN_FLIGHT
        self.max_in_flight = max_in_flight
        self.reserve = reserve
        #: The client in use on the current loop (``None`` before the first request).
        self.client = client
        self._loop: asyncio.AbstractEventLoop | None = None
        self._gate = Gate(max_in_flight, reserve)  # checks the sizes now
        self._closer: AsyncGenerator[None, None] | None = None
        # Wakes the main thread's loop while requests are in flight (see ``wakeup``).
        self._waker: Waker | None = None

    @abstractmethod
    def _new_client(self) -> C: ...

    @abstractmethod
    async def _close_client(self, client: C) -> None: ...

    @abstractmethod
    async def _exchange(
        self, client: C, request: ApiRequest, timeouts: Timeouts
    ) -> ApiResponse | TransportFailure: ...

    async def _bind(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._loop is not None and not self.owns_client:
            raise RunpodError(
                f"this AsyncEndpoint's {self._what} was used on another event loop; it works "
                "on one loop only (create it and the AsyncEndpoint inside the same "
                "asyncio.run()), or let the AsyncEndpoint make its own"
            )
        self._loop = loop
        self._gate = gate = Gate(self.max_in_flight, self.reserve)
        self._waker = waker_for(loop, lambda: gate.in_flight > 0)
        if self.owns_client:
            # The previous loop's client (if any) was closed at that loop's shutdown, or its
            # connections died with the loop: start afresh on this one.
            self.client = client = self._new_client()
            close = functools.partial(self._close_client, client)
            self._closer = await close_at_loop_shutdown(close)

    async def send(self, request: ApiRequest, timeouts: Timeouts) -> ApiResponse | TransportFailure:
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            await self._bind(loop)
        gate, client = self._gate, self.client
        assert client is not None
        long = request.hold is not None
        if not gate.try_enter(long) and not await gate.enter(long, timeouts.pool):
            return POOL_TIMEOUT
        waker = self._waker
        if waker is not None and not waker.armed:
            waker.arm()  # a Ctrl-C is not left waiting for the server's reply
        # The request is built only now: a call queued above holds no request object.
        try:
            return await self._exchange(client, request, timeouts)
        finally:
            gate.leave(long)

    async def aclose(self) -> None:
        closer, self._closer = self._closer, None
        if closer is not None:
            await closer.aclose()
