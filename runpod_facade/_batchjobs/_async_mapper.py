"""``AsyncEndpoint.map(inputs, via="batch-api")``: the run of :mod:`._mapper`, awaited.

The run's steps are few and far between (a batch call, then polls every few seconds), and
each is a blocking SQLite write followed by an HTTP call; so rather than a second copy of
the run, each step runs on a worker thread (``asyncio.to_thread``) and the event loop stays
free. Items, journal and resume are exactly those of the blocking run.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from types import TracebackType
from typing import Final, Self

from ._mapper import BatchApiItem, BatchApiResults, BatchApiStats

__all__ = ["AsyncBatchApiResults"]

_END: Final = object()


class AsyncBatchApiResults(AsyncIterator[BatchApiItem]):
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

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


AsyncBatchApiResults.__module__ = "runpod_facade"
