"""What a ``batch`` run ends with: :class:`Outcome`, told as a few lines on stderr or as one
JSON object on stdout (``--json``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .._batches.types import BatchStats
from .._exceptions import RunpodError

__all__ = ["Outcome"]

#: Possibly duplicated lines listed by number at most; the rest are counted.
_LISTED = 50


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


@dataclass(frozen=True)
class Outcome:
    """Where OUTPUT stands after a run, and what the run did.

    ``jobs``: the non-blank lines of INPUT (``None`` when stdin was not read to its end);
    ``completed`` / ``failed``: lines of OUTPUT (every run's); ``written``: lines this run
    wrote; ``duplicated``: line numbers flagged possibly duplicated (this run's items,
    replayed ones included); ``last_left``: the error of the last line left unfinished;
    ``interrupted``: Ctrl-C or SIGTERM stopped the run (``terminated``: SIGTERM).
    """

    output: str
    journal: str
    jobs: int | None
    completed: int
    failed: int
    blank: int
    written: int
    stats: BatchStats
    duplicated: tuple[int, ...]
    dropped_torn: bool
    last_left: RunpodError | None
    interrupted: bool
    timed_out: bool
    terminated: bool = False

    @property
    def unfinished(self) -> int | None:
        """Lines without a result in OUTPUT (``None``: unknown, stdin not read to its end)."""
        return None if self.jobs is None else max(0, self.jobs - self.completed - self.failed)

    @property
    def success(self) -> bool:
        """Every line COMPLETED."""
        return self.unfinished == 0 and self.failed == 0 and not self.timed_out

    def to_json(self) -> dict[str, Any]:
        return {
            "output": self.output,
            "journal": self.journal,
            "jobs": self.jobs,
            "completed": self.completed,
            "failed": self.failed,
            "unfinished": self.unfinished,
            "blank": self.blank,
            "written": self.written,
            "submitted": self.stats.submitted,
            "resumed": self.stats.resumed,
            "reattached": self.stats.reattached,
            "resubmitted": self.stats.resubmitted,
            "possibly_duplicated": sorted(self.duplicated),
            "interrupted": self.interrupted,
            "terminated": self.terminated,
            "timed_out": self.timed_out,
        }

    def lines(self) -> list[str]:
        """The summary for a person (stderr)."""
        unfinished, stats = self.unfinished, self.stats
        head = f"{self.output}: {self.completed} completed, {self.failed} failed"
        if unfinished != 0:
            left = "some lines" if unfinished is None else _plural(unfinished, "line")
            head += f", {left} left for the next run"
            if self.last_left is not None:
                head += f" (last: {type(self.last_left).__name__})"
        parts = [f"this run wrote {_plural(self.written, 'line')}"]
        before = self.completed + self.failed - self.written
        if before:
            parts.append(f"{before} were there before")
        if stats.resumed:
            parts.append(f"{_plural(stats.resumed, 'result')} replayed from the journal")
        if stats.reattached:
            parts.append(f"{_plural(stats.reattached, 'job')} of an earlier run waited for by id")
        if stats.resubmitted:
            parts.append(
                f"{_plural(stats.resubmitted, 'job')} an earlier run cancelled on interrupt "
                "submitted again"
            )
        if self.blank:
            parts.append(f"{_plural(self.blank, 'blank line')} skipped")
        found = [head, "; ".join(parts)]
        if self.dropped_torn:
            found.append("dropped OUTPUT's last line, cut short by a killed run (written again)")
        if self.duplicated:
            numbers = sorted(self.duplicated)
            shown = ", ".join(str(n) for n in numbers[:_LISTED])
            more = f" and {len(numbers) - _LISTED} more" if len(numbers) > _LISTED else ""
            found.append(
                "possibly duplicated (a submit was in flight when an earlier run died: the job "
                f"may have run twice): line{'s' if len(numbers) > 1 else ''} {shown}{more}"
            )
        return found
