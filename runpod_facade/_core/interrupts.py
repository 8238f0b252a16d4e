"""What an operation does when Ctrl-C or a task cancellation interrupts it.

The drivers throw the interrupt (``KeyboardInterrupt``, ``asyncio.CancelledError``) into the
operation where it stands. :func:`interruptible` catches it there, optionally cancels the
jobs the operation had started (one more request each, bounded by ``CANCEL_TIMEOUT``), and
re-raises it with a PEP 678 note naming every job left running — or saying plainly that a
submit was in flight and the server had not sent its id yet.
"""

from __future__ import annotations

import logging
from typing import TypeVar

from .._status import JobStatus
from .effects import Operation
from .engine import EndpointCore

__all__ = [
    "NOTE_PREFIX",
    "JobTracker",
    "headline",
    "interruptible",
    "is_cancellation",
    "is_interrupt",
    "job_notes",
    "on_interrupt",
    "tell",
]

T = TypeVar("T")
logger = logging.getLogger("runpod_facade")

NOTE_PREFIX = "runpod-facade: "


def is_interrupt(exc: BaseException) -> bool:
    """Ctrl-C, a task cancellation, ``SystemExit``: anything that is not an error of the code
    itself. ``GeneratorExit`` is the operation being closed, not interrupted."""
    return not isinstance(exc, (Exception, GeneratorExit))


def is_cancellation(exc: BaseException) -> bool:
    """An asyncio task cancellation (checked by name: blocking users never import asyncio)."""
    return type(exc).__name__ == "CancelledError" and not isinstance(exc, Exception)


def headline(stopped_by: str) -> str:
    """The first line told about a stopped batch: what stopped it."""
    return f"{NOTE_PREFIX}batch stopped early: {stopped_by}"


def tell(notes: list[str]) -> None:
    """Log ``notes`` (what an interrupt or a dropped batch left behind) at WARNING on the
    ``runpod_facade`` logger — through ``logging.lastResort`` (stderr) when logging is not
    configured, where the logger's own NullHandler would swallow them.

    For what no exception can be trusted to carry: asyncio replaces a task's CancelledError
    (``asyncio.run`` raises a fresh KeyboardInterrupt on Ctrl-C, ``wait_for`` a
    TimeoutError), and a batch dropped unclosed has no exception at all. Configured logging
    (any handler on the way up, or the logger's level above WARNING) decides as usual."""
    if not notes or not logger.isEnabledFor(logging.WARNING):
        return
    fallback = None if _configured(logger) else logging.lastResort
    for note in notes:
        if fallback is None:
            logger.warning("%s", note)
            continue
        record = logger.makeRecord(logger.name, logging.WARNING, "", 0, note, (), None)
        if logger.filter(record):  # the secret-masking filter, as the logger would
            fallback.handle(record)


def _configured(log: logging.Logger) -> bool:
    """Whether a record of ``log`` reaches a handler other than a NullHandler."""
    current: logging.Logger | None = log
    while current is not None:
        if any(not isinstance(h, logging.NullHandler) for h in current.handlers):
            return True
        if not current.propagate:
            return False
        current = current.parent
    return False


class JobTracker:
    """The jobs an operation has started and not yet seen end (``job_id``: one already)."""

    __slots__ = ("awaiting_id", "running")

    def __init__(self, job_id: str | None = None) -> None:
        #: An insertion-ordered set of job ids.
        self.running: dict[str, None] = {} if job_id is None else {job_id: None}
        #: Submits in flight whose reply — and job id — has not arrived.
        self.awaiting_id = 0

    def started(self, job_id: str) -> None:
        self.running[job_id] = None

    def ended(self, job_id: str) -> None:
        self.running.pop(job_id, None)


def interruptible(
    core: EndpointCore, operation: Operation[T], tracker: JobTracker, *, cancel: bool
) -> Operation[T]:
    """Run ``operation``; on an interrupt, cancel the tracked jobs if ``cancel``, then re-raise
    the interrupt with notes saying what was left running (see :func:`on_interrupt`)."""
    try:
        return (yield from operation)
    except BaseException as exc:
        yield from on_interrupt(core, exc, tracker, cancel=cancel)
        raise


def on_interrupt(
    core: EndpointCore, exc: BaseException, tracker: JobTracker, *, cancel: bool
) -> Operation[None]:
    """What an operation does with ``exc``, raised where it stood, before re-raising it: if it
    is an interrupt, cancel the tracked jobs if ``cancel`` and add notes to ``exc`` saying what
    was left running; else nothing. A generator's own ``except BaseException`` calls it (as
    :func:`interruptible` does), so a wait needs no wrapping generator of its own."""
    if not is_interrupt(exc):
        return
    cancelled: list[str] = []
    failed: list[str] = []
    notes: list[str] = []  # first the jobs that ended on their own just before the cancel
    if cancel:
        for job_id in list(tracker.running):
            state = yield from core.cancel_quietly(job_id)
            if state is None:
                failed.append(job_id)
            elif state.status == JobStatus.CANCELLED:
                cancelled.append(job_id)
            else:
                notes.append(f"job {job_id} had already ended {state.status}")
    left = failed if cancel else list(tracker.running)
    rest = job_notes(left, tracker.awaiting_id, cancelled, failed, cancel=cancel)
    if not notes or rest != [NOTHING_LEFT]:
        notes += rest
    notes = [NOTE_PREFIX + note for note in notes]
    for note in notes:
        exc.add_note(note)
    if (left or tracker.awaiting_id) and is_cancellation(exc):
        tell(notes)  # asyncio may replace the CancelledError (see tell)


NOTHING_LEFT = "no job was left running"

#: Why a submit's job can be unnamed, and how to avoid it, for a single call.
RUN_SYNC_SUBMIT_HINT = (
    "run_sync(..., cancel_on_interrupt=True) submits with /run, which returns the id at once"
)


def job_notes(
    left: list[str],
    awaiting: int,
    cancelled: list[str],
    failed: list[str],
    *,
    cancel: bool,
    cancelled_why: str = "on interrupt (cancel_on_interrupt=True)",
    resume: str | None = None,
    submit_hint: str = RUN_SYNC_SUBMIT_HINT,
    stopped: str = "interrupted",
) -> list[str]:
    """What an interrupted (or stopped) operation leaves behind, as notes: the jobs it
    cancelled, the jobs ``left`` running (``failed``: those whose cancel failed), and the
    ``awaiting`` submits whose job id never arrived. ``resume`` replaces the default advice
    for the jobs left running; ``stopped`` says what cut the submits short."""
    notes: list[str] = []
    if cancelled:
        noun = "job" if len(cancelled) == 1 else "jobs"
        notes.append(f"{noun} {', '.join(cancelled)} cancelled {cancelled_why}")
    if left:
        first = left[0]
        noun = "job" if len(left) == 1 else "jobs"
        why = " (cancelling failed)" if cancel and set(left) <= set(failed) else ""
        advice = resume or (
            f"resume with ep.job({first!r}).wait() or cancel with ep.cancel({first!r})"
        )
        notes.append(f"{noun} {', '.join(left)} left running on the endpoint{why}; {advice}")
    if awaiting == 1:
        notes.append(
            f"{stopped} while a submit was in flight: the server sends the job id only "
            "with its reply, so a job may be running that cannot be named or cancelled "
            f"({submit_hint})"
        )
    elif awaiting > 1:
        notes.append(
            f"{stopped} while {awaiting} submits were in flight: the server sends a job id "
            f"only with its reply, so {awaiting} jobs may be running that cannot be named or "
            f"cancelled ({submit_hint})"
        )
    if not notes:
        notes.append(NOTHING_LEFT)
    return notes
