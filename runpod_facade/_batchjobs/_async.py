"""The Batch Jobs API from asyncio (imported by the asyncio client only).

:class:`AsyncBatches` awaits the methods of :mod:`._sync`. :class:`AsyncBatchApiResults`
runs :mod:`._mapper`'s run one step at a time on a worker thread (``asyncio.to_thread``):
its steps are few and far between, each a blocking SQLite write then an HTTP call, so a
second copy of the run is not worth it. Items, journal and resume are the blocking run's.
Through the caller's ``httpx.AsyncClient`` the thread's calls are sent on the loop, which
awaits the step meanwhile (``_http.loop_send``): that client works on its loop only.
Both keep the main thread's loop waking while they wait (``_transports.wakeup``).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Final, Self, TypeVar, cast

import httpx

from .._config import Settings
from .._core.effects import Emit, Sleep
from .._drivers.api import AsyncClosing, AsyncRunner
from .._exceptions import RunpodError
from .._public import name_public
from .._transports.wakeup import InFlight
from ._mapper import BatchApiItem, BatchApiResults, BatchApiStats
from ._model import BatchRequestResult
from ._plan import DEFAULT_PAGE_SIZE
from ._sync import BatchesBase, BatchOperation, Done, advance

__all__ = ["AsyncBatchApiResults", "AsyncBatches"]

T = TypeVar("T")


class AsyncBatches(BatchesBase, AsyncRunner, AsyncClosing):
    """The Batch Jobs API of one endpoint, awaited (``AsyncEndpoint.batches``); the methods
    of :class:`~runpod_facade.Batches`, as coroutines, and :meth:`results` an async iterator.
    Its calls go through the endpoint's ``http_client`` (an ``httpx.AsyncClient``) if you
    gave one (never closed here), else through clients of its own."""

    def __init__(
        self,
        settings: Settings,
        *,
        http_client: httpx.AsyncClient | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        check_open: Callable[[], None] | None = None,
    ) -> None:
        super().__init__(settings, clock, check_open)
        self._sleep = sleep
        self._caller_client = http_client
        self._shared: httpx.AsyncClient | None = None
        # Its calls go around the transport's gate: they keep the main loop waking on their
        # own, so that a Ctrl-C is not left waiting for the API (see ``_transports.wakeup``).
        self._in_flight = InFlight()

    async def __aenter__(self) -> Self:
        """See :meth:`runpod_facade.Batches.__enter__`."""
        if self._shared is None and self._caller_client is None:
            self._shared = httpx.AsyncClient(**self._client_options())
        return self

    async def aclose(self) -> None:
        """Close the pool of an ``async with`` block (a no-op otherwise, and never the
        caller's)."""
        shared, self._shared = self._shared, None
        if shared is not None:
            await shared.aclose()

    def results(
        self, batch_id: str, *, page_size: int = DEFAULT_PAGE_SIZE, offset: int = 0
    ) -> AsyncIterator[BatchRequestResult]:
        """See :meth:`runpod_facade.Batches.results`; ``async for result in ...``."""
        return self._emitted(self._results(batch_id, page_size, offset))

    async def _emitted(self, operation: BatchOperation[None]) -> AsyncIterator[Any]:
        async with self._http() as http:
            while isinstance(step := await self._step(http, operation), Emit):
                yield step.value

    async def _perform(self, operation: BatchOperation[T]) -> T:
        async with self._http() as http:
            step = await self._step(http, operation)
        assert isinstance(step, Done), "only results() emits"
        return cast(T, step.value)

    def _http(self) -> contextlib.AbstractAsyncContextManager[httpx.AsyncClient]:
        """The caller's client, the ``async with`` block's pool, or a client of the call's
        own."""
        shared = self._caller_client or self._shared
        if shared is not None:
            return contextlib.nullcontext(shared)
        return httpx.AsyncClient(**self._client_options())

    async def _step(self, http: httpx.AsyncClient, operation: BatchOperation[Any]) -> Emit | Done:
        """Run ``operation`` until it emits a value or ends."""
        outcome: Any = None
        with self._in_flight:  # its pauses too: a poll of wait() may be long
            while not isinstance(step := advance(operation, outcome), Emit | Done):
                outcome = None
                if isinstance(step, Sleep):
                    await self._sleep(step.seconds)
                    continue
                try:
                    outcome = await http.send(self._requests.build(http, step))
                except httpx.TransportError as exc:
                    outcome = exc
        return step


_END: Final = object()


class _StepStopped(BaseException):
    """Raised on the run's thread at its pause once the task awaiting the step is cancelled
    (a BaseException, as KeyboardInterrupt is in the blocking run: nothing in it catches it)."""


class AsyncBatchApiResults(AsyncIterator[BatchApiItem], AsyncClosing):
    """``async for item in ep.map(inputs, via="batch-api")``; ``async with`` (or
    :meth:`aclose`) releases the journal. See :class:`runpod_facade.BatchApiResults`.

    Each step runs on a worker thread while the main loop awaits it, kept waking (a Ctrl-C
    under ``asyncio.run`` is acted on at once, see ``_transports.wakeup``). A cancelled step
    stops at its next pause (an API call under way ends first) and is awaited to its end:
    the run never goes on alone, nor does ``asyncio.run``'s shutdown wait for the batch."""

    def __init__(self, start: Callable[[Callable[[float], None]], BatchApiResults]) -> None:
        """``start(pause)``: the blocking run, made to pause with ``pause``."""
        self._stop = threading.Event()
        self._stopped = False
        self._results = start(self._pause)
        # One step at a time: the run is a generator, not safe to resume from two threads.
        self._lock = asyncio.Lock()
        self._in_flight = InFlight()

    @property
    def stats(self) -> BatchApiStats:
        return self._results.stats

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> BatchApiItem:
        if self._stopped:
            raise RunpodError(
                "this map was stopped by a cancellation and hands out nothing more; its "
                "batches run on: map() again with the same journal picks them up"
            )
        item = await self._in_thread(functools.partial(next, self._results, _END))
        if item is _END:
            raise StopAsyncIteration
        assert isinstance(item, BatchApiItem)
        return item

    async def aclose(self) -> None:
        await self._in_thread(self._results.close)

    def _pause(self, seconds: float) -> None:
        if self._stop.wait(seconds):
            raise _StepStopped

    async def _in_thread(self, step: Callable[[], T]) -> T:
        async with self._lock:
            with self._in_flight:
                self._stop.clear()
                work = asyncio.ensure_future(asyncio.to_thread(step))
                try:
                    return await asyncio.shield(work)
                except asyncio.CancelledError:
                    self._stop.set()
                    await asyncio.wait([work])
                    # The cancellation wins over what the step ended with; a stopped one
                    # ended the run.
                    self._stopped = isinstance(work.exception(), _StepStopped)
                    raise


name_public(globals()[name] for name in __all__)  # public, imported on first use
