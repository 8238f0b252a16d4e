"""The blocking scheduler of a batch: item operations on up to ``concurrency`` daemon threads
(``BatchRun`` caps it at ``MAX_CONCURRENCY``, the long requests a client runs at once),
sharing one ``Endpoint`` (thread-safe over ``httpx.Client``).

The consumer's thread reads the inputs — one only when a slot is free — and yields items as
they come. Ctrl-C reaches only that thread; the workers are told to stop (``BatchRun``) and
are never joined while blocked in a long-poll: they are daemon threads, and whatever they
finish after the batch stopped is dropped (the journal is closed by then). Nothing they hold
refers back to :class:`BatchResults`, so dropping it (a ``break`` out of ``for item in
ep.map(...)``) closes the batch at once, as ``close()`` would.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Generator, Iterator
from contextlib import suppress
from types import TracebackType
from typing import Self

from .._core.interrupts import is_interrupt
from .._drivers.sync import SyncDriver
from .._public import name_public
from .item import BatchStopped, Work, cancel_job
from .run import BatchRun, Bodies
from .stopping import Scheduler, annotate, stop_cause
from .types import BatchItem, BatchStats, StopReport

__all__ = ["BatchResults"]

_Outcome = BatchItem | BaseException
#: How long the consumer's thread blocks at a time (see _Threads.next_done).
_WAKE = 0.2


class BatchResults(Iterator[BatchItem]):
    """The items of ``Endpoint.map``, in the order the jobs end. Iterate it once.

    ``with ep.map(...) as results:`` (or :meth:`close`) ends it early: nothing more is
    submitted; jobs still running are left running — or cancelled with ``close(cancel=True)``.
    :attr:`stats` counts what was read, submitted, resumed.
    """

    def __init__(self, driver: SyncDriver, run: BatchRun, bodies: Bodies) -> None:
        self._threads = _Threads(driver, run, bodies)
        self._iterator = self._threads.iterate()

    def __iter__(self) -> Self:
        return self

    def __next__(self) -> BatchItem:
        return next(self._iterator)

    @property
    def stats(self) -> BatchStats:
        """Counters so far (see :class:`BatchStats`)."""
        return self._threads.run.stats

    def close(self, *, cancel: bool = False) -> StopReport:
        """End the batch now: submit nothing more; cancel the jobs still running if
        ``cancel`` (also those whose submit reply is still on its way: they are cancelled as
        their ids arrive), else leave them running. Returns what was left behind."""
        if self._threads.closing(cancel):
            self._iterator.close()  # at a yield: stops the batch there (see iterate)
        return self._threads.closed()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._threads.report is None:
            cancel = self._threads.exiting(exc)
            report = self.close(cancel=cancel)
            if exc is not None:
                annotate(exc, report, cancel)

    def __del__(self) -> None:
        # Dropped (a ``break`` out of a for loop): stop as close() would, then make sure the
        # journal is released even if the batch never started.
        self._iterator.close()
        self._threads.run.close()


class _Threads(Scheduler):
    """The state of one batch's scheduling: the queues between the consumer's thread and
    the workers, and how many items are in flight."""

    def __init__(self, driver: SyncDriver, run: BatchRun, bodies: Bodies) -> None:
        super().__init__(run)
        self.driver = driver
        self.bodies = bodies
        self.inbox: queue.SimpleQueue[Work | None] = queue.SimpleQueue()
        self.done: queue.SimpleQueue[tuple[Work, _Outcome]] = queue.SimpleQueue()
        self.threads = 0
        self.in_flight = 0

    # --- the consumer's thread ------------------------------------------------------------

    def iterate(self) -> Generator[BatchItem, None, None]:
        run = self.run
        try:
            while True:
                while self.in_flight < run.concurrency and run.may_read():
                    self.reading = True
                    prepared = next(self.bodies, None)
                    self.reading = False
                    taken = run.take(prepared)
                    if isinstance(taken, Work):
                        self.start(taken)
                    elif taken is not None:
                        yield taken
                if not self.in_flight:
                    break
                work, outcome = self.next_done()
                self.in_flight -= 1
                if isinstance(outcome, BaseException):
                    raise outcome
                yield run.deliver(work, outcome)
            run.finish()
        except GeneratorExit:
            self.tell_closed(self.stop(self.close_cancel, self.close_cause))
            raise
        except BaseException as exc:
            cancel = self.cancels(exc)
            cause = stop_cause(exc, reading=self.reading)
            annotate(exc, self.stop(cancel, cause, interrupted=is_interrupt(exc)), cancel)
            raise
        finally:
            self.shutdown()

    def next_done(self) -> tuple[Work, _Outcome]:
        # In slices: the kernel may hand Ctrl-C's SIGINT to a worker thread, and Python
        # only acts on it once this thread runs bytecode again.
        while True:
            with suppress(queue.Empty):
                return self.done.get(timeout=_WAKE)

    def start(self, work: Work) -> None:
        self.in_flight += 1
        if self.threads < self.in_flight:
            self.threads += 1
            threading.Thread(target=self.work, name="runpod-batch", daemon=True).start()
        self.inbox.put(work)

    def stop(self, cancel: bool, stopped_by: str, *, interrupted: bool = False) -> StopReport:
        """Stop the batch (``stopped_by``: why, for its notes); with ``cancel``, cancel its
        jobs (waiting for ids still on their way). With a journal, wait for submits in flight
        so their ids are recorded. A second Ctrl-C cuts the waiting short (and is re-raised
        unless already handling one)."""
        run = self.run
        second: KeyboardInterrupt | None = None
        try:
            self.cancel(run.begin_stop(cancel))
            if cancel or run.journal is not None:
                run.wait_for_submits()
        except KeyboardInterrupt as exc:
            second = exc
        self.report = run.report(stopped_by)
        if second is not None and not interrupted:
            annotate(second, self.report, cancel)
            raise second
        return self.report

    def cancel(self, job_ids: list[str]) -> None:
        """Cancel ``job_ids`` side by side, each within its own bounded request."""
        threads = [
            threading.Thread(target=self.driver.run, args=(cancel_job(self.run, j),), daemon=True)
            for j in job_ids
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            while thread.is_alive():
                thread.join(_WAKE)

    def shutdown(self) -> None:
        self.run.stopping = True
        for _ in range(self.threads):
            self.inbox.put(None)
        self.run.close()

    # --- worker threads -------------------------------------------------------------------

    def work(self) -> None:
        run = self.run
        while True:
            work = self.inbox.get()
            if work is None or run.stopping:
                return
            outcome: _Outcome
            try:
                outcome = self.driver.run(run.operation(work))
            except BatchStopped:
                return
            except BaseException as exc:  # a bug: the consumer re-raises it
                outcome = exc
            self.done.put((work, outcome))


name_public([BatchResults])  # public, imported on first use
