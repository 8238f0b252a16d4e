"""The workers: take jobs from the store, run the handler under the execution timeout, and
record how each run ended.

What an execution timeout looks like is a choice (``timeout_status``):

* ``"TIMED_OUT"`` (default) — the job ends ``TIMED_OUT``, as RunPod's docs describe it.
* ``"FAILED"`` — what live RunPod has been seen to report: the platform runs the job once
  more (``retries: 1``, the handler really runs twice), and when that run times out too the
  job ends ``FAILED`` with ``"error": "job timed out after 1 retries"``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any, Final, Literal

from .._status import JobStatus
from ._handler import Handler, register_progress_sink, unregister_progress_sink
from ._invoke import invoke, json_snapshot
from ._jobs import Job, ms
from ._store import JobStore

__all__ = ["TIMEOUT_STATUSES", "Runner", "TimeoutStatus", "check_timeout_status"]

_log = logging.getLogger("runpod_facade.local")

#: How an execution timeout is reported; see the module docstring.
TimeoutStatus = Literal["TIMED_OUT", "FAILED"]
TIMEOUT_STATUSES: Final = ("TIMED_OUT", "FAILED")

# A cancelled async handler gets this long to unwind before its worker takes the next job.
_UNWIND_S: Final = 1.0


class Runner:
    """``workers`` concurrent workers running ``handler`` on the jobs of ``store``."""

    def __init__(
        self,
        handler: Handler,
        store: JobStore,
        *,
        workers: int,
        aggregate: bool,
        execution_timeout_s: float,
        timeout_status: TimeoutStatus,
        max_chunk_bytes: int,
    ) -> None:
        self._handler = handler
        self._store = store
        self._workers = workers
        self._aggregate = aggregate
        self._execution_timeout_s = execution_timeout_s
        self._timeout_status = timeout_status
        self._max_chunk_bytes = max_chunk_bytes
        self._tasks: list[asyncio.Task[None]] = []
        #: Workers running a job right now.
        self.busy = 0

    def start(self) -> None:
        """Start the workers on the running (engine) loop."""
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._worker(index), name=f"worker-{index}")
            for index in range(self._workers)
        ]

    def tasks(self) -> list[asyncio.Task[Any]]:
        """The worker tasks and the tasks of running jobs, for shutdown."""
        running = [job.task for job in self._store.jobs() if job.task is not None]
        return [*self._tasks, *running]

    async def _worker(self, index: int) -> None:
        worker_id = f"local-worker-{index + 1}"
        while True:
            job = await self._store.next_job()
            self.busy += 1
            try:
                await self._execute(job, worker_id)
            except Exception:
                _log.exception("local endpoint worker crashed on job %s", job.id)
            finally:
                self.busy -= 1

    async def _execute(self, job: Job, worker_id: str) -> None:
        loop = asyncio.get_running_loop()
        job.status = JobStatus.IN_PROGRESS
        job.started_at = loop.time()
        job.worker_id = worker_id
        attempt = job.attempt
        self._store.notify(job)
        task = loop.create_task(self._run(job, attempt))
        job.task = task
        timeout = job.spec.execution_timeout_s or self._execution_timeout_s
        done, _ = await asyncio.wait({task}, timeout=timeout)
        if done:
            return
        task.cancel()
        if self._running(job, attempt):
            await self._timed_out(job, timeout)
        await asyncio.wait({task}, timeout=_UNWIND_S)

    def _running(self, job: Job, attempt: int) -> bool:
        return self._store.is_current(job, attempt) and job.status == JobStatus.IN_PROGRESS

    async def _timed_out(self, job: Job, timeout_s: float) -> None:
        if self._timeout_status == "TIMED_OUT":
            self._store.finish(
                job, JobStatus.TIMED_OUT, error=f"execution timeout of {ms(timeout_s)} ms exceeded"
            )
        elif not job.timeout_retried:
            job.timeout_retried = True
            await self._store.requeue(job)
        else:
            self._store.finish(
                job, JobStatus.FAILED, error=f"job timed out after {job.retries} retries"
            )

    async def _run(self, job: Job, attempt: int) -> None:
        loop = asyncio.get_running_loop()
        payload: dict[str, Any] = {"id": job.id, "input": job.spec.input}
        if job.spec.s3_config is not None:
            payload["s3Config"] = job.spec.s3_config

        def set_progress(value: Any) -> None:
            if self._running(job, attempt):
                job.output = value
                self._store.notify(job)

        def sink(value: Any) -> None:
            snapshot = json_snapshot(value)
            try:
                here = asyncio.get_running_loop() is loop
            except RuntimeError:  # a handler thread: no running loop there
                here = False
            if here:
                set_progress(snapshot)
            else:
                # The loop is gone only when the endpoint has stopped: the update is moot.
                with contextlib.suppress(RuntimeError):
                    loop.call_soon_threadsafe(set_progress, snapshot)

        def emit(chunk: Any) -> bool:
            if not self._running(job, attempt):
                return False
            job.chunks.append(chunk)
            self._store.notify(job)
            return True

        register_progress_sink(job.id, sink)
        try:
            outcome = await invoke(
                self._handler,
                payload,
                emit,
                aggregate=self._aggregate,
                max_chunk_bytes=self._max_chunk_bytes,
            )
        finally:
            unregister_progress_sink(job.id, sink)
        if self._running(job, attempt):
            self._store.finish(job, outcome.status, output=outcome.output, error=outcome.error)


def check_timeout_status(value: object) -> TimeoutStatus:
    """``value`` if it is a valid ``timeout_status``, else ``ValueError``."""
    if value == "TIMED_OUT":
        return "TIMED_OUT"
    if value == "FAILED":
        return "FAILED"
    raise ValueError(f"timeout_status must be one of {TIMEOUT_STATUSES}, got {value!r}")
