"""How to show live progress on a stream: a rich display, plain lines, or nothing.

``rich`` (``pip install 'runpod-facade[cli]'``) is imported here only, lazily, and only once a
stream turned out to be a terminal: ``import runpod_facade`` and piped use never load it.
"""

from __future__ import annotations

import enum
import os
import threading
from collections.abc import Callable
from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["Display", "Ticker", "choose_display", "is_terminal", "rich_console"]


class Display(enum.Enum):
    """How a live display renders."""

    RICH = "rich"  # redrawn in place by rich
    PLAIN = "plain"  # a line now and then
    OFF = "off"  # nothing


def is_terminal(stream: IO[str] | None) -> bool:
    """Whether ``stream`` is an interactive terminal (closed or odd streams are not)."""
    try:
        return stream is not None and stream.isatty()
    except (OSError, ValueError):
        return False


def _dumb_terminal() -> bool:
    # Such terminals cannot move the cursor: redrawing a line in place would garble it.
    return os.environ.get("TERM", "").lower() in {"dumb", "unknown"}


def _rich_available() -> bool:
    try:
        import rich.live  # noqa: F401
    except ImportError:
        return False
    return True


def choose_display(stream: IO[str] | None, *, off_unless_terminal: bool, plain: bool) -> Display:
    """Rich on a capable terminal with rich installed; else plain lines, or OFF when
    ``off_unless_terminal`` and ``stream`` is no terminal. ``plain`` forces plain lines
    (``--debug``: log lines and an in-place redraw would fight over the same line)."""
    if not is_terminal(stream):
        return Display.OFF if off_unless_terminal else Display.PLAIN
    if plain or _dumb_terminal() or not _rich_available():
        return Display.PLAIN
    return Display.RICH


def rich_console(stream: IO[str]) -> Console:
    """A rich console drawing on ``stream``, which :func:`choose_display` found a terminal."""
    from rich.console import Console

    return Console(
        file=stream,
        force_terminal=True,
        force_interactive=True,
        highlight=False,
        soft_wrap=False,
    )


class Ticker:
    """Calls ``tick`` every ``interval`` seconds from a daemon thread until stopped."""

    def __init__(self, interval: float, tick: Callable[[], None], *, name: str) -> None:
        self._interval = interval
        self._tick = tick
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self._tick()

    def start(self) -> None:
        """Start ticking."""
        self._thread.start()

    def stop(self) -> None:
        """Stop ticking; returns once the thread has ended (or after 2 s)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=2)
