"""Drivers: run the core's effect generators, blocking or with asyncio, over a transport.

A driver performs each effect an operation yields (``Send`` through its transport, ``Sleep``
on its clock) and sends the outcome back in. An interrupt that arrives while an effect is
being performed — Ctrl-C, a task cancellation — is thrown into the operation where it
stands, so the operation itself decides what to cancel and what to tell the caller (see
``_interrupts``). The transports (``_httpx``, ``_aiohttp``) only move bytes.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from ._constants import MIN_REQUEST_TIMEOUT
from ._effects import Effect, Emit, Operation, Send, Sleep, TransportFailure
from ._errors import ClientClosedError
from ._retry import Safety
from ._wire import ApiRequest, ApiResponse

__all__ = [
    "AsyncTransport",
    "DriverBase",
    "Steps",
    "SyncDriver",
    "SyncTransport",
    "Timeouts",
    "effective_timeouts",
]

T = TypeVar("T")
logger = logging.getLogger("runpod_facade")

#: A submit's reply carries the job id, so its read may run this long past the deadline.
SUBMIT_READ_GRACE = 2.0


@dataclass(frozen=True, slots=True)
class Timeouts:
    """Seconds per phase of one request; ``None`` waits without limit."""

    connect: float | None
    read: float | None
    write: float | None
    pool: float | None


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


class SyncTransport(Protocol):
    """Sends one request and reads the whole reply, blocking."""

    def send(self, request: ApiRequest, timeouts: Timeouts) -> ApiResponse | TransportFailure: ...

    def close(self) -> None: ...


class AsyncTransport(Protocol):
    """Sends one request and reads the whole reply, on the running event loop."""

    async def send(
        self, request: ApiRequest, timeouts: Timeouts
    ) -> ApiResponse | TransportFailure: ...

    async def aclose(self) -> None: ...


def log_outcome(send: Send, outcome: ApiResponse | TransportFailure, started: float) -> None:
    if not logger.isEnabledFor(logging.DEBUG):
        return
    ms = (time.perf_counter() - started) * 1000
    result = f"HTTP {outcome.status_code}" if isinstance(outcome, ApiResponse) else outcome.message
    logger.debug(
        "%s %s -> %s in %.0f ms (attempt %d)",
        send.request.method,
        send.request.path,
        result,
        ms,
        send.attempt + 1,
    )


class Steps(Generic[T]):
    """Walks an operation effect by effect: what both drivers do between performing effects.

    ``next_effect()`` resumes the operation with the last answer — or throws the interrupt
    that arrived while the effect was performed, so the operation can clean up where it
    stands — and returns its next effect, or ``None`` once it has returned ``result``.
    """

    __slots__ = ("_answer", "_interrupt", "_operation", "result")

    def __init__(self, operation: Operation[T]) -> None:
        self._operation = operation
        self._answer: Any = None
        self._interrupt: BaseException | None = None
        self.result: T

    def next_effect(self) -> Effect | None:
        interrupt, self._interrupt = self._interrupt, None
        answer, self._answer = self._answer, None
        try:
            if interrupt is not None:
                return self._operation.throw(interrupt)
            return self._operation.send(answer)
        except StopIteration as stop:
            self.result = stop.value
            return None

    def answer(self, value: Any) -> None:
        self._answer = value

    def interrupt(self, exc: BaseException) -> None:
        self._interrupt = exc

    def close(self) -> None:
        self._operation.close()


class DriverBase:
    def __init__(self, timeouts: Timeouts, what: str) -> None:
        self.timeouts = timeouts
        self.closed = False
        self._what = what

    def _check_open(self) -> None:
        if self.closed:
            raise ClientClosedError(
                f"this {self._what} is closed; create a new one (or use it in a with block)"
            )


class SyncDriver(DriverBase):
    """Performs effects with a blocking transport and ``time.sleep``."""

    def __init__(
        self,
        transport: SyncTransport,
        timeouts: Timeouts,
        *,
        sleep: Callable[[float], None] = time.sleep,
        what: str = "Endpoint",
    ) -> None:
        super().__init__(timeouts, what)
        self.transport = transport
        self.sleep = sleep

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.transport.close()

    def _perform(self, effect: object) -> Any:
        if isinstance(effect, Send):
            self._check_open()
            started = time.perf_counter()
            outcome = self.transport.send(effect.request, effective_timeouts(self.timeouts, effect))
            log_outcome(effect, outcome, started)
            return outcome
        if isinstance(effect, Sleep):
            if effect.seconds > 0:
                self.sleep(effect.seconds)
            return None
        raise TypeError(f"unexpected effect {effect!r}")

    def run(self, operation: Operation[T]) -> T:
        """Run ``operation`` to its end and return its value."""
        steps = Steps(operation)
        try:
            while (effect := steps.next_effect()) is not None:
                try:
                    steps.answer(self._perform(effect))
                except KeyboardInterrupt as exc:
                    steps.interrupt(exc)
            return steps.result
        finally:
            steps.close()

    def iterate(self, operation: Operation[None]) -> Iterator[Any]:
        """Iterate the values ``operation`` emits (stream chunks)."""
        steps = Steps(operation)
        try:
            while (effect := steps.next_effect()) is not None:
                if isinstance(effect, Emit):
                    yield effect.value
                    continue
                try:
                    steps.answer(self._perform(effect))
                except KeyboardInterrupt as exc:
                    steps.interrupt(exc)
        finally:
            steps.close()
