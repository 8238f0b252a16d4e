"""The asyncio scheduler of a batch: item operations (``_map``) as up to ``concurrency``
tasks on the running loop (never more than ``MAX_IN_FLIGHT``: ``BatchRun`` caps it). Kept
apart from ``_map_threads`` so blocking users never import asyncio.

Stopping cancels the tasks that wait (a long-poll is simply abandoned) and lets those in a
submit finish when their ids are needed — to cancel the jobs, or to journal them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterator
from types import TracebackType
from typing import Any, Literal, Self

from .._core.interrupts import headline, is_cancellation, is_interrupt, tell
from .._drivers.aio import AsyncDriver
from .._exceptions import InvalidInputError
from .._wire.requests import JobBody
from .item import Work, cancel_job
from .run import CLOSED, DROPPED, BatchRun, left_behind, stop_cause
from .types import BatchItem, BatchStats, StopReport

__all__ = ["AsyncBatchResults"]

logger = logging.getLogger("runpod_facade")


class AsyncBatchResults(AsyncIterator[BatchItem]):
    """The items of ``AsyncEndpoint.map``, in the order the jobs end: ``async for``.

    ``async with ep.map(...) as results:`` (or :meth:`aclose`) ends it early; see
    ``BatchResults``. Cancelling the task that iterates stops the batch like Ctrl-C.
    """

    def __init__(
        self,
        driver: AsyncDriver,
        run: BatchRun,
        bodies: Iterator[JobBody | InvalidInputError] | None,
        inputs: AsyncIterator[Any] | None = None,
        encode: Callable[[Any], JobBody] | None = None,
    ) -> None:
        self._tasks = _Tasks(driver, run, bodies, inputs, encode)
        self._iterator = self._tasks.iterate()

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> BatchItem:
        return await self._iterator.__anext__()

    @property
    def stats(self) -> BatchStats:
        """Counters so far (see ``BatchStats``)."""
        return self._tasks.run.stats

    async def aclose(self, *, cancel: bool = False) -> StopReport:
        """End the batch now; see ``BatchResults.close``."""
        tasks = self._tasks
        if tasks.report is None:
            tasks.close_cancel = cancel
            if tasks.close_by == "dropped":  # not an exception leaving a with block
                tasks.close_by, tasks.close_cause = "close", CLOSED
            await self._iterator.aclose()
        if tasks.report is None:  # never started, or already ended
            tasks.shutdown()
            tasks.report = tasks.run.report(tasks.close_cause)
        return tasks.report

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._tasks.report is not None:
            return
        cancel = exc is not None and is_interrupt(exc) and self._tasks.run.cancel_on_interrupt
        if exc is not None:
            self._tasks.close_by = "raised"
            self._tasks.close_cause = stop_cause(exc, in_loop=True)
        report = await self.aclose(cancel=cancel)
        if exc is not None:
            notes = report.notes(cancel=cancel)
            for note in notes:
                exc.add_note(note)
            if is_cancellation(exc) and left_behind(report):
                tell([headline(report.stopped_by), *notes])  # asyncio may replace exc

    def __del__(self) -> None:
        # Never iterated: release the journal. (A started batch that is dropped is closed by
        # the event loop, which finalizes its async generator.)
        if self._tasks.report is None and not self._tasks.started:
            self._tasks.run.close()


class _Tasks:
    """The state of one batch's scheduling on the loop: its tasks and where inputs come
    from (an iterator of encoded bodies, or an async iterator of inputs to encode)."""

    def __init__(
        self,
        driver: AsyncDriver,
        run: BatchRun,
        bodies: Iterator[JobBody | InvalidInputError] | None,
        inputs: AsyncIterator[Any] | None,
        encode: Callable[[Any], JobBody] | None,
    ) -> None:
        self.driver = driver
        self.run = run
        self.bodies = bodies
        self.inputs = inputs
        self.encode = encode
        self.tasks: dict[asyncio.Task[BatchItem], Work] = {}
        self.close_cancel = False
        #: What stops the batch if it is closed at a yield (see ``stop_cause``), and who
        #: is told what it left: the caller of close() (its report; a warning is logged),
        #: an exception leaving a ``with`` block (its notes), or — dropped unclosed —
        #: nobody but the log (see ``tell``).
        self.close_cause = DROPPED
        self.close_by: Literal["dropped", "close", "raised"] = "dropped"
        self.reading = False  # the input iterator is running: what it raises is its own
        self.started = False
        self.report: StopReport | None = None

    async def next_body(self) -> JobBody | InvalidInputError | None:
        if self.bodies is not None:
            return next(self.bodies, None)
        assert self.inputs is not None and self.encode is not None
        try:
            value = await anext(self.inputs)
        except StopAsyncIteration:
            return None
        try:
            return self.encode(value)
        except InvalidInputError as exc:
            return exc

    async def iterate(self) -> AsyncGenerator[BatchItem, None]:
        self.started = True
        run, tasks = self.run, self.tasks
        try:
            while True:
                while len(tasks) < run.concurrency and run.may_read():
                    self.reading = True
                    prepared = await self.next_body()
                    self.reading = False
                    if prepared is None:
                        run.exhausted()
                        break
                    taken = run.take(prepared)
                    if isinstance(taken, Work):
                        task = asyncio.ensure_future(self.driver.run(run.operation(taken)))
                        tasks[task] = taken
                    elif taken is not None:
                        yield taken
                if not tasks:
                    break
                done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    work = tasks.pop(task)
                    yield run.deliver(work, task.result())
            run.finish()
        except GeneratorExit:
            report = await self.stop(self.close_cancel, self.close_cause)
            if left_behind(report) and self.close_by == "close":
                logger.warning(
                    "batch closed early (%s); %s",
                    self.close_cause,
                    "; ".join(report.notes(cancel=self.close_cancel)),
                )
            elif left_behind(report) and self.close_by == "dropped":
                tell([headline(self.close_cause), *report.notes(cancel=self.close_cancel)])
            raise
        except BaseException as exc:
            cancel = is_interrupt(exc) and run.cancel_on_interrupt
            cause = stop_cause(exc, reading=self.reading)
            try:
                report = await self.stop(cancel, cause)
            except asyncio.CancelledError:
                # Cancelled again (a second Ctrl-C under asyncio.run) while the stop waited
                # for submit replies or cancels: what is known now is told all the same.
                report = self.report = run.report(cause)
            notes = report.notes(cancel=cancel)
            for note in notes:
                exc.add_note(note)
            if is_cancellation(exc) and left_behind(report):
                # asyncio may replace the CancelledError: asyncio.run raises a fresh
                # KeyboardInterrupt on Ctrl-C, wait_for a TimeoutError (see tell).
                tell([headline(report.stopped_by), *notes])
            raise
        finally:
            self.shutdown()

    async def stop(self, cancel: bool, stopped_by: str) -> StopReport:
        """Stop the batch (``stopped_by``: why, for its notes); with ``cancel``, cancel its
        jobs. Tasks in a submit are let finish
        when their ids are needed (to cancel or to journal them); the others are cancelled."""
        run = self.run
        job_ids = run.begin_stop(cancel)
        keep_submits = cancel or run.journal is not None
        for task, work in self.tasks.items():
            if not (keep_submits and work.submitting):
                task.cancel()
        await asyncio.gather(
            *(self.driver.run(cancel_job(run, j)) for j in job_ids), return_exceptions=True
        )
        await asyncio.gather(*self.tasks, return_exceptions=True)
        self.report = run.report(stopped_by)
        return self.report

    def shutdown(self) -> None:
        self.run.stopping = True
        for task in self.tasks:
            task.cancel()
        self.tasks.clear()
        self.run.close()
