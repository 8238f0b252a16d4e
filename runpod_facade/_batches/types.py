"""What a batch (``Endpoint.map``) hands out: :class:`BatchItem` per input, its counters,
the report of what a stopped batch left behind, and :class:`BatchTimeout`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .._core.interrupts import NOTE_PREFIX, job_notes
from .._exceptions import RunpodError
from .._frozen import slot_init
from .._public import name_public
from .._status import JobStatus
from .._types import JobState

__all__ = ["BatchItem", "BatchStats", "BatchTimeout", "StopReport"]


@slot_init  # (one per job: see _frozen)
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
        """The COMPLETED state; raises ``error`` otherwise."""
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
    ``resubmitted``: inputs whose job an earlier run cancelled when it stopped, submitted
    again; ``resumed``: outcomes yielded again from the journal; ``yielded``: items handed
    out; ``running``: jobs the server accepted that have not been seen to end (a snapshot,
    not a total).
    """

    read: int = 0
    submitted: int = 0
    possibly_duplicated: int = 0
    reattached: int = 0
    resumed: int = 0
    yielded: int = 0
    resubmitted: int = 0
    running: int = 0


@dataclass(frozen=True, slots=True)
class StopReport:
    """What a stopped batch left behind: jobs it ``cancelled``, jobs whose cancel failed,
    jobs ``left_running`` (not cancelled), each in input order, and submits whose reply —
    and job id — had not arrived (``unnamed_submits``). ``stopped_by`` says what stopped it,
    in words ("the caller stopped iterating", "the input iterator raised ValueError" …)."""

    cancelled: tuple[str, ...] = ()
    cancel_failed: tuple[str, ...] = ()
    left_running: tuple[str, ...] = ()
    unnamed_submits: int = 0
    journal: str | None = None
    stopped_by: str = "interrupted"

    def notes(
        self,
        *,
        cancel: bool,
        why: str = "on interrupt (cancel_on_interrupt=True)",
        stopped_by: str | None = None,
    ) -> list[str]:
        """The report as sentences (PEP 678 notes of the exception that stopped the batch).
        ``stopped_by`` overrides :attr:`stopped_by`."""
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
                stopped=self.stopped_by if stopped_by is None else stopped_by,
            )
        ]


name_public(globals()[name] for name in __all__)  # public, imported on first use
