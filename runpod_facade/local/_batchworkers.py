"""The batch workers: dedicated to batches, apart from the workers of ``/run`` traffic.

They run on their own loop thread (and handler thread pool), so a large batch never delays
an interactive job, as RunPod documents. Each worker takes the next queued request of a
FINALIZED batch from the :class:`~._batchjobs.BatchStore`, runs the handler on
``{"id": request_id, "input": ...}`` and records the outcome.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from .._status import JobStatus
from ._batchjobs import BatchStore
from ._handler import Handler
from ._invoke import invoke
from ._jobs import UNSET
from ._limits import MAX_STREAM_CHUNK_BYTES
from ._loop import EngineLoop

__all__ = ["BatchWorkers"]

_log = logging.getLogger("runpod_facade.local")


class BatchWorkers:
    """``workers`` batch workers running ``handler`` on the requests queued in ``store``."""

    def __init__(self, handler: Handler, store: BatchStore, *, workers: int = 1) -> None:
        if workers < 1:
            raise ValueError("workers must be >= 1")
        self._handler = handler
        self._store = store
        self._workers = workers
        self._aggregate = bool(getattr(handler, "return_aggregate_stream", False))
        self._loop = EngineLoop(boot=self._boot, shutdown=self._shutdown)
        self._tasks: list[asyncio.Task[None]] = []
        self._wake: asyncio.Event | None = None
        store.on_work = self._notify

    def start(self) -> None:
        """Start the loop thread and its workers (idempotent)."""
        self._loop.start()

    def close(self, timeout: float = 5.0) -> None:
        """Stop the workers; a request still running stays IN_PROGRESS."""
        self._loop.close(timeout)

    def _notify(self) -> None:
        self.start()
        self._loop.call_soon(self._set_wake)

    def _set_wake(self) -> None:
        if self._wake is not None:
            self._wake.set()

    def _boot(self) -> None:
        loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self._wake.set()  # work may have been queued before the loop started
        self._tasks = [
            loop.create_task(self._worker(index), name=f"batch-worker-{index}")
            for index in range(self._workers)
        ]

    async def _shutdown(self) -> None:
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=2.0)

    async def _worker(self, index: int) -> None:
        wake = self._wake
        assert wake is not None
        while True:
            request = self._store.take()
            if request is None:
                wake.clear()
                request = self._store.take()  # queued between take() and clear()
                if request is None:
                    await wake.wait()
                    continue
            wake.set()  # let the other workers look for more
            try:
                outcome = await invoke(
                    self._handler,
                    {"id": request.id, "input": request.input},
                    lambda _chunk: True,
                    aggregate=self._aggregate,
                    max_chunk_bytes=MAX_STREAM_CHUNK_BYTES,
                )
            except Exception:  # invoke never raises but for cancellation; belt and braces
                _log.exception("batch worker %d crashed on request %s", index, request.id)
                continue
            output: Any = None if outcome.output is UNSET else outcome.output
            self._store.complete(
                request,
                ok=outcome.status == JobStatus.COMPLETED,
                output=output,
                has_output=outcome.output is not UNSET,
                error=outcome.error,
            )
