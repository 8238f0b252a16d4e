"""The engine: the job operations of one local endpoint, on its private loop.

It wires the pieces together — :mod:`._loop` (the thread), :mod:`._store` (jobs and queue),
:mod:`._runner` (workers and handler runs), :mod:`._webhooks` (deliveries) — and offers the
operations of the job API as coroutines that must run on the engine loop: pass them to
:meth:`Engine.call` (from another loop) or :meth:`Engine.call_sync` (from a plain thread).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Coroutine
from typing import Any, TypeVar

from .._status import JobStatus
from . import _limits
from ._handler import Handler
from ._jobs import Job
from ._loop import EngineClosed, EngineLoop
from ._runner import Runner, TimeoutStatus, check_timeout_status
from ._store import JobStore
from ._validation import BadRequest, JobSpec
from ._webhooks import DELIVERED_STATUSES, WebhookAttempt, WebhookSender

__all__ = ["Engine", "EngineClosed"]

_T = TypeVar("_T")

_RETRYABLE = (JobStatus.FAILED, JobStatus.TIMED_OUT)


class Engine:
    """Queue, workers and job store of one local endpoint (see the module docstring)."""

    def __init__(
        self,
        handler: Handler,
        *,
        workers: int = 1,
        return_aggregate_stream: bool | None = None,
        run_retention_s: float = _limits.RUN_RESULT_RETENTION_S,
        runsync_retention_s: float = _limits.RUNSYNC_RESULT_RETENTION_S,
        execution_timeout_s: float = _limits.DEFAULT_EXECUTION_TIMEOUT_MS / 1000,
        timeout_status: TimeoutStatus = "TIMED_OUT",
        ttl_s: float = _limits.DEFAULT_TTL_MS / 1000,
        max_chunk_bytes: int = _limits.MAX_STREAM_CHUNK_BYTES,
        webhook_retries: int = _limits.WEBHOOK_RETRIES,
        webhook_retry_delay_s: float = _limits.WEBHOOK_RETRY_DELAY_S,
        webhook_timeout_s: float = _limits.WEBHOOK_TIMEOUT_S,
    ) -> None:
        if workers < 1:
            raise ValueError("workers must be >= 1")
        self._handler = handler
        self._workers = workers
        self._aggregate = (
            bool(getattr(handler, "return_aggregate_stream", False))
            if return_aggregate_stream is None
            else return_aggregate_stream
        )
        self._run_retention_s = run_retention_s
        self._runsync_retention_s = runsync_retention_s
        self._execution_timeout_s = execution_timeout_s
        self._timeout_status = check_timeout_status(timeout_status)
        self._ttl_s = ttl_s
        self._max_chunk_bytes = max_chunk_bytes
        self._webhooks = WebhookSender(
            retries=webhook_retries,
            retry_delay_s=webhook_retry_delay_s,
            timeout_s=webhook_timeout_s,
        )
        self._loop = EngineLoop(boot=self._boot, shutdown=self._shutdown)
        self._background: set[asyncio.Task[None]] = set()
        # Replaced on the loop by each boot; never touched from another thread.
        self._store: JobStore
        self._runner: Runner

    # ----------------------------------------------------------------- lifecycle (any thread)

    @property
    def workers(self) -> int:
        """Number of concurrent workers."""
        return self._workers

    @property
    def handler(self) -> Handler:
        """The handler the workers run (the batch workers run it too)."""
        return self._handler

    @property
    def webhook_attempts(self) -> list[WebhookAttempt]:
        """Every webhook POST made so far, oldest first."""
        return self._webhooks.attempts

    def start(self) -> None:
        """Start the engine thread and its workers (idempotent; a closed engine starts afresh,
        with no jobs)."""
        self._loop.start()

    def begin_close(self) -> None:
        """Make pending long-polls return now, ahead of :meth:`close`."""
        self._loop.call_soon(lambda: self._store.begin_close())

    def close(self, timeout: float = 5.0) -> None:
        """Stop workers, cancel running jobs and webhooks, and join the engine thread."""
        self._loop.close(timeout)

    async def call(self, coro: Coroutine[Any, Any, _T]) -> _T:
        """Run ``coro`` on the engine loop and await it from the caller's loop."""
        return await self._loop.call(coro)

    def call_sync(self, coro: Coroutine[Any, Any, _T], timeout: float = 10.0) -> _T:
        """Run ``coro`` on the engine loop and block the calling (non-engine) thread for it."""
        return self._loop.call_sync(coro, timeout)

    def _boot(self) -> None:
        self._store = JobStore(
            run_retention_s=self._run_retention_s,
            runsync_retention_s=self._runsync_retention_s,
            on_finish=self._job_finished,
        )
        self._runner = Runner(
            self._handler,
            self._store,
            workers=self._workers,
            aggregate=self._aggregate,
            execution_timeout_s=self._execution_timeout_s,
            timeout_status=self._timeout_status,
            max_chunk_bytes=self._max_chunk_bytes,
        )
        self._runner.start()

    async def _shutdown(self) -> None:
        self._store.begin_close()
        tasks: list[asyncio.Task[Any]] = [*self._runner.tasks(), *self._background]
        for task in tasks:
            task.cancel()
        for job in self._store.jobs():
            self._store.cancel_timers(job)
        if tasks:
            await asyncio.wait(tasks, timeout=2.0)
        await self._webhooks.aclose()

    def _job_finished(self, job: Job) -> None:
        if job.spec.webhook and job.status in DELIVERED_STATUSES:
            now = asyncio.get_running_loop().time()
            task = asyncio.get_running_loop().create_task(
                self._webhooks.deliver(job.spec.webhook, job.id, job.webhook_payload(now))
            )
            self._background.add(task)
            task.add_done_callback(self._background.discard)

    # ----------------------------------------------------------------- operations (engine loop)

    async def submit(self, spec: JobSpec, *, sync: bool) -> dict[str, Any]:
        """Queue a job; reply body of ``/run``."""
        if self._store.closing:
            raise EngineClosed("the local endpoint is shutting down")
        job_id = f"{'sync-' if sync else ''}{uuid.uuid4()}-u1"
        job = Job(id=job_id, spec=spec, sync=sync, queued_at=asyncio.get_running_loop().time())
        await self._store.add(job, spec.ttl_s or self._ttl_s)
        return {"id": job_id, "status": job.status.value}

    async def run_sync(self, spec: JobSpec, wait_s: float) -> dict[str, Any] | None:
        """Queue a job and hold until it is terminal or ``wait_s`` elapses."""
        submitted = await self.submit(spec, sync=True)
        job = await self._store.wait(submitted["id"], lambda j: j.terminal, wait_s)
        if job is None:
            return None
        if job.terminal:
            return job.body(asyncio.get_running_loop().time())
        return {"id": job.id, "status": job.status.value}

    async def status(self, job_id: str, ttl_ms: int | None = None) -> dict[str, Any] | None:
        """Body of ``/status``; ``ttl_ms`` shortens how long the result is kept."""
        job = self._store.get(job_id)
        if job is None:
            return None
        now = asyncio.get_running_loop().time()
        if ttl_ms is not None:
            ttl_s = ttl_ms / 1000
            if job.terminal:
                self._store.schedule_retention(job, now + ttl_s)
            else:
                cap = job.retention_cap_s
                job.retention_cap_s = ttl_s if cap is None else min(cap, ttl_s)
        return job.body(now)

    async def status_sync(self, job_id: str, wait_s: float) -> dict[str, Any] | None:
        """Body of ``/status-sync``: the job once terminal or when ``wait_s`` elapses."""
        job = await self._store.wait(job_id, lambda j: j.terminal, wait_s)
        return None if job is None else job.body(asyncio.get_running_loop().time())

    async def stream(self, job_id: str, wait_s: float) -> dict[str, Any] | None:
        """Body of ``/stream``: drain the chunks buffered since the previous call."""
        job = await self._store.wait(job_id, lambda j: bool(j.chunks) or j.terminal, wait_s)
        if job is None:
            return None
        chunks, job.chunks = job.chunks, []
        body: dict[str, Any] = {
            "id": job.id,
            "status": job.status.value,
            "stream": [{"output": chunk} for chunk in chunks],
        }
        if job.status == JobStatus.FAILED and job.error is not None:
            body["error"] = job.error
        return body

    async def cancel(self, job_id: str) -> dict[str, Any] | None:
        """Cancel a queued or running job. A job that has already ended keeps its status and
        result: the reply names that status (e.g. ``COMPLETED``), so the caller learns the
        cancel came too late."""
        job = self._store.get(job_id)
        if job is None:
            return None
        if not job.terminal:
            self._store.unqueue(job)
            task = job.task if job.status == JobStatus.IN_PROGRESS else None
            self._store.finish(job, JobStatus.CANCELLED)
            if task is not None:
                task.cancel()
        return {"id": job.id, "status": job.status.value}

    async def retry(self, job_id: str) -> dict[str, Any] | None:
        """Requeue a FAILED or TIMED_OUT job under the same id."""
        job = self._store.get(job_id)
        if job is None:
            return None
        if job.status not in _RETRYABLE:
            raise BadRequest(
                f"only FAILED or TIMED_OUT jobs can be retried; job is {job.status.value}"
            )
        await self._store.requeue(job)
        return {"id": job.id, "status": job.status.value}

    async def purge_queue(self) -> dict[str, Any]:
        """Cancel every queued job; running jobs keep going."""
        removed = self._store.take_queued()
        for job in removed:
            self._store.finish(job, JobStatus.CANCELLED)
        return {"removed": len(removed), "status": "completed"}

    async def health(self) -> dict[str, Any]:
        """Body of ``/health``; ``idle + running == workers`` and ``ready == idle``."""
        store = self._store
        in_progress = sum(1 for job in store.jobs() if job.status == JobStatus.IN_PROGRESS)
        idle = self._workers - self._runner.busy
        return {
            "jobs": {
                "completed": store.completed,
                "failed": store.failed,
                "inProgress": in_progress,
                "inQueue": store.queued,
                "retried": store.retried,
            },
            "workers": {
                "idle": idle,
                "initializing": 0,
                "ready": idle,
                "running": self._runner.busy,
                "throttled": 0,
                "unhealthy": 0,
            },
        }

    async def queue(self) -> list[str]:
        """Ids of the queued jobs, in the order workers take them (the next one first)."""
        return self._store.queued_ids()

    async def job_ids(self) -> list[str]:
        """Ids of every job still known (queued, running, or retained)."""
        return self._store.ids()
