"""The asyncio driver: the same effects as ``SyncDriver``, awaited on the running loop."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import KW_ONLY, dataclass, field
from typing import Any

from .._core.effects import Emit, Operation, Send, Sleep
from .._transports.base import AsyncTransport
from .._transports.wakeup import InFlight
from .base import DriverBase, T, log_outcome, logger

__all__ = ["AsyncDriver"]


@dataclass(eq=False, repr=False)
class AsyncDriver(DriverBase):
    """Performs effects with an async transport and ``asyncio.sleep``.

    A task cancellation (or Ctrl-C under ``asyncio.run``) while an effect is awaited is
    thrown into the operation, which may still send its clean-up requests (each bounded by
    its own deadline) before the cancellation propagates.
    """

    transport: AsyncTransport
    _: KW_ONLY
    sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep
    what: str = "AsyncEndpoint"
    closed: bool = field(default=False, init=False)
    # A pause (a poll interval, a retry's backoff, a Retry-After: up to a minute) keeps the
    # main thread's loop waking, as a request in flight does (see ``_transports.wakeup``).
    _pausing: InFlight = field(default_factory=InFlight, init=False)

    async def aclose(self) -> None:
        if not self.closed:
            self.closed = True
            await self.transport.aclose()

    async def _perform(self, effect: object) -> Any:
        if isinstance(effect, Send):
            if self.closed:
                self.check_open()
            started = time.perf_counter()
            outcome = await self.transport.send(effect.request, effect.timeouts)
            log_outcome(effect, outcome, started)
            return outcome
        if isinstance(effect, Sleep):
            if effect.seconds > 0:
                with self._pausing:
                    await self.sleep(effect.seconds)
            return None
        raise TypeError(f"unexpected effect {effect!r}")

    async def run(self, operation: Operation[T]) -> T:
        """Run ``operation`` to its end and return its value."""
        # ``iterate``'s loop without Emit: it runs once per request of every call.
        answer: Any = None
        interrupt: BaseException | None = None
        try:
            while True:
                try:
                    if interrupt is not None:
                        effect = operation.throw(interrupt)
                    else:
                        effect = operation.send(answer)
                except StopIteration as stop:
                    result: T = stop.value
                    return result
                answer = interrupt = None
                try:
                    # _perform's usual case, one coroutine less: a Send on an open client,
                    # not logged (no clock read, no call to log it).
                    if (
                        isinstance(effect, Send)
                        and not self.closed
                        and not logger.isEnabledFor(logging.DEBUG)
                    ):
                        answer = await self.transport.send(effect.request, effect.timeouts)
                    else:
                        answer = await self._perform(effect)
                except (asyncio.CancelledError, KeyboardInterrupt) as exc:
                    interrupt = exc
        finally:
            operation.close()

    async def iterate(self, operation: Operation[None]) -> AsyncIterator[Any]:
        """Iterate the values ``operation`` emits (stream chunks)."""
        answer: Any = None
        interrupt: BaseException | None = None
        try:
            while True:
                try:
                    if interrupt is not None:
                        effect = operation.throw(interrupt)
                    else:
                        effect = operation.send(answer)
                except StopIteration:
                    return
                answer = interrupt = None
                if isinstance(effect, Emit):
                    yield effect.value
                    continue
                try:
                    answer = await self._perform(effect)
                except (asyncio.CancelledError, KeyboardInterrupt) as exc:
                    interrupt = exc
        finally:
            operation.close()
