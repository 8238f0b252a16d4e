"""Batches as streams (``Endpoint.map``): the state of one batch run, shared by its item
operations (``_map_item``, written once) and by the scheduler that runs them — threads
(``_map_threads``) or asyncio tasks (``_map_tasks``).

:class:`BatchRun` reads inputs against the journal (replay, reattach, resend), counts the
jobs running and the submits in flight, decides how each job is submitted, and stops the
batch. The scheduler journals an item's outcome (``FINAL``) just before it yields it, so
"recorded" means "handed to the caller" (see ``_journal``).

Submitting. Without a journal, a job goes out with ``/runsync?wait=1000``: the server's
minimum hold, so a job that ends within a second costs one request, and its id is never more
than about a second late (fail-fast cancels and interrupt notes need ids). With a journal —
or ``cancel_on_interrupt=True`` — it goes out with ``/run``: the id comes at once, which
keeps the window where a crash leaves a submit of unknown fate as short as the API allows
(one ``/run`` round trip), and a ``/run`` result is kept 30 minutes (``/runsync``: 1 minute)
for a resumed batch to fetch. Measured on loopback (``benchmarks/map_submit.py``: local
endpoint in its own process, 16 workers, concurrency 16, median of 3 rounds):

* no-op handler, 1,000 jobs: ``/runsync`` 1 request a job, 667 jobs/s, 21 ms a job;
  ``/run`` 2 requests (the submit, then a ``/status-sync``), 396 jobs/s, 38 ms; ``/run``
  with a journal 2 requests, 369 jobs/s, 42 ms (three commits a job);
* 0.3 s handler (ends within the hold): ``/runsync`` 1 request a job, ``/run`` 2; 52 jobs/s
  and 305 ms a job either way (the workers bound it);
* 1.5 s handler (outlasts the hold): 2 requests a job either way.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from .._constants import MAX_IN_FLIGHT, MIN_WAIT_MS
from .._core.deadline import Deadline
from .._core.effects import Operation
from .._core.engine import EndpointCore
from .._core.interrupts import is_cancellation
from .._core.waiting import check_terminal, submit_request
from .._exceptions import (
    APIResponseValidationError,
    APIStatusError,
    BadRequestError,
    InvalidInputError,
    JobError,
    NotFoundError,
    PayloadTooLargeError,
    RunpodError,
)
from .._transports.base import ApiRequest
from .._types import JobState
from .._wire.bodies import BodyShapeError, decode_object
from .._wire.replies import job_state_from_object
from .._wire.requests import JobBody
from .item import Work, run_item, stoppable
from .journal import Entry, Journal, JournalError, Phase, fingerprint
from .types import BatchItem, BatchStats, BatchTimeout, StopReport

__all__ = ["CLOSED", "DROPPED", "BatchRun", "encoded_inputs", "left_behind", "stop_cause"]

#: What stopped a batch closed before its end (``close()``, the end of a ``with`` block).
CLOSED = "the caller stopped iterating"
#: ... or dropped unclosed (a ``break`` without ``with``, the loop finalizing it).
DROPPED = (
    "the caller stopped iterating and dropped the results unclosed (a break, or an "
    "exception such as Ctrl-C in the loop's body)"
)


class BatchRun:
    """One batch run: its settings, the journal, and what is in flight. The reading side
    (:meth:`take`, :meth:`deliver`, :meth:`finish`) belongs to the scheduler; the item
    operations (``item.py``), run on worker threads or tasks, use only :attr:`core`,
    :attr:`deadline`, :attr:`journal`, :attr:`retry_failed`, :attr:`stopping`, and report
    through the locked methods of "the item operations' side" (:meth:`submit_request`,
    :meth:`submit_started`, :meth:`accepted`, :meth:`ended`, :meth:`count` …)."""

    def __init__(
        self,
        core: EndpointCore,
        *,
        concurrency: int,
        deadline: Deadline,
        retry_failed: int,
        journal: Journal | None,
        cancel_on_interrupt: bool,
        replay: bool,
    ) -> None:
        self.core = core
        # The client sends at most MAX_IN_FLIGHT requests at once (its pool's size): more
        # items at a time would only wait for a connection, each holding a thread or task
        # and its input. So the scheduler never runs more, whatever was asked for.
        self.concurrency = min(concurrency, MAX_IN_FLIGHT)
        self.deadline = deadline
        self.retry_failed = retry_failed
        self.journal = journal
        self.cancel_on_interrupt = cancel_on_interrupt
        self.replay = replay
        # /run when the id is needed at once (see the module docstring); else a 1 s /runsync.
        self.submit_with_run = journal is not None or cancel_on_interrupt
        # Entered directly (`with self._mutex`): Condition.__enter__ is a Python-level call, and
        # several are taken per item. Waits and notifications go through the condition.
        self._mutex = threading.RLock()
        self._lock = threading.Condition(self._mutex)
        self._next_index = 0
        self._exhausted = False
        self._timed_out = False
        self.stopping = False
        self._cancelling = False
        self._running: dict[str, int] = {}  # job id -> input index
        # The jobs a stop is cancelling (job id -> input index): a wait may see a job end
        # CANCELLED — the stop's own cancel — and drop it from _running before the cancel's
        # reply arrives, which must still find its input to record it withdrawn.
        self._to_cancel: dict[str, int] = {}
        self._submitting = 0
        self._unnamed = 0  # submits cut short (task cancelled) before their reply
        # (input index, job id): reports list jobs in input order, whatever order they ran.
        self._cancelled: list[tuple[int, str]] = []
        self._cancel_failed: list[tuple[int, str]] = []
        self._stats = dict.fromkeys(BatchStats.__slots__, 0)

    # --- the scheduler's side ------------------------------------------------------------

    @property
    def stats(self) -> BatchStats:
        with self._mutex:
            return BatchStats(**{**self._stats, "running": len(self._running)})

    def count(self, name: str, n: int = 1) -> None:
        """Add ``n`` to the counter ``name`` (a field of :class:`BatchStats`)."""
        with self._mutex:
            self._stats[name] += n

    def may_read(self) -> bool:
        """Whether another input may be read now (not stopped, deadline not passed)."""
        if self.stopping or self._exhausted or self._timed_out:
            return False
        if self.deadline.expired():
            self._timed_out = True
            return False
        return True

    def exhausted(self) -> None:
        """The inputs ran out."""
        self._exhausted = True

    def take(self, prepared: JobBody | InvalidInputError) -> Work | BatchItem | None:
        """The next input, encoded (or why it cannot be): a :class:`Work` to run, an item
        that needs no request (a bad input, an outcome from the journal), or ``None`` (an
        outcome from the journal that is not to be yielded again)."""
        index = self._next_index
        self._next_index += 1
        self.count("read")
        entry = None if self.journal is None else self.journal.entry(index)
        if isinstance(prepared, InvalidInputError):
            if entry is not None:
                raise self._mismatch(index)
            self.count("yielded")
            return BatchItem(index=index, job_id=None, state=None, error=prepared)
        if self.journal is None:
            return Work(index, prepared, b"")
        digest = fingerprint(prepared.content)
        if entry is None:
            return Work(index, prepared, digest)
        if entry.fingerprint != digest:
            raise self._mismatch(index)
        duplicate = entry.duplicates > 0
        if entry.phase is Phase.FINAL:
            if not self.replay:
                return None
            self.count("resumed")
            self.count("yielded")
            return self._from_journal(entry)
        if entry.phase is Phase.SENDING:
            # The submit was in flight when a run died: a job may exist. Send it again, and
            # say so on the item (and in the journal, for any later replay of it).
            self.count("possibly_duplicated")
            return Work(index, prepared, digest, duplicate=True, unknown_fate=True)
        if entry.phase is Phase.ACCEPTED:  # a withdrawn job is counted once its fate is known
            self.count("reattached")
        return Work(
            index,
            prepared,
            digest,
            job_id=entry.job_id,
            withdrawn=entry.phase is Phase.WITHDRAWN,
            duplicate=duplicate,
        )

    def _mismatch(self, index: int) -> JournalError:
        assert self.journal is not None
        return JournalError(
            f"input {index} is not the input the journal {self.journal.path!r} recorded at "
            "that index: this is another batch (inputs and job options must be the same, in "
            "the same order, to resume). Use a new journal file for a new batch."
        )

    def _from_journal(self, entry: Entry) -> BatchItem:
        duplicate = entry.duplicates > 0
        if entry.raw_json is not None and entry.job_id is not None:
            state = self._journaled_state(entry.index, entry.raw_json, entry.job_id)
            error: RunpodError | None = None
            try:
                check_terminal(state)
            except JobError as exc:
                error = exc
            return BatchItem(entry.index, entry.job_id, state, error, True, duplicate, resumed=True)
        text = entry.error_text or ""
        code = entry.error_code or 0
        if entry.error_kind == "lost":
            error = NotFoundError(text, status_code=code, operation="status", job_id=entry.job_id)
        else:
            cls = PayloadTooLargeError if code == 413 else BadRequestError
            error = cls(text, status_code=code, operation="run", job_id=entry.job_id)
        return BatchItem(entry.index, entry.job_id, None, error, True, duplicate, resumed=True)

    def _journaled_state(self, index: int, raw_json: bytes, job_id: str) -> JobState:
        """The terminal state the journal kept byte for byte, read by the one job parser."""
        try:
            return job_state_from_object(decode_object(raw_json), raw_json, expected_id=job_id)
        except BodyShapeError as exc:
            assert self.journal is not None
            raise JournalError(
                f"the journal {self.journal.path!r} holds an unreadable state for input "
                f"{index} ({exc.why}): it was changed by hand; use a new journal file"
            ) from None

    def deliver(self, work: Work, item: BatchItem) -> BatchItem:
        """Journal ``item``'s outcome if final, then hand it back to be yielded."""
        self.count("yielded")
        if self.journal is None or not item.final:
            return item
        if item.state is not None and item.job_id is not None and item.state.is_terminal:
            self.journal.final_state(
                work.index, item.job_id, str(item.state.status), item.state.raw_json
            )
        elif isinstance(item.error, APIStatusError | APIResponseValidationError):
            kind = "lost" if isinstance(item.error, NotFoundError) else "rejected"
            self.journal.final_error(
                work.index, work.digest, item.job_id, kind, item.error.status_code, str(item.error)
            )
        return item

    def finish(self) -> None:
        """At the end of the iteration: raise what ended it early, if anything did."""
        if self._timed_out:
            raise BatchTimeout(self.deadline.timeout, self._next_index)
        if self.journal is not None and self.journal.has_entries_from(self._next_index):
            raise JournalError(
                f"the inputs ended at index {self._next_index}, but the journal "
                f"{self.journal.path!r} has entries past that: it was written for a longer "
                "batch. Use a new journal file for a new batch."
            )

    # --- stopping -------------------------------------------------------------------------

    def begin_stop(self, cancel: bool) -> list[str]:
        """Stop submitting; return the jobs the scheduler is to cancel (all running ones, if
        ``cancel``). Jobs whose id arrives later are cancelled by their own operation."""
        with self._mutex:
            first = not self.stopping
            self.stopping = True
            if not first:
                return []
            self._cancelling = cancel
            if not cancel:
                return []
            self._to_cancel = dict(self._running)
            return list(self._running)

    def cancelled(self, job_id: str, ok: bool, *, withdrawn: bool = True) -> None:
        """A cancel sent on the batch's behalf succeeded (``ok``) or failed. ``withdrawn``:
        the reply says the job is CANCELLED (not one that had ended first), so a resumed
        batch runs its input again."""
        with self._mutex:
            index = self._running.pop(job_id, self._to_cancel.get(job_id, -1))
            (self._cancelled if ok else self._cancel_failed).append((index, job_id))
        if ok and withdrawn and index >= 0 and self.journal is not None:
            self.journal.withdrawn(index)

    def wait_for_submits(self) -> None:
        """Block until every submit in flight has its reply (and, when cancelling, its job
        cancelled). Each submit is bounded by its own timeouts."""
        with self._mutex:
            while self._submitting:
                self._lock.wait(0.1)

    @property
    def submits_in_flight(self) -> int:
        return self._submitting

    def report(self, stopped_by: str = "interrupted") -> StopReport:
        """What the batch leaves behind now; ``stopped_by``: what stopped it (see
        :func:`stop_cause`)."""
        with self._mutex:
            running = sorted((index, job_id) for job_id, index in self._running.items())
            return StopReport(
                cancelled=tuple(job_id for _, job_id in sorted(self._cancelled)),
                cancel_failed=tuple(job_id for _, job_id in sorted(self._cancel_failed)),
                left_running=tuple(job_id for _, job_id in running),
                unnamed_submits=self._submitting + self._unnamed,
                journal=None if self.journal is None else self.journal.path,
                stopped_by=stopped_by,
            )

    def close(self) -> None:
        if self.journal is not None:
            self.journal.close()

    # --- the item operations' side -------------------------------------------------------

    def operation(self, work: Work) -> Operation[BatchItem]:
        """The operation that runs ``work`` to its :class:`BatchItem`."""
        return stoppable(self, run_item(self, work))

    def submit_started(self, work: Work) -> bool:
        """Count a submit as in flight — unless the batch has stopped: then ``False``, and
        nothing is sent. One lock with :meth:`begin_stop`, so a stop either waits for this
        submit or prevents it."""
        with self._mutex:
            if self.stopping:
                return False
            self._submitting += 1
            self._stats["submitted"] += 1
        work.submitting = True
        return True

    def submit_cut_short(self) -> None:
        """A submit was interrupted before its reply: a job may exist that has no id here."""
        with self._mutex:
            self._unnamed += 1

    def submit_ended(self, work: Work) -> None:
        """The submit of ``work`` is over, however it ended (see :meth:`wait_for_submits`)."""
        work.submitting = False
        with self._mutex:
            self._submitting -= 1
            self._lock.notify_all()

    def accepted(self, work: Work, job_id: str, *, record: bool = True) -> bool:
        """Count the job as running (and journal its id, if ``record``); ``True`` if the
        batch is stopping and the job is to be cancelled at once, by this operation."""
        if record and self.journal is not None:
            self.journal.accepted(work.index, job_id)
        with self._mutex:
            self._running[job_id] = work.index
            return self.stopping and self._cancelling

    def ended(self, job_id: str) -> None:
        """The job is known to have ended (or to be gone): no longer running."""
        with self._mutex:
            self._running.pop(job_id, None)

    def submit_request(self, work: Work) -> ApiRequest:
        """``/run``, or ``/runsync`` with the server's minimum hold when that fits the
        deadline (see the module docstring)."""
        return submit_request(
            self.core,
            work.body,
            self.deadline,
            id_at_once=self.submit_with_run,
            longest=MIN_WAIT_MS / 1000,
        )


def encoded_inputs(
    inputs: Iterable[Any], encode: Callable[[Any], JobBody]
) -> Iterator[JobBody | InvalidInputError]:
    """Each input encoded as its job's body just before it is needed, or the
    InvalidInputError saying why it cannot be sent."""
    for value in inputs:
        try:
            yield encode(value)
        except InvalidInputError as exc:
            yield exc


def stop_cause(exc: BaseException, *, reading: bool = False, in_loop: bool = False) -> str:
    """What ``exc`` stopping a batch was, in words for its notes: an interrupt, the batch's
    deadline, the input iterator failing (``reading``: raised while an input was read), the
    caller's own code failing (``in_loop``: raised in the body of the loop), or another
    error."""
    name = type(exc).__name__
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted by KeyboardInterrupt (Ctrl-C)"
    if is_cancellation(exc):
        return "the task iterating the batch was cancelled"
    if not isinstance(exc, Exception):
        return f"interrupted by {name}"
    if isinstance(exc, BatchTimeout):
        return "the batch's deadline passed"
    if reading:
        return f"the input iterator raised {name}"
    if in_loop:
        return f"the caller's loop raised {name}"
    return f"the batch stopped on {name}"


def left_behind(report: StopReport) -> bool:
    """Whether a stopped batch left anything behind worth telling: jobs or unnamed submits."""
    return bool(report.left_running or report.cancel_failed or report.unnamed_submits)
