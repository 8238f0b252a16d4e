"""The state of one batch run (``Endpoint.map``), shared by its item operations (``item``)
and the scheduler that runs them (``threads`` or ``tasks``).

:class:`BatchRun` reads inputs against the journal (replay, reattach, resend), counts the
jobs running and the submits in flight, decides how each job is submitted, and stops the
batch. The scheduler journals an item's outcome (``FINAL``) just before it yields it, so
"recorded" means "handed to the caller".

Submitting. Without a journal, a job goes out with ``/runsync?wait=1000``: the server's
minimum hold, so a job that ends within a second costs one request, and its id is at most
about a second late (fail-fast cancels and interrupt notes need ids). With a journal — or
``cancel_on_interrupt=True`` — it goes out with ``/run``: the id comes at once, which keeps
the window where a crash leaves a submit of unknown fate to one ``/run`` round trip, and a
``/run`` result is kept 30 minutes (``/runsync``: 1 minute) for a resumed batch to fetch.
Measured (``benchmarks/map_submit.py``: loopback, 16 workers, concurrency 16, median of 3):
1,000 no-op jobs take 1 request a job with ``/runsync`` (667 jobs/s, 21 ms a job), 2 with
``/run`` (the submit, then a ``/status-sync``: 396 jobs/s, 38 ms; 369 jobs/s, 42 ms with a
journal's three commits a job); a 0.3 s handler, 52 jobs/s either way (the workers bound
it); a handler outlasting the hold, 2 requests a job either way.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from .._constants import MAX_CONCURRENCY
from .._core.deadline import Deadline
from .._core.effects import Operation
from .._core.engine import EndpointCore
from .._core.waiting import check_terminal
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
from .._status import JobStatus
from .._types import JobState
from .._wire.bodies import BodyShapeError, decode_object
from .._wire.replies import job_state_from_object
from .._wire.requests import JobBody
from .item import Work, run_item, stoppable
from .journal import Entry, Journal, JournalError, Phase, fingerprint
from .types import BatchItem, BatchStats, BatchTimeout, StopReport

__all__ = ["BatchRun", "Bodies", "encoded_inputs"]


#: The inputs as a scheduler reads them: each one's job body, or why it cannot be sent.
Bodies = Iterator[JobBody | InvalidInputError]


class BatchRun:
    """One batch run: its settings, the journal, and what is in flight. The reading side
    (:meth:`take`, :meth:`deliver`, :meth:`finish`) belongs to the scheduler; the item
    operations (``item.py``), run on worker threads or tasks, use only :attr:`core`,
    :attr:`deadline`, :attr:`journal`, :attr:`retry_failed`, :attr:`stopping`,
    :attr:`submit_with_run`, and report through the locked methods of "the item operations'
    side" (:meth:`submit_started`, :meth:`submit_accepted`, :meth:`accepted`, :meth:`ended`,
    :meth:`count` …)."""

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
        # The client runs at most MAX_CONCURRENCY long requests (a /runsync hold, a long-poll)
        # at once: more items at a time would only wait for a slot, each holding a thread or
        # task and its input. So the scheduler never runs more, whatever was asked for.
        self.concurrency = min(concurrency, MAX_CONCURRENCY)
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

    def count(self, *names: str) -> None:
        """Add 1 to each counter named (fields of :class:`BatchStats`). ``read`` and
        ``yielded`` are written by the scheduler's side alone, one thread, and are added to
        directly there: a lost update needs two writers of one key."""
        with self._mutex:
            for name in names:
                self._stats[name] += 1

    def may_read(self) -> bool:
        """Whether another input may be read now (not stopped, deadline not passed)."""
        if self.stopping or self._exhausted or self._timed_out:
            return False
        if self.deadline.expired():
            self._timed_out = True
            return False
        return True

    def take(self, prepared: JobBody | InvalidInputError | None) -> Work | BatchItem | None:
        """The next input, encoded (or why it cannot be; ``None``: the inputs ran out): a
        :class:`Work` to run, an item that needs no request (a bad input, an outcome from the
        journal), or ``None`` (no input, or an outcome from the journal that is not to be
        yielded again)."""
        if prepared is None:
            self._exhausted = True
            return None
        index = self._next_index
        self._next_index += 1
        self._stats["read"] += 1  # (written by the scheduler alone: no lock, see count)
        entry = None if self.journal is None else self.journal.entry(index)
        if isinstance(prepared, InvalidInputError):
            if entry is not None:
                raise self._mismatch(index)
            self.count("yielded")
            return BatchItem(index=index, job_id=None, state=None, error=prepared)
        digest = b"" if self.journal is None else fingerprint(prepared.content)
        if entry is None:
            return Work(index, prepared, digest)
        if entry.fingerprint != digest:
            raise self._mismatch(index)
        if entry.phase is Phase.FINAL:
            if not self.replay:
                return None
            self.count("resumed", "yielded")
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
            duplicate=entry.duplicates > 0,
        )

    def _mismatch(self, index: int) -> JournalError:
        assert self.journal is not None
        return JournalError(
            f"input {index} is not the input the journal {self.journal.path!r} recorded at "
            "that index: this is another batch (inputs and job options must be the same, in "
            "the same order, to resume). Use a new journal file for a new batch.",
            reason="other_batch",
        )

    def _from_journal(self, entry: Entry) -> BatchItem:
        state: JobState | None = None
        error: RunpodError | None = None
        text, code = entry.error_text or "", entry.error_code or 0
        if entry.raw_json is not None and entry.job_id is not None:
            # The terminal state the journal kept byte for byte, read by the one job parser.
            try:
                raw = entry.raw_json
                state = job_state_from_object(decode_object(raw), raw, expected_id=entry.job_id)
            except BodyShapeError as exc:
                assert self.journal is not None
                raise JournalError(
                    f"the journal {self.journal.path!r} holds an unreadable state for input "
                    f"{entry.index} ({exc.why}): it was changed by hand; use a new journal file"
                ) from None
            try:
                check_terminal(state)
            except JobError as exc:
                error = exc
        elif entry.error_kind == "lost":
            error = NotFoundError(text, status_code=code, operation="status", job_id=entry.job_id)
        else:
            cls = PayloadTooLargeError if code == 413 else BadRequestError
            error = cls(text, status_code=code, operation="run", job_id=entry.job_id)
        duplicate = entry.duplicates > 0
        return BatchItem(entry.index, entry.job_id, state, error, True, duplicate, resumed=True)

    def deliver(self, work: Work, item: BatchItem) -> BatchItem:
        """Journal ``item``'s outcome if final, then hand it back to be yielded."""
        self._stats["yielded"] += 1
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
                "batch. Use a new journal file for a new batch.",
                reason="other_batch",
            )

    # --- stopping -------------------------------------------------------------------------

    def begin_stop(self, cancel: bool) -> list[str]:
        """Stop submitting; return the jobs the scheduler is to cancel (all running ones, if
        ``cancel``). Jobs whose id arrives later are cancelled by their own operation."""
        with self._mutex:
            if self.stopping:
                return []
            self.stopping, self._cancelling = True, cancel
            self._to_cancel = dict(self._running) if cancel else {}
            return list(self._to_cancel)

    def cancelled(self, job_id: str, state: JobState | None) -> None:
        """A cancel sent on the batch's behalf replied ``state`` (``None``: it failed). A job
        the reply shows CANCELLED (not one that had ended first) is withdrawn: a resumed batch
        runs its input again."""
        with self._mutex:
            index = self._running.pop(job_id, self._to_cancel.get(job_id, -1))
            (self._cancel_failed if state is None else self._cancelled).append((index, job_id))
        withdrawn = state is not None and state.status == JobStatus.CANCELLED
        if withdrawn and index >= 0 and self.journal is not None:
            self.journal.withdrawn(index)

    def wait_for_submits(self) -> None:
        """Block until every submit in flight has its reply (and, when cancelling, its job
        cancelled). Each submit is bounded by its own timeouts."""
        with self._mutex:
            while self._submitting:
                self._lock.wait(0.1)

    def report(self, stopped_by: str = "interrupted") -> StopReport:
        """What the batch leaves behind now; ``stopped_by``: what stopped it (see
        ``stopping.stop_cause``)."""
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
        with self._mutex:
            self._end_submit(work)

    def _end_submit(self, work: Work) -> None:
        work.submitting = False
        self._submitting -= 1
        if not self._submitting:  # the only waiter waits for none in flight
            self._lock.notify_all()

    def submit_accepted(self, work: Work, job_id: str, state: JobState | None) -> bool:
        """The submit of ``work`` named its job (``state``: its reply, if it had one): journal
        the id, count the job as running unless the reply shows it COMPLETED, and end the
        submit — one lock for all. ``True`` if the batch is stopping with cancelling: the job
        is to be cancelled at once, by this operation, and its submit stays in flight (see
        :meth:`wait_for_submits`) until :meth:`submit_ended`."""
        if self.journal is not None:
            self.journal.accepted(work.index, job_id)
        with self._mutex:
            if self.stopping and self._cancelling:
                self._running[job_id] = work.index
                return True
            if state is None or state.status != JobStatus.COMPLETED:
                self._running[job_id] = work.index
            self._end_submit(work)
            return False

    def accepted(self, work: Work, job_id: str) -> bool:
        """Count the reattached job of ``work`` as running; ``True`` if the batch is stopping
        with cancelling and the job is to be cancelled at once, by this operation."""
        with self._mutex:
            self._running[job_id] = work.index
            return self.stopping and self._cancelling

    def ended(self, job_id: str) -> None:
        """The job is known to have ended (or to be gone): no longer running."""
        with self._mutex:
            self._running.pop(job_id, None)


def encoded_inputs(inputs: Iterable[Any], encode: Callable[[Any], JobBody]) -> Bodies:
    """Each input encoded as its job's body just before it is needed, or the
    InvalidInputError saying why it cannot be sent."""
    for value in inputs:
        try:
            yield encode(value)
        except InvalidInputError as exc:
            yield exc
