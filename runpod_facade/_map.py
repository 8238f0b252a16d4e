"""Batches as streams (``Endpoint.map``): the per-item operation, written once, and the state
the two schedulers (threads: ``_map_threads``; asyncio tasks: ``_map_tasks``) share.

One item is one operation of effects, run by either driver (see ``_core``): submit (journal
``SENDING`` first, ``ACCEPTED`` as soon as the id arrives) → wait (``_waiting.settle``:
long-polls, ``retry_failed``, the batch's one deadline) → a :class:`BatchItem`. The
scheduler journals an item's outcome (``FINAL``) just before it yields it, so "recorded" means
"handed to the caller" (see ``_journal``).

Submitting. Without a journal, a job goes out with ``/runsync?wait=1000``: the server's
minimum hold, so a job that ends within a second costs one request, and its id is never more
than about a second late (fail-fast cancels and interrupt notes need ids). With a journal —
or ``cancel_on_interrupt=True`` — it goes out with ``/run``: the id comes at once, which
keeps the window where a crash leaves a submit of unknown fate as short as the API allows,
and a ``/run`` result is kept 30 minutes (``/runsync``: 1 minute) for a resumed batch to
fetch. Measured on loopback (``benchmarks/map_submit.py``, no-op handler, 4 workers,
concurrency 16, 2,000 jobs, median of 3): ``/runsync`` 1.00 request a job, ``/run`` 2.00
(the submit, then one ``/status-sync`` long-poll), and the ``/run`` path took 1.5x the time.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

from ._constants import MIN_WAIT_MS
from ._core import DeadlineReached, EndpointCore
from ._deadline import Deadline
from ._effects import Operation, Send
from ._errors import (
    APIConnectionError,
    APIError,
    BadRequestError,
    InvalidInputError,
    JobError,
    NotFoundError,
    PayloadTooLargeError,
    RunpodError,
)
from ._interrupts import NOTE_PREFIX, JobTracker, job_notes
from ._journal import Entry, Journal, JournalError, Phase, fingerprint
from ._status import JobStatus
from ._types import JobState
from ._waiting import LOOK_FLOOR, check_terminal, hold_for, settle, wait_ms
from ._wire import ApiRequest, ApiResponse, JobRequest, parse_job

__all__ = [
    "BatchItem",
    "BatchRun",
    "BatchStats",
    "BatchStopped",
    "BatchTimeout",
    "StopReport",
    "Work",
]

logger = logging.getLogger("runpod_facade")
T = TypeVar("T")

_SUBMITS = frozenset({"run", "runsync"})
# Requests an item's operation must be let finish once the batch stops: a submit (its reply
# carries the id) and a cancel (the clean-up itself).
_UNINTERRUPTED = _SUBMITS | {"cancel"}


# --- public values ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BatchItem:
    """The outcome of one input of a batch (``Endpoint.map``), yielded as it is known.

    Attributes:
        index: the input's position in ``inputs`` (0-based).
        job_id: the job's id; ``None`` if no job was created (bad input, refused submit) or
            the submit failed before its reply named one.
        state: the job's last known state: terminal (COMPLETED, FAILED, CANCELLED,
            TIMED_OUT) when it ended; the last state seen when the wait was cut short; ``None``
            when none was seen.
        error: ``None`` when the job COMPLETED. Otherwise why not: ``JobFailed`` /
            ``JobCancelled`` / ``JobTimedOut`` (the job ended so), ``InvalidInputError`` (the
            input cannot be sent; nothing was), an ``APIError`` or ``APIConnectionError``
            (submitting or waiting failed), ``WaitTimeout`` (the batch's deadline passed; the
            job goes on), ``NotFoundError`` (the server no longer knows the job: its result
            is past retention or its TTL expired; ``job_id`` says which).
        final: the outcome will not change: a terminal state, or an error about this input
            (bad input, a 400/413 refusal, a forgotten job). With a journal, a later run yields
            a final item again (``resumed``) and retries or reattaches the others.
        possibly_duplicated: a submit of this input was in flight when an earlier run died,
            so a job of unknown fate may exist besides this one (it was submitted again).
        resumed: the outcome was yielded by an earlier run and comes from the journal (no
            request was made for it now).
    """

    index: int
    job_id: str | None
    state: JobState | None
    error: RunpodError | None
    final: bool = True
    possibly_duplicated: bool = False
    resumed: bool = False

    @property
    def ok(self) -> bool:
        """The job COMPLETED."""
        return self.error is None

    @property
    def status(self) -> JobStatus | str | None:
        """``state.status``, or ``None`` without a state."""
        return None if self.state is None else self.state.status

    @property
    def output(self) -> Any:
        """The handler's output if the job COMPLETED, else ``None`` (see :meth:`result`)."""
        return self.state.output if self.error is None and self.state is not None else None

    def result(self) -> JobState:
        """The COMPLETED state; raises :attr:`error` otherwise."""
        if self.error is not None:
            raise self.error
        assert self.state is not None
        return self.state


class BatchTimeout(RunpodError, TimeoutError):
    """The batch's ``timeout`` passed before every input was submitted.

    Raised by the iteration after the items of the jobs that were in flight (each with its
    ``WaitTimeout``). Attributes: ``timeout`` (seconds), ``next_index`` (the first input that
    was not read, hence not submitted; it and every later input were left alone).
    """

    def __init__(self, timeout: float | None, next_index: int) -> None:
        self.timeout = timeout
        self.next_index = next_index
        limit = "" if timeout is None else f" of {timeout:g}s"
        super().__init__(
            f"the batch's deadline{limit} passed; inputs from index {next_index} on were not "
            "submitted"
        )


@dataclass(frozen=True, slots=True)
class BatchStats:
    """Counters of one batch run (``results.stats``).

    ``read``: inputs taken from the iterable; ``submitted``: submits sent;
    ``possibly_duplicated``: inputs submitted again because an earlier run died with their
    submit in flight; ``reattached``: jobs of an earlier run waited for by id;
    ``resumed``: outcomes yielded again from the journal; ``yielded``: items handed out.
    """

    read: int = 0
    submitted: int = 0
    possibly_duplicated: int = 0
    reattached: int = 0
    resumed: int = 0
    yielded: int = 0


@dataclass(frozen=True, slots=True)
class StopReport:
    """What a stopped batch left behind: jobs it ``cancelled``, jobs whose cancel failed,
    jobs ``left_running`` (not cancelled), each in input order, and submits whose reply —
    and job id — had not arrived (``unnamed_submits``)."""

    cancelled: tuple[str, ...] = ()
    cancel_failed: tuple[str, ...] = ()
    left_running: tuple[str, ...] = ()
    unnamed_submits: int = 0
    journal: str | None = None

    def notes(
        self, *, cancel: bool, why: str = "on interrupt (cancel_on_interrupt=True)"
    ) -> list[str]:
        """The report as sentences (PEP 678 notes of the exception that stopped the batch)."""
        resume = None
        if self.journal is not None and self.left_running:
            resume = f"run the batch again with journal={self.journal!r} to wait for them"
        hint = "map(..., cancel_on_interrupt=True) submits with /run, which returns ids at once"
        return [
            NOTE_PREFIX + note
            for note in job_notes(
                [*self.left_running, *self.cancel_failed],
                self.unnamed_submits,
                list(self.cancelled),
                list(self.cancel_failed),
                cancel=cancel,
                cancelled_why=why,
                resume=resume,
                submit_hint=hint,
            )
        ]


class BatchStopped(BaseException):
    """Internal: thrown into an item's operation once the batch has stopped (not an
    ``Exception``, so nothing on the way catches it)."""


# --- one input --------------------------------------------------------------------------------


@dataclass(slots=True)
class Work:
    """One input on its way: its encoded ``/run`` request and what the journal knows."""

    index: int
    request: ApiRequest
    digest: bytes
    job_id: str | None = None  # a job of an earlier run, to reattach to
    withdrawn: bool = False  # ... that an earlier run cancelled: resubmit unless it ended
    duplicate: bool = False  # the item's possibly_duplicated
    unknown_fate: bool = False  # an earlier submit of it may have created a job
    submitting: bool = False


def _stoppable(run: BatchRun, operation: Operation[T]) -> Operation[T]:
    """``operation``, into which :class:`BatchStopped` is thrown at its next effect once the
    batch stops — except during a submit (its reply names the job) or a cancel."""
    value: Any = None
    pending: BaseException | None = None
    thrown = False
    while True:
        try:
            effect = operation.send(value) if pending is None else operation.throw(pending)
        except StopIteration as stop:
            result: T = stop.value
            return result
        value, pending = None, None
        if (
            run.stopping
            and not thrown
            and not (isinstance(effect, Send) and effect.request.operation in _UNINTERRUPTED)
        ):
            thrown, pending = True, BatchStopped()
            continue
        try:
            value = yield effect
        except GeneratorExit:
            operation.close()
            raise
        except BaseException as exc:  # an interrupt the driver throws in: pass it on
            pending = exc


def _item(work: Work, **fields: Any) -> BatchItem:
    return BatchItem(index=work.index, possibly_duplicated=work.duplicate, **fields)


def _lost(job_id: str, cause: NotFoundError) -> NotFoundError:
    return NotFoundError(
        f"job {job_id}: the server no longer knows this job — its result is past retention "
        "(30 min after it ended for /run, 1 min for /runsync) or its TTL expired — so its "
        "outcome cannot be fetched",
        status_code=404,
        body=cause.body,
        operation=cause.operation,
        job_id=job_id,
    )


# --- the state of one batch run ------------------------------------------------------------


class BatchRun:
    """One batch run: its settings, the journal, and what is in flight. The reading side
    (:meth:`take`, :meth:`deliver`, :meth:`finish`) belongs to the scheduler; the item
    operations, run on worker threads or tasks, report through the locked methods."""

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
        self.concurrency = concurrency
        self.deadline = deadline
        self.retry_failed = retry_failed
        self.journal = journal
        self.cancel_on_interrupt = cancel_on_interrupt
        self.replay = replay
        # /run when the id is needed at once (see the module docstring); else a 1 s /runsync.
        self.submit_with_run = journal is not None or cancel_on_interrupt
        self._runsync: ApiRequest | None = None
        self._lock = threading.Condition()
        self._next_index = 0
        self._exhausted = False
        self._timed_out = False
        self.stopping = False
        self._cancelling = False
        self._running: dict[str, int] = {}  # job id -> input index
        self._submitting = 0
        self._unnamed = 0  # submits cut short (task cancelled) before their reply
        # (input index, job id): reports list jobs in input order, whatever order they ran.
        self._cancelled: list[tuple[int, str]] = []
        self._cancel_failed: list[tuple[int, str]] = []
        self._stats = dict.fromkeys(BatchStats.__slots__, 0)

    # --- the scheduler's side ------------------------------------------------------------

    @property
    def stats(self) -> BatchStats:
        with self._lock:
            return BatchStats(**self._stats)

    def _count(self, name: str, n: int = 1) -> None:
        with self._lock:
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

    def take(self, prepared: ApiRequest | InvalidInputError) -> Work | BatchItem | None:
        """The next input, encoded (or why it cannot be): a :class:`Work` to run, an item
        that needs no request (a bad input, an outcome from the journal), or ``None`` (an
        outcome from the journal that is not to be yielded again)."""
        index = self._next_index
        self._next_index += 1
        self._count("read")
        entry = None if self.journal is None else self.journal.entry(index)
        if isinstance(prepared, InvalidInputError):
            if entry is not None:
                raise self._mismatch(index)
            self._count("yielded")
            return BatchItem(index=index, job_id=None, state=None, error=prepared)
        if self.journal is None:
            return Work(index, prepared, b"")
        digest = fingerprint(prepared.content or b"")
        if entry is None:
            return Work(index, prepared, digest)
        if entry.fingerprint != digest:
            raise self._mismatch(index)
        duplicate = entry.duplicates > 0
        if entry.phase is Phase.FINAL:
            if not self.replay:
                return None
            self._count("resumed")
            self._count("yielded")
            return self._from_journal(entry)
        if entry.phase is Phase.SENDING:
            # The submit was in flight when a run died: a job may exist. Send it again, and
            # say so on the item (and in the journal, for any later replay of it).
            self._count("possibly_duplicated")
            return Work(index, prepared, digest, duplicate=True, unknown_fate=True)
        self._count("reattached")
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
            request = self.core.request("status", job_id=entry.job_id)
            state = parse_job(ApiResponse(200, {}, entry.raw_json), request)
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

    def deliver(self, work: Work, item: BatchItem) -> BatchItem:
        """Journal ``item``'s outcome if final, then hand it back to be yielded."""
        self._count("yielded")
        if self.journal is None or not item.final:
            return item
        if item.state is not None and item.job_id is not None and item.state.is_terminal:
            self.journal.final_state(
                work.index, item.job_id, str(item.state.status), item.state.raw_json
            )
        elif isinstance(item.error, APIError):
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
        with self._lock:
            first = not self.stopping
            self.stopping = True
            if not first:
                return []
            self._cancelling = cancel
            return list(self._running) if cancel else []

    def cancelled(self, job_id: str, ok: bool) -> None:
        """A cancel sent on the batch's behalf succeeded (``ok``) or failed."""
        with self._lock:
            index = self._running.pop(job_id, -1)
            (self._cancelled if ok else self._cancel_failed).append((index, job_id))
        if ok and index >= 0 and self.journal is not None:
            self.journal.withdrawn(index)

    def wait_for_submits(self) -> None:
        """Block until every submit in flight has its reply (and, when cancelling, its job
        cancelled). Each submit is bounded by its own timeouts."""
        with self._lock:
            while self._submitting:
                self._lock.wait(0.1)

    @property
    def submits_in_flight(self) -> int:
        return self._submitting

    def report(self) -> StopReport:
        with self._lock:
            running = sorted((index, job_id) for job_id, index in self._running.items())
            return StopReport(
                cancelled=tuple(job_id for _, job_id in sorted(self._cancelled)),
                cancel_failed=tuple(job_id for _, job_id in sorted(self._cancel_failed)),
                left_running=tuple(job_id for _, job_id in running),
                unnamed_submits=self._submitting + self._unnamed,
                journal=None if self.journal is None else self.journal.path,
            )

    def close(self) -> None:
        if self.journal is not None:
            self.journal.close()

    # --- the item operations' side -------------------------------------------------------

    def operation(self, work: Work) -> Operation[BatchItem]:
        """The operation that runs ``work`` to its :class:`BatchItem`."""
        return _stoppable(self, _run_item(self, work))

    def _submit_started(self, work: Work) -> bool:
        """Count a submit as in flight — unless the batch has stopped: then ``False``, and
        nothing is sent. One lock with :meth:`begin_stop`, so a stop either waits for this
        submit or prevents it."""
        with self._lock:
            if self.stopping:
                return False
            self._submitting += 1
            self._stats["submitted"] += 1
        work.submitting = True
        return True

    def _submit_cut_short(self) -> None:
        with self._lock:
            self._unnamed += 1

    def _submit_ended(self, work: Work) -> None:
        work.submitting = False
        with self._lock:
            self._submitting -= 1
            self._lock.notify_all()

    def _accepted(self, work: Work, job_id: str, *, record: bool = True) -> bool:
        """Count the job as running (and journal its id, if ``record``); ``True`` if the
        batch is stopping and the job is to be cancelled at once, by this operation."""
        if record and self.journal is not None:
            self.journal.accepted(work.index, job_id)
        with self._lock:
            self._running[job_id] = work.index
            return self.stopping and self._cancelling

    def _ended(self, job_id: str) -> None:
        with self._lock:
            self._running.pop(job_id, None)

    def submit_request(self, work: Work) -> ApiRequest:
        """``/run``, or ``/runsync`` with the server's minimum hold when that fits the
        deadline (see the module docstring)."""
        if self.submit_with_run or hold_for(self.deadline, MIN_WAIT_MS / 1000) is None:
            return work.request
        if self._runsync is None:
            self._runsync = self.core.request(
                "runsync", body=JobRequest(input_=None), wait_ms=wait_ms(MIN_WAIT_MS / 1000)
            )
        return dataclasses.replace(self._runsync, content=work.request.content)


def _run_item(run: BatchRun, work: Work) -> Operation[BatchItem]:
    """Submit (unless a job of an earlier run is reattached), then wait for the end."""
    core = run.core
    state: JobState | None = None
    job_id = work.job_id
    if job_id is not None and work.withdrawn:
        # An earlier run cancelled this job when it stopped: keep an outcome it reached
        # anyway, else run the input again.
        try:
            state = yield from core.status(job_id)
        except NotFoundError:
            state = None
        if state is None or state.status == JobStatus.CANCELLED:
            job_id, state = None, None
    if job_id is None:
        submitted = yield from _submit(run, work)
        if isinstance(submitted, BatchItem):
            return submitted
        job_id, state = submitted
    elif run._accepted(work, job_id, record=False):
        # Reattached just as the batch stopped with cancelling: cancel it like the others.
        run.cancelled(job_id, (yield from run.core.cancel_quietly(job_id)))
        raise BatchStopped
    return (yield from _wait(run, work, job_id, state))


def _submit(run: BatchRun, work: Work) -> Operation[tuple[str, JobState | None] | BatchItem]:
    request = run.submit_request(work)
    if not run._submit_started(work):
        raise BatchStopped
    try:
        if run.journal is not None:
            # Committed before the request can leave: a crash from here on leaves a row
            # that says "a job may exist".
            run.journal.sending(work.index, work.digest, duplicate=work.unknown_fate)
            work.unknown_fate = False
        try:
            state: JobState = yield from run.core.call(request, run.deadline, floor=LOOK_FLOOR)
        except DeadlineReached as reached:
            return _submit_failed(run, work, reached.error)
        except RunpodError as exc:
            if exc.job_id is None:
                return _submit_failed(run, work, exc)
            # A cut-short reply that still named the job: the job exists; wait for it.
            job_id, known = exc.job_id, None
        except BaseException:
            # Interrupted (a task cancelled) before the reply: a job may exist, unnamed.
            run._submit_cut_short()
            raise
        else:
            job_id, known = state.id, state
        if run._accepted(work, job_id):
            done = yield from run.core.cancel_quietly(job_id)
            run.cancelled(job_id, done)
            raise BatchStopped
        return job_id, known
    finally:
        run._submit_ended(work)


def _submit_failed(run: BatchRun, work: Work, error: RunpodError) -> BatchItem:
    """No job id came back. Whether a job was created decides what the journal keeps."""
    refused = isinstance(error, (BadRequestError, PayloadTooLargeError))
    never_sent = isinstance(error, APIConnectionError) and not error.request_sent
    turned_away = isinstance(error, APIError) and 400 <= error.status_code < 500
    if run.journal is not None and (never_sent or turned_away) and not refused:
        run.journal.unsent(work.index)
    # Otherwise the row stays SENDING: a 5xx or a lost reply may hide a created job, and a
    # later run resubmits it as possibly duplicated. A 400/413 is this input's final answer.
    return _item(work, job_id=None, state=None, error=error, final=refused)


def _wait(run: BatchRun, work: Work, job_id: str, known: JobState | None) -> Operation[BatchItem]:
    # A job stays in the batch's running set until it is known to have ended: a wait cut
    # short (deadline, outage) leaves it running, and a stop may still cancel it.
    tracker = JobTracker()
    try:
        state = yield from settle(
            run.core, job_id, run.deadline, known, False, None, run.retry_failed, tracker
        )
    except JobError as exc:
        run._ended(job_id)
        return _item(work, job_id=job_id, state=exc.state, error=exc)
    except NotFoundError as exc:
        run._ended(job_id)
        return _item(work, job_id=job_id, state=None, error=_lost(job_id, exc))
    except RunpodError as exc:
        last = getattr(exc, "last_state", None)
        return _item(work, job_id=job_id, state=last, error=exc, final=False)
    run._ended(job_id)
    return _item(work, job_id=job_id, state=state, error=None)


def encoded_inputs(
    inputs: Iterable[Any], encode: Callable[[Any], ApiRequest]
) -> Iterator[ApiRequest | InvalidInputError]:
    """Each input encoded as its ``/run`` request just before it is needed, or the
    InvalidInputError saying why it cannot be sent."""
    for value in inputs:
        try:
            yield encode(value)
        except InvalidInputError as exc:
            yield exc
