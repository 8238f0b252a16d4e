"""How a batch's iteration ends, for either scheduler (``threads``, ``tasks``): what stopped
it, in words, and who is told what it left behind."""

from __future__ import annotations

import logging
from typing import Literal

from .._core.interrupts import headline, is_cancellation, is_interrupt, tell
from .run import BatchRun
from .types import BatchTimeout, StopReport

__all__ = ["CLOSED", "DROPPED", "Scheduler", "annotate", "left_behind", "stop_cause"]

logger = logging.getLogger("runpod_facade")

#: What stopped a batch closed before its end (``close()``, the end of a ``with`` block).
CLOSED = "the caller stopped iterating"
#: ... or dropped unclosed (a ``break`` without ``with``, the loop finalizing it).
DROPPED = (
    "the caller stopped iterating and dropped the results unclosed (a break, or an "
    "exception such as Ctrl-C in the loop's body)"
)


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


def annotate(exc: BaseException, report: StopReport, cancel: bool) -> None:
    """Add ``report``'s notes to ``exc``; log them too if ``exc`` is a task cancellation:
    asyncio may replace it (``asyncio.run`` raises a fresh KeyboardInterrupt on Ctrl-C,
    ``wait_for`` a TimeoutError; see ``tell``)."""
    notes = report.notes(cancel=cancel)
    for note in notes:
        exc.add_note(note)
    if is_cancellation(exc) and left_behind(report):
        tell([headline(report.stopped_by), *notes])


class Scheduler:
    """How a scheduler's batch ends: ``close()`` and ``with`` around its iteration."""

    def __init__(self, run: BatchRun) -> None:
        self.run = run
        self.close_cancel = False
        #: What stops the batch if it is closed at a yield (see ``stop_cause``), and who
        #: is told what it left: the caller of close() (its report; a warning is logged),
        #: an exception leaving a ``with`` block (its notes), or — dropped unclosed —
        #: nobody but the log (see ``tell``).
        self.close_cause = DROPPED
        self.close_by: Literal["dropped", "close", "raised"] = "dropped"
        self.reading = False  # the input iterator is running: what it raises is its own
        self.report: StopReport | None = None

    def shutdown(self) -> None: ...

    def cancels(self, exc: BaseException | None) -> bool:
        return exc is not None and is_interrupt(exc) and self.run.cancel_on_interrupt

    def closing(self, cancel: bool) -> bool:
        """``close()``: whether the iteration is to be closed (at a yield: stops it there)."""
        if self.report is None:
            self.close_cancel = cancel
            if self.close_by == "dropped":  # not an exception leaving a with block
                self.close_by, self.close_cause = "close", CLOSED
        return self.report is None

    def closed(self) -> StopReport:
        if self.report is None:  # never started, or already ended
            self.shutdown()
            self.report = self.run.report(self.close_cause)
        return self.report

    def exiting(self, exc: BaseException | None) -> bool:
        """A ``with`` block ends (by ``exc``): whether to cancel the jobs."""
        if exc is not None:
            self.close_by, self.close_cause = "raised", stop_cause(exc, in_loop=True)
        return self.cancels(exc)

    def tell_closed(self, report: StopReport) -> None:
        """Closed at a yield: log what it left (an exception carries it in its notes)."""
        if not left_behind(report) or self.close_by == "raised":
            return
        notes = report.notes(cancel=self.close_cancel)
        if self.close_by == "close":
            logger.warning("batch closed early (%s); %s", self.close_cause, "; ".join(notes))
        else:
            tell([headline(self.close_cause), *notes])
