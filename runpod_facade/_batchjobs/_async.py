"""The Batch Jobs API from asyncio (imported by the asyncio client only).

:class:`AsyncBatches` awaits the methods of :mod:`._sync`. :class:`AsyncBatchApiResults`
runs :mod:`._mapper`'s run one step at a time on a worker thread (``asyncio.to_thread``):
its steps are few and far between, each a blocking SQLite write then an HTTP call, so a
second copy of the run is not worth it. Items, journal and resume are the blocking run's.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Final, Self, TypeVar, cast

import httpx

from .._config import Settings
from .._core.effects import Emit, Sleep
from .._drivers.api import AsyncClosing, AsyncRunner
from .._public import name_public
from ._mapper import BatchApiItem, BatchApiResults, BatchApiStats
from ._model import BatchRequestResult
from ._plan import DEFAULT_PAGE_SIZE
from ._sync import (
    BatchesBase,
    BatchOperation,
    Done,
    advance,
    request_options,
)

__all__ = ["AsyncBatchApiResults", "AsyncBatches"]

T = TypeVar("T")


class AsyncBatches(BatchesBase, AsyncRunner, AsyncClosing):
    """The Batch Jobs API of one endpoint, awaited (``AsyncEndpoint.batches``); the methods
    of :class:`~runpod_facade.Batches`, as coroutines, and :meth:`results` an async iterator."""

    def __init__(
        self,
        settings: Settings,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        check_open: Callable[[], None] | None = None,
    ) -> None:
        super().__init__(settings, clock, check_open)
        self._sleep = sleep
        self._shared: httpx.AsyncClient | None = None

    async def __aenter__(self) -> Self:
        """See :meth:`runpod_facade.Batches.__enter__`."""
        if self._shared is None:
            self._shared = httpx.AsyncClient(**self._client_options())
        return self

    async def aclose(self) -> None:
        """Close the pool of an ``async with`` block (a no-op otherwise)."""
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
        """The ``async with`` block's pool, or a client of the call's own."""
        shared = self._shared
        if shared is not None:
            return contextlib.nullcontext(shared)
        return httpx.AsyncClient(**self._client_options())

    async def _step(self, http: httpx.AsyncClient, operation: BatchOperation[Any]) -> Emit | Done:
        """Run ``operation`` until it emits a value or ends."""
        outcome: Any = None
        while not isinstance(step := advance(operation, outcome), Emit | Done):
            outcome = None
            if isinstance(step, Sleep):
                await self._sleep(step.seconds)
                continue
            try:
                outcome = await http.request(step.method, step.path, **request_options(step))
            except httpx.TransportError as exc:
                outcome = exc
        return step


_END: Final = object()


class AsyncBatchApiResults(AsyncIterator[BatchApiItem], AsyncClosing):
    """``async for item in ep.map(inputs, via="batch-api")``; ``async with`` (or
    :meth:`aclose`) releases the journal. See :class:`runpod_facade.BatchApiResults`."""

    def __init__(self, results: BatchApiResults) -> None:
        self._results = results
        # One step at a time: the run is a generator, not safe to resume from two threads.
        self._lock = asyncio.Lock()

    @property
    def stats(self) -> BatchApiStats:
        return self._results.stats

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> BatchApiItem:
        async with self._lock:
            item = await asyncio.to_thread(next, self._results, _END)
        if item is _END:
            raise StopAsyncIteration
        assert isinstance(item, BatchApiItem)
        return item

    async def aclose(self) -> None:
        async with self._lock:
            await asyncio.to_thread(self._results.close)


name_public(globals()[name] for name in __all__)  # public, imported on first use
