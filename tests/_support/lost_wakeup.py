"""Ctrl-C whose wake-up is lost: a SIGINT handled by another thread, while the main thread's
event loop sleeps in its selector. asyncio.run's handler then runs only at the loop's next
event, so these tests measure how late it is acted on (see ``_transports.wakeup``)."""

from __future__ import annotations

import asyncio
import signal
import threading
import time
from collections.abc import Callable, Coroutine
from typing import Any

import pytest

__all__ = ["seconds_to_act_on_ctrl_c"]


def seconds_to_act_on_ctrl_c(
    main: Callable[[Callable[[], None]], Coroutine[Any, Any, object]],
    ready: Callable[[], bool],
) -> float:
    """Run ``main(press)`` under ``asyncio.Runner``; ``press()`` starts a thread that waits
    until ``ready()`` (the request held by the server), lets the loop fall asleep, and sends
    SIGINT to itself. Returns the seconds from that signal to the KeyboardInterrupt."""
    pressed: list[float] = []

    def press_when_ready() -> None:
        end = time.monotonic() + 10
        while not ready():
            assert time.monotonic() < end, "the request never reached the server"
            time.sleep(0.01)
        time.sleep(0.2)
        pressed.append(time.monotonic())
        signal.pthread_kill(threading.get_ident(), signal.SIGINT)

    def press() -> None:
        threading.Thread(target=press_when_ready, daemon=True).start()

    with asyncio.Runner() as runner, pytest.raises(KeyboardInterrupt):
        runner.run(main(press))
    return time.monotonic() - pressed[0]
