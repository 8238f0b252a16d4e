"""The job store and its queue: where jobs live from submission until they are forgotten.

Everything here runs on the engine loop (see :mod:`._loop`): no locks. A job leaves the store
when its TTL expires (at any state) or when its result retention ends; after that every
operation on its id answers 404, as RunPod does.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Callable
from typing import Any

from .._status import JobStatus
from ._jobs import UNSET, Job

__all__ = ["JobStore"]


class JobStore:
    """Jobs by id, the normal and low-priority queues, and the counters ``/health`` reports.

    ``on_finish`` is called once per terminal transition (after the job's state is set), to
    send its webhook.
    """

    def __init__(
        self,
        *,
        run_retention_s: float,
        runsync_retention_s: float,
        on_finish: Callable[[Job], None],
    ) -> None:
        self._jobs: dict[str, Job] = {}
        self._normal: deque[str] = deque()
        self._low: deque[str] = deque()
        self._ready = asyncio.Condition()
        self._run_retention_s = run_retention_s
        self._runsync_retention_s = runsync_retention_s
        self._on_finish = on_finish
        self.completed = 0
        self.failed = 0
        self.retried = 0
        #: Set when the endpoint shuts down: long-polls return at once, submissions are refused.
        self.closing = False

    # ----------------------------------------------------------------- lookup

    def get(self, job_id: str) -> Job | None:
        """The job with this id, or ``None`` once it is unknown or forgotten."""
        return self._jobs.get(job_id)

    def ids(self) -> list[str]:
        """Ids of every job still known."""
        return list(self._jobs)

    def jobs(self) -> list[Job]:
        """Every job still known."""
        return list(self._jobs.values())

    def is_current(self, job: Job, attempt: int) -> bool:
        """Whether ``job`` is still stored and still on run ``attempt`` (not retried since)."""
        return self._jobs.get(job.id) is job and job.attempt == attempt

    @property
    def queued(self) -> int:
        """How many jobs wait for a worker."""
        return len(self._normal) + len(self._low)

    # ----------------------------------------------------------------- queue

    async def add(self, job: Job, ttl_s: float) -> None:
        """Store a new job, queue it, and delete it ``ttl_s`` from now whatever its state."""
        job.expiry = asyncio.get_running_loop().call_later(ttl_s, self.delete, job)
        self._jobs[job.id] = job
        await self.enqueue(job)

    async def enqueue(self, job: Job) -> None:
        """Put a stored job at the back of its queue and wake a worker."""
        (self._low if job.spec.low_priority else self._normal).append(job.id)
        async with self._ready:
            self._ready.notify()

    def unqueue(self, job: Job) -> bool:
        """Take ``job`` out of the queue; ``False`` if it was not queued."""
        for queue in (self._normal, self._low):
            with contextlib.suppress(ValueError):
                queue.remove(job.id)
                return True
        return False

    def queued_ids(self) -> list[str]:
        """Ids of the queued jobs, in the order workers take them (normal, then low priority)."""
        return [*self._normal, *self._low]

    def take_queued(self) -> list[Job]:
        """Empty both queues and return the jobs that were waiting."""
        taken = [self._jobs[job_id] for job_id in self.queued_ids()]
        self._normal.clear()
        self._low.clear()
        return taken

    async def next_job(self) -> Job:
        """The next job for a worker; low-priority jobs run only when no normal job waits."""
        async with self._ready:
            while True:
                queue = self._normal or self._low
                if not queue:
                    await self._ready.wait()
                    continue
                job = self._jobs.get(queue.popleft())
                if job is not None and job.status == JobStatus.IN_QUEUE:
                    return job

    # ----------------------------------------------------------------- changes and waiting

    def notify(self, job: Job) -> None:
        """Wake every waiter of ``job``; each re-reads the state and waits on a fresh event."""
        job.changed.set()
        job.changed = asyncio.Event()

    def begin_close(self) -> None:
        """Refuse new work and release every long-poll."""
        self.closing = True
        for job in self.jobs():
            self.notify(job)

    async def wait(self, job_id: str, ready: Callable[[Job], bool], timeout_s: float) -> Job | None:
        """Hold until ``ready(job)``, the job is forgotten, the store closes, or the timeout."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while True:
            job = self._jobs.get(job_id)
            if job is None or ready(job) or self.closing:
                return job
            remaining = deadline - loop.time()
            if remaining <= 0:
                return job
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(job.changed.wait(), remaining)

    # ----------------------------------------------------------------- transitions

    def finish(
        self, job: Job, status: JobStatus, *, output: Any = UNSET, error: str | None = None
    ) -> None:
        """Make ``job`` terminal: count it, start its result retention, announce it."""
        now = asyncio.get_running_loop().time()
        job.status = status
        job.finished_at = now
        job.output = output
        job.error = error
        if status == JobStatus.COMPLETED:
            self.completed += 1
        elif status in (JobStatus.FAILED, JobStatus.TIMED_OUT):
            self.failed += 1
        retention = self._runsync_retention_s if job.sync else self._run_retention_s
        if job.retention_cap_s is not None:
            retention = min(retention, job.retention_cap_s)
        self.schedule_retention(job, now + retention)
        self._on_finish(job)
        self.notify(job)

    async def requeue(self, job: Job) -> None:
        """Run ``job`` again under the same id (``/retry``, or a retry after a timeout)."""
        if job.retention is not None:
            job.retention.cancel()
            job.retention = None
        job.requeue(asyncio.get_running_loop().time())
        self.retried += 1
        await self.enqueue(job)
        self.notify(job)

    def schedule_retention(self, job: Job, when: float) -> None:
        """Forget ``job`` at loop time ``when``, unless it is already due sooner."""
        if job.retention is not None:
            if job.retention.when() <= when:
                return
            job.retention.cancel()
        job.retention = asyncio.get_running_loop().call_at(when, self.delete, job)

    def delete(self, job: Job) -> None:
        """Forget ``job`` (TTL or retention expired): it answers 404 from now on."""
        if self._jobs.get(job.id) is not job:
            return
        del self._jobs[job.id]
        self.unqueue(job)
        self.cancel_timers(job)
        if job.task is not None and not job.task.done():
            job.task.cancel()
        self.notify(job)

    def cancel_timers(self, job: Job) -> None:
        """Stop ``job``'s TTL and retention timers."""
        for handle in (job.expiry, job.retention):
            if handle is not None:
                handle.cancel()
