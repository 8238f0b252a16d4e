"""A batch's progress on stderr: done / failed / running / queued, jobs per second, ETA.

A rich progress bar on a terminal (with ``runpod-facade[cli]``), plain periodic lines
otherwise; either way one summary line when it closes. Built for a batch loop::

    with BatchProgress(total=len(inputs)) as progress:
        for ...:
            progress.update(done=ok, failed=bad, running=len(in_flight), queued=waiting)

``update`` takes absolute counts (any subset; the rest keep their values), so a loop can
report whatever it tracks without doing arithmetic for the display.
"""

from __future__ import annotations

import contextlib
import dataclasses
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any

from .._logging import redact
from ._term import Display, Ticker, choose_display, rich_console

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

__all__ = ["BatchCounts", "BatchProgress", "format_duration"]


@dataclass(frozen=True)
class BatchCounts:
    """Where a batch stands. ``done`` jobs COMPLETED; ``failed`` ended any other way;
    ``queued`` is ``None`` when unknown (inputs streamed from a pipe)."""

    done: int = 0
    failed: int = 0
    running: int = 0
    queued: int | None = 0
    total: int | None = None

    @property
    def finished(self) -> int:
        """Jobs that reached an end, well or not."""
        return self.done + self.failed


def format_duration(seconds: float) -> str:
    """``42s``, ``4m05s``, ``2h03m``: short enough for a progress line."""
    whole = max(0, round(seconds))
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    return f"{whole // 3600}h{whole % 3600 // 60:02d}m"


def _check_count(name: str, value: int | None) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
        raise ValueError(f"{name} must be a non-negative int, got {value!r}")


class BatchProgress:
    """Live progress of a batch of jobs on ``stream`` (default ``sys.stderr``).

    The rate counts jobs finished since the first :meth:`update`, so a resumed batch whose
    first report already holds earlier results does not claim a burst of speed.
    ``queued=None`` says the queue's length is unknown (inputs streamed from a pipe): it is
    not shown until an update gives one.
    """

    def __init__(
        self,
        *,
        total: int | None = None,
        queued: int | None = 0,
        label: str = "batch",
        stream: IO[str] | None = None,
        interval: float = 10.0,
        plain: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        _check_count("total", total)
        _check_count("queued", queued)
        self.label = label
        self._stream = stream if stream is not None else sys.stderr
        self.display = choose_display(self._stream, off_unless_terminal=False, plain=plain)
        self._interval = interval
        self._clock = clock
        self._started = clock()
        self._counts = BatchCounts(queued=queued, total=total)
        self._baseline: int | None = None
        self._lock = threading.Lock()
        self._ticker: Ticker | None = None
        self._progress: Progress | None = None
        self._task: TaskID | None = None
        self._started_display = False
        self._closed = False

    # --- numbers --------------------------------------------------------------------------

    def update(
        self,
        *,
        done: int | None = None,
        failed: int | None = None,
        running: int | None = None,
        queued: int | None = None,
        total: int | None = None,
    ) -> None:
        """Set the counts given (absolute values, not increments); the others are kept."""
        given = {"done": done, "failed": failed, "running": running, "queued": queued}
        given["total"] = total
        for name, value in given.items():
            _check_count(name, value)
        changes = {name: value for name, value in given.items() if value is not None}
        with self._lock:
            self._counts = dataclasses.replace(self._counts, **changes)
            if self._baseline is None:
                self._baseline = self._counts.finished
                self._started = self._clock()
        self.start()
        self._refresh_rich()

    def snapshot(self) -> BatchCounts:
        """The counts as last reported."""
        with self._lock:
            return self._counts

    def elapsed(self) -> float:
        """Seconds since the first update (or since creation, before any)."""
        return self._clock() - self._started

    def rate(self) -> float | None:
        """Jobs finished per second since the first update, or ``None`` before any finished."""
        with self._lock:
            finished = self._counts.finished - (self._baseline or 0)
        elapsed = self.elapsed()
        if finished <= 0 or elapsed <= 0:
            return None
        return finished / elapsed

    def eta(self) -> float | None:
        """Seconds until every job has finished at the current rate, when the total is known."""
        counts, rate = self.snapshot(), self.rate()
        if counts.total is None or rate is None:
            return None
        return max(0, counts.total - counts.finished) / rate

    def describe(self) -> str:
        """The plain progress line (also the final summary)."""
        counts, rate, eta = self.snapshot(), self.rate(), self.eta()
        of = f"/{counts.total}" if counts.total is not None else ""
        text = (
            f"{self.label}: {counts.finished}{of} finished ({counts.done} done, "
            f"{counts.failed} failed), {counts.running} running"
        )
        if counts.queued is not None:
            text += f", {counts.queued} queued"
        if rate is not None:
            text += f" · {rate:.1f} jobs/s"
        if eta is not None and counts.finished != counts.total:
            text += f" · ETA {format_duration(eta)}"
        return text + f" · {format_duration(self.elapsed())} elapsed"

    # --- display --------------------------------------------------------------------------

    def _write(self, text: str) -> None:
        try:
            self._stream.write(redact(text) + "\n")
            self._stream.flush()
        except (OSError, ValueError):
            pass  # a closed stderr must not stop the batch

    def _rich_fields(self) -> dict[str, Any]:
        counts, rate, eta = self.snapshot(), self.rate(), self.eta()
        return {
            "completed": counts.finished,
            "total": counts.total,
            "counts": f"[green]{counts.done} done[/] [red]{counts.failed} failed[/] "
            f"{counts.running} running"
            + ("" if counts.queued is None else f" {counts.queued} queued"),
            "speed": "" if rate is None else f"{rate:.1f} jobs/s",
            "eta": "" if eta is None else f"ETA {format_duration(eta)}",
        }

    def _refresh_rich(self) -> None:
        if self._progress is not None and self._task is not None:
            fields = self._rich_fields()
            completed, total = fields.pop("completed"), fields.pop("total")
            self._progress.update(self._task, completed=completed, total=total, **fields)

    def _start_rich(self) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            SpinnerColumn,
            TextColumn,
            TimeElapsedColumn,
        )

        self._progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[counts]}"),
            TextColumn("{task.fields[speed]}"),
            TextColumn("{task.fields[eta]}"),
            TimeElapsedColumn(),
            console=rich_console(self._stream),
            transient=True,  # close() prints the summary line in its place
            redirect_stdout=False,
            refresh_per_second=4,
        )
        fields = self._rich_fields()
        completed, total = fields.pop("completed"), fields.pop("total")
        self._task = self._progress.add_task(self.label, total=total, completed=completed, **fields)
        self._progress.start()

    def start(self) -> None:
        """Show the display; the first :meth:`update` (or ``with``) does it. Idempotent."""
        with self._lock:
            if self._started_display or self._closed:
                return
            self._started_display = True
        if self.display is Display.RICH:
            self._start_rich()
        else:
            self._ticker = Ticker(self._interval, self._tick, name="batch-progress")
            self._ticker.start()

    def __enter__(self) -> BatchProgress:
        self.start()
        return self

    def _tick(self) -> None:
        with self._lock:
            if self._closed:
                return
        self._write(self.describe())

    def close(self, *, summary: bool = True) -> None:
        """Stop the display and print the summary line once (unless ``summary`` is false:
        the batch did not run, an error says why); idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        if self._ticker is not None:
            self._ticker.stop()
        if self._progress is not None:
            self._refresh_rich()
            with contextlib.suppress(OSError, ValueError):
                self._progress.stop()
        if summary:
            self._write(self.describe())

    def __exit__(self, *exc: Any) -> None:
        self.close()
