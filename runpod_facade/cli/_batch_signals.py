"""SIGTERM during ``batch``: stopped like Ctrl-C — nothing more submitted, the submits in
flight waited for so the journal knows their jobs, the summary printed — then exit 143
(128 + SIGTERM), as a service manager or ``timeout(1)`` expects. Python's default for
SIGTERM is to die on the spot, which skips all of that."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType

__all__ = ["EXIT_TERMINATED", "Terminated", "sigterm_as_interrupt"]

#: The exit code of a batch stopped by SIGTERM.
EXIT_TERMINATED = 128 + signal.SIGTERM


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread where Ctrl-C raises ``KeyboardInterrupt``. A
    subclass, so everything that handles an interrupt (notes on the jobs left running,
    ``--cancel-on-interrupt``, a second signal cutting the wait short) handles it too."""


def _raise(signum: int, frame: FrameType | None) -> None:
    raise Terminated("SIGTERM")


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Within the block, SIGTERM raises :class:`Terminated` (main thread only: a signal
    handler cannot be set elsewhere, and the CLI runs there)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
