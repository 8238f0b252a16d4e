"""The simulated workers of a local load-balancing endpoint and how the router picks one.

Runs on the server's event loop; :meth:`Pool.stop_worker` and friends may be called from any
thread (a test's), and wake the waiting requests through the loop.

A worker is *initializing* until its cold start has passed, then *ready*; ``stop_worker``
makes it *gone* for good, ``scale_down`` idles it (only ``strict-resume`` brings it back).
"""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from dataclasses import dataclass
from typing import Literal

from ..._loadbalancing.affinity import Affinity

__all__ = ["Pool", "Worker", "WorkerState"]

WorkerState = Literal["running", "scaled_down", "stopped"]
Refusal = Literal["no_workers", "affinity_worker_gone", "worker_timeout"]


@dataclass
class Worker:
    """One simulated worker: its id, state, cold start end, and the requests it holds."""

    id: str
    ready_at: float
    capacity: int
    state: WorkerState = "running"
    in_flight: int = 0
    served: int = 0

    def ready(self, now: float) -> bool:
        return self.state == "running" and now >= self.ready_at

    def free(self, now: float) -> bool:
        return self.ready(now) and self.in_flight < self.capacity


class Pool:
    """``workers`` workers of ``capacity`` concurrent requests each, ready ``cold_start``
    seconds after :meth:`start`."""

    def __init__(
        self, workers: int, *, cold_start: float, capacity: int, id_prefix: str = "local-worker-"
    ) -> None:
        self.cold_start = cold_start
        self.capacity = capacity
        self._prefix = id_prefix
        self._lock = threading.Lock()
        self._next = itertools.count()
        self._turn = itertools.count()
        self.workers: dict[str, Worker] = {}
        for _ in range(workers):
            self._new_worker(float("inf"))
        self._loop: asyncio.AbstractEventLoop | None = None
        self._changed = asyncio.Event()

    def _new_worker(self, ready_at: float) -> Worker:
        worker = Worker(f"{self._prefix}{next(self._next)}", ready_at, self.capacity)
        self.workers[worker.id] = worker
        return worker

    # ------------------------------------------------------------ lifecycle (any thread)

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Begin every worker's cold start (called on the loop at server startup)."""
        self._loop = loop
        self._changed = asyncio.Event()
        now = time.monotonic()
        with self._lock:
            for worker in self.workers.values():
                worker.ready_at = now + self.cold_start
        self._wake_at(now + self.cold_start)

    def add_worker(self, cold_start: float | None = None) -> str:
        """Start one more worker (after ``cold_start``, default the pool's); its id."""
        delay = self.cold_start if cold_start is None else cold_start
        with self._lock:
            worker = self._new_worker(time.monotonic() + delay)
        self._wake_at(worker.ready_at)
        return worker.id

    def stop_worker(self, worker_id: str) -> None:
        """Terminate a worker: it is gone (strict affinity to it answers 404)."""
        self._set_state(worker_id, "stopped")

    def scale_down(self, worker_id: str) -> None:
        """Idle a worker: no traffic; ``strict-resume`` affinity resumes it (cold start)."""
        self._set_state(worker_id, "scaled_down")

    def _set_state(self, worker_id: str, state: WorkerState) -> None:
        with self._lock:
            worker = self.workers.get(worker_id)
            if worker is None:
                raise KeyError(f"no worker {worker_id!r}; workers: {sorted(self.workers)}")
            worker.state = state
        self._wake_at(time.monotonic())

    def _wake_at(self, when: float) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        delay = max(0.0, when - time.monotonic())
        loop.call_soon_threadsafe(loop.call_later, delay, self._bump)

    def _bump(self) -> None:
        # Wake every waiter: each re-checks what it waits for.
        event, self._changed = self._changed, asyncio.Event()
        event.set()

    # ------------------------------------------------------------ routing (on the loop)

    def ping_status(self) -> tuple[int, str] | None:
        """``(200, id)`` when a worker is ready, ``(204, id)`` of an initializing one when
        none is, ``None`` when no worker runs at all."""
        now = time.monotonic()
        with self._lock:
            running = [w for w in self.workers.values() if w.state == "running"]
        ready = [w for w in running if w.ready(now)]
        if ready:
            return 200, ready[0].id
        return (204, running[0].id) if running else None

    def _pick(self, pin: Affinity | None, now: float) -> Worker | Refusal | None:
        """A worker to use now, a refusal, or ``None`` to wait."""
        with self._lock:
            if pin is not None:
                target = self.workers.get(pin.worker_id)
                if pin.mode != "soft":
                    if target is None or target.state == "stopped":
                        return "affinity_worker_gone"
                    if target.state == "scaled_down":
                        if pin.mode == "strict":
                            return "affinity_worker_gone"
                        target.state = "running"  # strict-resume: a fresh cold start
                        target.ready_at = now + self.cold_start
                        self._wake_at(target.ready_at)
                    return target if target.free(now) else None
                if target is not None and target.free(now):
                    return target
            free = [w for w in self.workers.values() if w.free(now)]
            if not free:
                return None
            least = min(w.in_flight for w in free)
            ties = [w for w in free if w.in_flight == least]
            return ties[next(self._turn) % len(ties)]

    async def acquire(
        self, pin: Affinity | None, *, no_worker_wait: float, affinity_wait: float
    ) -> Worker | Refusal:
        """Wait for a worker (strict: the pinned one) and take one of its slots."""
        strict = pin is not None and pin.mode != "soft"
        deadline = time.monotonic() + (affinity_wait if strict else no_worker_wait)
        while True:
            changed = self._changed
            now = time.monotonic()
            choice = self._pick(pin, now)
            if isinstance(choice, Worker):
                with self._lock:
                    choice.in_flight += 1
                return choice
            if choice is not None:
                return choice
            left = deadline - now
            if left <= 0:
                return "worker_timeout" if strict else "no_workers"
            try:
                await asyncio.wait_for(changed.wait(), left)
            except TimeoutError:
                continue

    def release(self, worker: Worker) -> None:
        with self._lock:
            worker.in_flight -= 1
            worker.served += 1
        self._bump()
