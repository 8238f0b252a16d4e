"""The asyncio scheduler of a batch: item operations as up to ``concurrency`` tasks on the
running loop (``BatchRun`` caps it at ``MAX_CONCURRENCY``); apart from ``threads`` so that
blocking users never import asyncio. Stopping cancels the tasks that wait (a long-poll is
simply abandoned) and lets those in a submit finish when their ids are needed — to cancel
the jobs, or to journal them.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from types import TracebackType
from typing import Any, Self

from .._drivers.aio import AsyncDriver
from .._exceptions import InvalidInputError
from .._public import name_public
from .._wire.requests import JobBody
from .item import Work, cancel_job
from .run import BatchRun, Bodies
from .stopping import Scheduler, annotate, stop_cause
from .types import BatchItem, BatchStats, StopReport

__all__ = ["AsyncBatchResults"]


class AsyncBatchResults(AsyncIterator[BatchItem]):
    """The items of ``AsyncEndpoint.map``, in the order the jobs end: ``async for``.

    ``async with ep.map(...) as results:`` (or :meth:`aclose`) ends it early; see
    ``BatchResults``. Cancelling the task that iterates stops the batch like Ctrl-C.
    """

    def __init__(
        self,
        driver: AsyncDriver,
        run: BatchRun,
        bodies: Bodies | None,
        inputs: AsyncIterator[Any] | None = None,
        encode: Callable[[Any], JobBody] | None = None,
    ) -> None:
        self._tasks = _Tasks(driver, run, bodies, inputs, encode)
        self._iterator = self._tasks.iterate()

    def __aiter__(self) -> Self:
        return self

    @property
    def items(self) -> AsyncIterator[BatchItem]:
        """The iteration itself, for ``run_many``: the items without :meth:`__anext__`'s
        extra coroutine per item."""
        return self._iterator

    async def __anext__(self) -> BatchItem:
        return await self._iterator.__anext__()

    @property
    def stats(self) -> BatchStats:
        """Counters so far (see ``BatchStats``)."""
        return self._tasks.run.stats

    async def aclose(self, *, cancel: bool = False) -> StopReport:
        """End the batch now; see ``BatchResults.close``."""
        if self._tasks.closing(cancel):
            await self._iterator.aclose()
        return self._tasks.closed()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._tasks.report is None:
            cancel = self._tasks.exiting(exc)
            report = await self.aclose(cancel=cancel)
            if exc is not None:
                annotate(exc, report, cancel)

    def __del__(self) -> None:
        # Never iterated: release the journal. (A started batch that is dropped is closed by
        # the event loop, which finalizes its async generator.)
        if self._tasks.report is None and not self._tasks.started:
            self._tasks.run.close()


class _Tasks(Scheduler):
    """The state of one batch's scheduling on the loop: its tasks and where inputs come
    from (an iterator of encoded bodies, or an async iterator of inputs to encode)."""

    def __init__(
        self,
        driver: AsyncDriver,
        run: BatchRun,
        bodies: Bodies | None,
        inputs: AsyncIterator[Any] | None,
        encode: Callable[[Any], JobBody] | None,
    ) -> None:
        super().__init__(run)
        self.driver = driver
        self.bodies = bodies
        self.inputs = inputs
        self.encode = encode
        self.tasks: dict[Work, asyncio.Task[BatchItem]] = {}  # (a Work hashes by identity)
        # The inputs whose tasks ended, in the order they ended, and the future the iteration
        # sleeps on while none has (asyncio.wait(FIRST_COMPLETED) would add and remove a
        # done-callback on every running task at each wake).
        self.ended: deque[Work] = deque()
        self.waiter: asyncio.Future[None] | None = None
        self.started = False

    async def perform(self, work: Work) -> BatchItem:
        """Run ``work``'s operation (the body of its task); at its end, queue ``work`` for
        the iteration — from the task itself: a done-callback is a scheduled call more per
        item. The task's last step ends before the iteration runs again, so the iteration
        only ever finds the tasks of queued inputs done."""
        try:
            return await self.driver.run(self.run.operation(work))
        finally:
            self.ended.append(work)
            waiter = self.waiter
            if waiter is not None and not waiter.done():
                waiter.set_result(None)

    async def next_body(self) -> JobBody | InvalidInputError | None:
        """The next async input, encoded (``iterate`` reads ``bodies`` itself, inline)."""
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
        run, tasks, ended, bodies = self.run, self.tasks, self.ended, self.bodies
        loop = asyncio.get_running_loop()
        perform = self.perform
        try:
            while True:
                while len(tasks) < run.concurrency and run.may_read():
                    self.reading = True
                    prepared = next(bodies, None) if bodies is not None else await self.next_body()
                    self.reading = False
                    taken = run.take(prepared)
                    if isinstance(taken, Work):
                        tasks[taken] = loop.create_task(perform(taken))
                    elif taken is not None:
                        yield taken
                if not tasks:
                    break
                if not ended:
                    self.waiter = loop.create_future()
                    try:
                        await self.waiter
                    finally:
                        self.waiter = None
                work = ended.popleft()
                yield run.deliver(work, tasks.pop(work).result())
            run.finish()
        except GeneratorExit:
            self.tell_closed(await self.stop(self.close_cancel, self.close_cause))
            raise
        except BaseException as exc:
            cancel = self.cancels(exc)
            cause = stop_cause(exc, reading=self.reading)
            try:
                report = await self.stop(cancel, cause)
            except asyncio.CancelledError:
                # Cancelled again (a second Ctrl-C under asyncio.run) while the stop waited
                # for submit replies or cancels: what is known now is told all the same.
                report = self.report = run.report(cause)
            annotate(exc, report, cancel)
            raise
        finally:
            self.shutdown()

    async def stop(self, cancel: bool, stopped_by: str) -> StopReport:
        """Stop the batch (``stopped_by``: why, for its notes); with ``cancel``, cancel its
        jobs. Its tasks end as the module docstring says."""
        run = self.run
        job_ids = run.begin_stop(cancel)
        keep_submits = cancel or run.journal is not None
        for work, task in self.tasks.items():
            if not (keep_submits and work.submitting):
                task.cancel()
        await asyncio.gather(
            *(self.driver.run(cancel_job(run, j)) for j in job_ids), return_exceptions=True
        )
        await asyncio.gather(*self.tasks.values(), return_exceptions=True)
        self.report = run.report(stopped_by)
        return self.report

    def shutdown(self) -> None:
        self.run.stopping = True
        for task in self.tasks.values():
            task.cancel()
        self.tasks.clear()
        self.ended.clear()
        self.run.close()


name_public([AsyncBatchResults])  # public, imported on first use
