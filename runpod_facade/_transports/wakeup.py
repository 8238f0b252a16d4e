"""A timer that wakes the main thread's event loop while requests are in flight, so that a
Ctrl-C under ``asyncio.run`` is acted on even when the signal's wake-up was lost.

``asyncio.run`` turns Ctrl-C into a cancellation of its main task from a Python-level signal
handler, and Python runs that handler only once the main thread executes bytecode again. On
Unix the loop's selector is woken by a signal through a wakeup fd, which asyncio sets only
for ``loop.add_signal_handler``; without one, the selector returns early only if the signal
interrupts its ``epoll_wait`` itself. When the C-level handler runs just before that call
(the thread descheduled between its last look at pending signals and the call, as on a
loaded machine) or on another thread, the loop sleeps until its next event — and while the
server holds every request (a long-poll for up to 90 s), there may be none for that long. A
batch under ``asyncio.run`` once ignored Ctrl-C for 30 s that way (the signal test of
``tests/integration/test_map_signals.py``).

So while a client waits, a loop run by the main thread has a timer due at most
:data:`WAKE_EVERY` seconds ahead, and a Ctrl-C is acted on within that time at worst:

* ``gate.GatedTransport`` (every ``AsyncEndpoint`` request) while requests are in flight;
* the asyncio load-balancing client (``_loadbalancing.aio``, through :class:`InFlight`)
  while a request, a backoff or a streamed body not yet read to its end or closed is open;
* the asyncio Batch Jobs API (``_batchjobs._async``, through :class:`InFlight`) while an
  ``ep.batches`` call runs (its own HTTP client, past the gate) and while a
  ``map(via="batch-api")`` step runs on its worker thread.

The blocking scheduler (``_batches.threads``) waits in slices of the same length for the
same reason. A loop on another thread needs none: signal handlers run only in the main thread.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable

__all__ = ["WAKE_EVERY", "InFlight", "Waker", "waker_for"]

#: The longest the main thread's loop sleeps while a request is in flight (seconds): one
#: timer this often costs a few microseconds, and a Ctrl-C lost this long goes unnoticed.
WAKE_EVERY = 0.2


class Waker:
    """Keeps a timer armed on ``loop`` while ``busy()`` holds, re-armed each time it fires.
    :meth:`arm` once a request starts; the timer stops by itself once none is in flight."""

    __slots__ = ("_busy", "_loop", "armed")

    def __init__(self, loop: asyncio.AbstractEventLoop, busy: Callable[[], bool]) -> None:
        self._loop = loop
        self._busy = busy
        self.armed = False

    def arm(self) -> None:
        """Start the timer, unless it runs already (callers check :attr:`armed` first: the
        common case costs no call)."""
        if not self.armed:
            self.armed = True
            self._loop.call_later(WAKE_EVERY, self._tick)

    def _tick(self) -> None:
        # Firing is the point: the selector returned, and any signal handler Python has
        # pending runs before the next callback does.
        if self._busy():
            self._loop.call_later(WAKE_EVERY, self._tick)
        else:
            self.armed = False


def waker_for(loop: asyncio.AbstractEventLoop, busy: Callable[[], bool]) -> Waker | None:
    """A :class:`Waker` for ``loop`` if it runs in the main thread (call from the loop's own
    thread), else ``None``."""
    if threading.current_thread() is not threading.main_thread():
        return None
    return Waker(loop, busy)


class InFlight:
    """The waits of one client on the running loop, counted (a request, a streamed body
    being read, a step on a worker thread): while any is open, the main thread's loop keeps
    a :class:`Waker` armed. ``with in_flight:`` around a wait, or :meth:`enter` and
    :meth:`leave` when it ends elsewhere. Call from the loop's own thread."""

    __slots__ = ("_loop", "_waker", "count")

    def __init__(self) -> None:
        self.count = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._waker: Waker | None = None

    def enter(self) -> None:
        """Count one more wait, and arm the timer unless it runs already."""
        self.count += 1
        loop = asyncio.get_running_loop()
        if loop is not self._loop:  # the first wait, or one under a new asyncio.run()
            self._loop = loop
            self._waker = waker_for(loop, self._busy)
        waker = self._waker
        if waker is not None and not waker.armed:
            waker.arm()

    def leave(self) -> None:
        """Count one wait less (the timer stops at its next tick once none is left)."""
        self.count -= 1

    def _busy(self) -> bool:
        return self.count > 0

    def __enter__(self) -> None:
        self.enter()

    def __exit__(self, *exc: object) -> None:
        self.leave()
