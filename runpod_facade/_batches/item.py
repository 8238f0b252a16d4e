"""One input of a batch, written once as an operation of effects (see ``_core``) that either
driver runs: submit — journal ``SENDING`` first, ``ACCEPTED`` as soon as the id arrives —
then wait (``_core.waiting.settle``: long-polls, ``retry_failed``, the batch's one deadline), and
return a :class:`BatchItem`. What it shares with the other items — the journal, the jobs
running, whether the batch has stopped — is the :class:`~runpod_facade._batches.run.BatchRun`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from .._constants import MIN_WAIT_MS
from .._core.effects import Operation, Send
from .._core.engine import DeadlineReached
from .._core.interrupts import JobTracker
from .._core.waiting import LOOK_FLOOR, settle, submit_request
from .._exceptions import (
    APIConnectionError,
    APIStatusError,
    BadRequestError,
    JobError,
    NotFoundError,
    PayloadTooLargeError,
    RunpodError,
)
from .._status import JobStatus
from .._types import JobState
from .._wire.requests import JobBody
from .types import BatchItem

if TYPE_CHECKING:
    from .run import BatchRun

__all__ = ["BatchStopped", "Work", "cancel_job", "run_item", "stoppable"]

T = TypeVar("T")

# Requests an item's operation must be let finish once the batch stops: a submit (its reply
# carries the id) and a cancel (the clean-up itself).
_UNINTERRUPTED = frozenset({"run", "runsync", "cancel"})


class BatchStopped(BaseException):
    """Internal: thrown into an item's operation once the batch has stopped (not an
    ``Exception``, so nothing on the way catches it)."""


@dataclass(slots=True, eq=False)
class Work:
    """One input on its way: its job's encoded body and what the journal knows. Equal only
    to itself (and hashed so): the asyncio scheduler keys its tasks by it."""

    index: int
    body: JobBody
    digest: bytes
    job_id: str | None = None  # a job of an earlier run, to reattach to
    withdrawn: bool = False  # ... that an earlier run cancelled: resubmit unless it ended
    duplicate: bool = False  # the item's possibly_duplicated
    unknown_fate: bool = False  # an earlier submit of it may have created a job
    submitting: bool = False


def stoppable(run: BatchRun, operation: Operation[T]) -> Operation[T]:
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


def _item(
    work: Work,
    job_id: str | None,
    state: JobState | None,
    error: RunpodError | None,
    final: bool = True,
) -> BatchItem:
    return BatchItem(work.index, job_id, state, error, final, work.duplicate)


def _lost(job_id: str, cause: NotFoundError) -> NotFoundError:
    lost = NotFoundError(
        f"job {job_id}: the server no longer knows this job — its result is past retention "
        "(30 min after it ended for /run, 1 min for /runsync) or its TTL expired — so its "
        "outcome cannot be fetched",
        status_code=404,
        body=cause.body,
        operation=cause.operation,
        job_id=job_id,
    )
    lost.__cause__ = cause
    return lost


def run_item(run: BatchRun, work: Work) -> Operation[BatchItem]:
    """Submit, then wait for the end; or reattach to the job of an earlier run."""
    if work.job_id is not None:
        return _reattach(run, work, work.job_id)
    return _submit_and_wait(run, work)


def _reattach(run: BatchRun, work: Work, job_id: str) -> Operation[BatchItem]:
    state: JobState | None = None
    if work.withdrawn:
        # An earlier run cancelled this job when it stopped: keep an outcome it reached
        # anyway, else run the input again.
        try:
            state = yield from run.core.status(job_id)
        except NotFoundError:
            state = None
        resubmit = state is None or state.status == JobStatus.CANCELLED
        run.count("resubmitted" if resubmit else "reattached")
        if resubmit:
            return (yield from _submit_and_wait(run, work))
    if run.accepted(work, job_id):
        # Reattached just as the batch stopped with cancelling: cancel it like the others.
        yield from cancel_job(run, job_id)
        raise BatchStopped
    return (yield from _wait(run, work, job_id, state))


def cancel_job(run: BatchRun, job_id: str) -> Operation[None]:
    """Cancel a job on the batch's behalf (``EndpointCore.cancel_quietly``) and tell the run
    how it went: a job the reply shows ended anyway keeps its outcome for a resume."""
    run.cancelled(job_id, (yield from run.core.cancel_quietly(job_id)))


def _submit_and_wait(run: BatchRun, work: Work) -> Operation[BatchItem]:
    # /run, or /runsync with the server's minimum hold when that fits the deadline (see
    # "Submitting" in the docstring of ``_batches.run``).
    request = submit_request(
        run.core,
        work.body,
        run.deadline,
        id_at_once=run.submit_with_run,
        longest=MIN_WAIT_MS / 1000,
    )
    if not run.submit_started(work):
        raise BatchStopped
    try:
        if run.journal is not None:
            # Committed before the request can leave: a crash from here on leaves a row
            # that says "a job may exist".
            run.journal.sending(work.index, work.digest, duplicate=work.unknown_fate)
            work.unknown_fate = False
        known: JobState | None
        try:
            known = yield from run.core.call(request, run.deadline, floor=LOOK_FLOOR)
            job_id = known.id
        except DeadlineReached as reached:
            return _submit_failed(run, work, reached.error)
        except RunpodError as exc:
            if exc.job_id is None:
                return _submit_failed(run, work, exc)
            # A cut-short reply that still named the job: the job exists; wait for it.
            job_id, known = exc.job_id, None
        except BaseException:
            # Interrupted (a task cancelled) before the reply: a job may exist, unnamed.
            run.submit_cut_short()
            raise
        if run.submit_accepted(work, job_id, known):
            yield from cancel_job(run, job_id)
            raise BatchStopped
    finally:
        if work.submitting:  # (submit_accepted ends it, unless the job is to be cancelled)
            run.submit_ended(work)
    if known is not None and known.status == JobStatus.COMPLETED:
        # The submit's reply is the job's end (a short job's /runsync): what settle() would
        # return, without a wait to set up.
        return _item(work, job_id, known, None)
    return (yield from _wait(run, work, job_id, known))


def _submit_failed(run: BatchRun, work: Work, error: RunpodError) -> BatchItem:
    """No job id came back. Whether a job was created decides what the journal keeps."""
    refused = isinstance(error, (BadRequestError, PayloadTooLargeError))
    never_sent = isinstance(error, APIConnectionError) and not error.request_sent
    turned_away = isinstance(error, APIStatusError) and 400 <= error.status_code < 500
    if run.journal is not None and (never_sent or turned_away) and not refused:
        run.journal.unsent(work.index)
    # Otherwise the row stays SENDING: a 5xx or a lost reply may hide a created job, and a
    # later run resubmits it as possibly duplicated. A 400/413 is this input's final answer.
    return _item(work, None, None, error, refused)


def _wait(run: BatchRun, work: Work, job_id: str, known: JobState | None) -> Operation[BatchItem]:
    # A job stays in the batch's running set until it is known to have ended: a wait cut
    # short (deadline, outage) leaves it running, and a stop may still cancel it.
    try:
        state = yield from settle(
            run.core, job_id, run.deadline, known, False, None, run.retry_failed, JobTracker()
        )
    except JobError as exc:
        run.ended(job_id)
        return _item(work, job_id, exc.state, exc)
    except NotFoundError as exc:
        run.ended(job_id)
        return _item(work, job_id, None, _lost(job_id, exc))
    except RunpodError as exc:
        last = getattr(exc, "last_state", None)
        return _item(work, job_id, last, exc, False)
    run.ended(job_id)
    return _item(work, job_id, state, None)
