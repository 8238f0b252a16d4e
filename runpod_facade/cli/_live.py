"""The live status line of ``wait``, ``run --wait``, ``run-sync`` and ``stream``.

On a terminal with rich installed it is one line redrawn in place (spinner, elapsed time,
status, progress) and erased when the wait ends. On a terminal without rich, or with
``--debug``, it is a plain line whenever the status changes and every few seconds. When stderr
is not a terminal it prints nothing: scripts get the result and the exit code only.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from typing import IO, TYPE_CHECKING, Any

from .._status import TERMINAL_STATUSES, JobStatus
from .._types import JobState
from ._output import compact
from ._term import Display, Ticker, choose_display, rich_console

if TYPE_CHECKING:
    from rich.console import RenderableType
    from rich.live import Live
    from rich.spinner import Spinner

__all__ = ["StatusLine"]


class StatusLine:
    """A job's status while the command waits for it, on ``stream`` (``sys.stderr``).

    Use it as a context manager and feed it every state seen (``update`` fits the façade's
    ``on_status=``). ``status_source``, when given, is read on each redraw for a status that
    arrives without a callback (a stream's progress).
    """

    def __init__(
        self,
        label: str,
        *,
        stream: IO[str],
        status: str = "waiting",
        detail: str = "",
        plain: bool = False,
        status_source: Callable[[], object] | None = None,
        refresh: float = 0.2,
        heartbeat: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.label = label
        self.status = status
        self.detail = detail
        self.display = choose_display(stream, off_unless_terminal=True, plain=plain)
        self._stream = stream
        self._source = status_source
        self._refresh = refresh
        self._heartbeat = heartbeat
        self._clock = clock
        self._started = clock()
        self._lock = threading.Lock()
        self._live: Live | None = None
        self._spinner: Spinner | None = None
        self._ticker: Ticker | None = None
        self._last_plain: tuple[str, str] | None = None
        self._closed = False

    # --- what is shown ------------------------------------------------------------------

    def update(self, state: JobState) -> None:
        """Show ``state`` (called with every state the façade sees)."""
        if state.status == JobStatus.IN_PROGRESS and state.output is not None:
            detail = f"progress {compact(state.output)}"
        elif state.status == JobStatus.IN_QUEUE:
            detail = "waiting for a worker"
        else:
            detail = ""
        self.set(str(state.status), detail, label=f"job {state.id}")

    def set(self, status: str, detail: str = "", *, label: str | None = None) -> None:
        """Show ``status`` (and ``detail``) as they are now."""
        with self._lock:
            self.status, self.detail = status, detail
            if label is not None:
                self.label = label
        if self.display is Display.PLAIN:
            self._plain_line(changed_only=True)

    def _poll_source(self) -> None:
        if self._source is None:
            return
        status = self._source()
        if status is not None:
            with self._lock:
                self.status = str(status)

    def text(self) -> str:
        """The line as a redraw shows it: elapsed time first, since a narrow terminal cuts
        the end (the job id, printed already) rather than this."""
        self._poll_source()
        with self._lock:
            elapsed = self._clock() - self._started
            text = f"{elapsed:5.1f} s  {self.status}"
            if self.detail:
                text += f" · {self.detail}"
            return text + f"  [{self.label}]"

    # --- plain lines ----------------------------------------------------------------------

    def _plain_line(self, *, changed_only: bool) -> None:
        self._poll_source()
        with self._lock:
            if self._closed:
                return
            key = (self.status, self.detail)
            if changed_only and key == self._last_plain:
                return
            if self.status in TERMINAL_STATUSES:
                return  # the result (or the error) printed next says it
            self._last_plain = key
            elapsed = self._clock() - self._started
            detail = f" · {self.detail}" if self.detail else ""
            line = f"{self.label} {self.status}{detail} ({elapsed:.1f} s)\n"
        try:
            self._stream.write(line)
            self._stream.flush()
        except (OSError, ValueError):
            pass  # a closed stderr must not fail the command

    # --- rich -----------------------------------------------------------------------------

    def _renderable(self) -> RenderableType:
        from rich.text import Text

        assert self._spinner is not None
        frames, interval = self._spinner.frames, self._spinner.interval / 1000
        frame = frames[int((self._clock() - self._started) / interval) % len(frames)]
        # One line, cut with an ellipsis: a wrapped status line would scroll the terminal.
        return Text.assemble((frame, "cyan"), " ", self.text(), no_wrap=True, overflow="ellipsis")

    def _start_rich(self) -> None:
        from rich.live import Live
        from rich.spinner import Spinner

        self._spinner = Spinner("dots")  # for its frames and pace
        self._live = Live(
            console=rich_console(self._stream),
            get_renderable=self._renderable,
            refresh_per_second=1 / self._refresh,
            transient=True,  # the result printed next replaces it
            redirect_stdout=False,  # stdout may be a file while stderr is a terminal
            redirect_stderr=True,  # notes written meanwhile print above the line
        )
        self._live.start(refresh=True)

    # --- lifecycle ------------------------------------------------------------------------

    def __enter__(self) -> StatusLine:
        if self.display is Display.RICH:
            self._start_rich()
        elif self.display is Display.PLAIN:
            self._plain_line(changed_only=True)
            self._ticker = Ticker(
                self._heartbeat, lambda: self._plain_line(changed_only=False), name="status-line"
            )
            self._ticker.start()
        return self

    def close(self) -> None:
        """Stop and erase the display; idempotent."""
        if self._ticker is not None:
            self._ticker.stop()
            self._ticker = None
        if self._live is not None:
            live, self._live = self._live, None
            with contextlib.suppress(OSError, ValueError):
                live.stop()
        with self._lock:
            self._closed = True

    def __exit__(self, *exc: Any) -> None:
        self.close()
