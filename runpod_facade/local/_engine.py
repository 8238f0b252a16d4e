"""The job store, the queue and the workers that run the handler.

The engine owns a private event loop in a daemon thread. Every operation is a coroutine that
runs on that loop, so job state is only ever touched by one thread and needs no locks. The
HTTP layer reaches it with :meth:`Engine.call` from whatever loop serves the request, which
keeps the engine alive across the short-lived loops of test clients (``httpx.ASGITransport``,
Starlette's ``TestClient``) as well as under uvicorn.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import inspect
import json
import logging
import threading
import time
import traceback
import uuid
from collections import deque
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, Final, TypeVar

import httpx

from . import _limits
from ._handler import Handler, register_progress_sink, unregister_progress_sink
from ._records import WebhookAttempt
from ._validation import BadRequest, JobSpec

__all__ = ["Engine", "EngineClosed"]

_T = TypeVar("_T")
_log = logging.getLogger("runpod_facade.local")


class _Unset:
    """Marker for "no output" (``None`` is a valid output)."""


_UNSET: Final = _Unset()
_EXHAUSTED: Final = object()

IN_QUEUE: Final = "IN_QUEUE"
IN_PROGRESS: Final = "IN_PROGRESS"
COMPLETED: Final = "COMPLETED"
FAILED: Final = "FAILED"
CANCELLED: Final = "CANCELLED"
TIMED_OUT: Final = "TIMED_OUT"


class EngineClosed(RuntimeError):
    """The endpoint is shutting down and takes no more work."""


def _ms(seconds: float) -> int:
    return max(0, round(seconds * 1000))


def _check_json(value: Any) -> None:
    # Fail the job now rather than the HTTP reply later.
    json.dumps(value, allow_nan=False)


def _error_document(exc: BaseException) -> str:
    # Same shape as runpod's worker SDK: a JSON *string* in the job's `error` field.
    kind = type(exc)
    name = (
        kind.__qualname__
        if kind.__module__ == "builtins"
        else f"{kind.__module__}.{kind.__qualname__}"
    )
    return json.dumps(
        {
            "error_type": name,
            "error_message": str(exc),
            "error_traceback": "".join(traceback.format_exception(exc)),
        }
    )


@dataclass(eq=False)
class _Job:
    id: str
    spec: JobSpec
    sync: bool
    queued_at: float
    status: str = IN_QUEUE
    started_at: float | None = None
    finished_at: float | None = None
    output: Any = _UNSET
    error: str | None = None
    chunks: list[Any] = field(default_factory=list)
    worker_id: str | None = None
    retries: int = 0
    attempt: int = 0
    task: asyncio.Task[None] | None = None
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    expiry: asyncio.TimerHandle | None = None
    retention: asyncio.TimerHandle | None = None
    retention_cap_s: float | None = None

    @property
    def terminal(self) -> bool:
        return self.status in _limits.TERMINAL_STATUSES

    def body(self, now: float) -> dict[str, Any]:
        """The job as ``/status`` returns it."""
        body: dict[str, Any] = {"id": self.id, "status": self.status}
        if self.started_at is not None:
            body["delayTime"] = _ms(self.started_at - self.queued_at)
            end = self.finished_at if self.finished_at is not None else now
            body["executionTime"] = _ms(end - self.started_at)
        if not isinstance(self.output, _Unset):
            body["output"] = self.output
        if self.error is not None:
            body["error"] = self.error
        if self.worker_id is not None:
            body["workerId"] = self.worker_id
        if self.retries:
            body["retries"] = self.retries
        return body


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
        ttl_s: float = _limits.DEFAULT_TTL_MS / 1000,
        webhook_retries: int = _limits.WEBHOOK_RETRIES,
        webhook_retry_delay_s: float = _limits.WEBHOOK_RETRY_DELAY_S,
        webhook_timeout_s: float = 10.0,
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
        self._ttl_s = ttl_s
        self._webhook_retries = webhook_retries
        self._webhook_retry_delay_s = webhook_retry_delay_s
        self._webhook_timeout_s = webhook_timeout_s

        self._start_lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._thread_id: int | None = None
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None
        self._closed = False

        self._reset_state()
        self._webhook_lock = threading.Lock()
        self._webhook_attempts: list[WebhookAttempt] = []

    def _reset_state(self) -> None:
        # Everything below is touched on the engine loop only.
        self._jobs: dict[str, _Job] = {}
        self._normal: deque[str] = deque()
        self._low: deque[str] = deque()
        self._queue_ready: asyncio.Condition | None = None
        self._busy = 0
        self._completed = 0
        self._failed = 0
        self._retried = 0
        self._closing = False
        self._worker_tasks: list[asyncio.Task[None]] = []
        self._background: set[asyncio.Task[None]] = set()
        self._http: httpx.AsyncClient | None = None

    # ----------------------------------------------------------------- lifecycle (any thread)

    @property
    def workers(self) -> int:
        """Number of concurrent workers."""
        return self._workers

    @property
    def webhook_attempts(self) -> list[WebhookAttempt]:
        """Every webhook POST made so far, oldest first."""
        with self._webhook_lock:
            return list(self._webhook_attempts)

    def start(self) -> None:
        """Start the engine thread and its workers (idempotent).

        A closed engine starts afresh, with no jobs: an ASGI server (or test client) may run
        the app's lifespan more than once.
        """
        with self._start_lock:
            if self._closed:
                self._closed = False
                self._thread = self._loop = self._executor = None
                self._reset_state()
            if self._thread is not None:
                return
            self._executor = concurrent.futures.ThreadPoolExecutor(
                max_workers=self._workers + 4, thread_name_prefix="runpod-local-handler"
            )
            ready = threading.Event()
            self._thread = threading.Thread(
                target=self._thread_main, args=(ready,), name="runpod-local-engine", daemon=True
            )
            self._thread.start()
            ready.wait()

    def _thread_main(self, ready: threading.Event) -> None:
        loop = asyncio.new_event_loop()
        assert self._executor is not None
        loop.set_default_executor(self._executor)
        self._loop = loop
        self._thread_id = threading.get_ident()
        loop.call_soon(self._boot, ready)
        try:
            loop.run_forever()
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            loop.close()

    def _boot(self, ready: threading.Event) -> None:
        self._queue_ready = asyncio.Condition()
        self._worker_tasks = [
            asyncio.get_running_loop().create_task(self._worker(index), name=f"worker-{index}")
            for index in range(self._workers)
        ]
        ready.set()

    def begin_close(self) -> None:
        """Make pending long-polls return now, ahead of :meth:`close`."""
        loop = self._loop
        if loop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(self._set_closing)

    def close(self, timeout: float = 5.0) -> None:
        """Stop workers, cancel running jobs and webhooks, and join the engine thread."""
        with self._start_lock:
            if self._closed:
                return
            self._closed = True
            thread, loop, executor = self._thread, self._loop, self._executor
        if thread is None or loop is None:
            return
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(self._shutdown(), loop).result(timeout)
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout)
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)
            # Idle pool threads exit at once; one stuck in a sync handler is left behind.
            for worker in list(getattr(executor, "_threads", ())):
                worker.join(0.5)

    async def call(self, coro: Coroutine[Any, Any, _T]) -> _T:
        """Run ``coro`` on the engine loop and await it from the caller's loop."""
        try:
            loop = self._running_loop()
        except EngineClosed:
            coro.close()
            raise
        future = asyncio.run_coroutine_threadsafe(coro, loop)
        return await asyncio.wrap_future(future)

    def call_sync(self, coro: Coroutine[Any, Any, _T], timeout: float = 10.0) -> _T:
        """Run ``coro`` on the engine loop and block the calling (non-engine) thread for it."""
        try:
            loop = self._running_loop()
        except EngineClosed:
            coro.close()
            raise
        return asyncio.run_coroutine_threadsafe(coro, loop).result(timeout)

    def _running_loop(self) -> asyncio.AbstractEventLoop:
        # Start lazily (in-process use has no lifespan), but never reopen a closed engine here.
        if self._closed:
            raise EngineClosed("the local endpoint is shutting down")
        self.start()
        loop = self._loop
        if loop is None:
            raise EngineClosed("the local endpoint is shutting down")
        return loop

    def _set_closing(self) -> None:
        self._closing = True
        for job in list(self._jobs.values()):
            self._notify(job)

    async def _shutdown(self) -> None:
        self._set_closing()
        tasks: list[asyncio.Task[Any]] = [*self._worker_tasks, *self._background]
        tasks += [job.task for job in self._jobs.values() if job.task is not None]
        for task in tasks:
            task.cancel()
        for job in self._jobs.values():
            for handle in (job.expiry, job.retention):
                if handle is not None:
                    handle.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=2.0)
        if self._http is not None:
            await self._http.aclose()

    # ----------------------------------------------------------------- queue and workers

    def _notify(self, job: _Job) -> None:
        # Wake every waiter of this job; each re-reads the state and waits on a fresh event.
        job.changed.set()
        job.changed = asyncio.Event()

    async def _enqueue(self, job: _Job) -> None:
        assert self._queue_ready is not None
        (self._low if job.spec.low_priority else self._normal).append(job.id)
        async with self._queue_ready:
            self._queue_ready.notify()

    def _unqueue(self, job: _Job) -> bool:
        for queue in (self._normal, self._low):
            with contextlib.suppress(ValueError):
                queue.remove(job.id)
                return True
        return False

    async def _dequeue(self) -> _Job:
        assert self._queue_ready is not None
        async with self._queue_ready:
            while True:
                # Low-priority jobs run only when no normal job is waiting.
                queue = self._normal or self._low
                if not queue:
                    await self._queue_ready.wait()
                    continue
                job = self._jobs.get(queue.popleft())
                if job is not None and job.status == IN_QUEUE:
                    return job

    async def _worker(self, index: int) -> None:
        worker_id = f"local-worker-{index + 1}"
        while True:
            job = await self._dequeue()
            self._busy += 1
            try:
                await self._execute(job, worker_id)
            except Exception:
                _log.exception("local endpoint worker crashed on job %s", job.id)
            finally:
                self._busy -= 1

    async def _execute(self, job: _Job, worker_id: str) -> None:
        loop = asyncio.get_running_loop()
        job.status = IN_PROGRESS
        job.started_at = loop.time()
        job.worker_id = worker_id
        attempt = job.attempt
        self._notify(job)
        task = loop.create_task(self._run_handler(job, attempt))
        job.task = task
        timeout = job.spec.execution_timeout_s or self._execution_timeout_s
        done, _ = await asyncio.wait({task}, timeout=timeout)
        if not done:
            task.cancel()
            if self._current(job, attempt) and job.status == IN_PROGRESS:
                self._finish(
                    job, TIMED_OUT, error=f"execution timeout of {_ms(timeout)} ms exceeded"
                )
            # Give a cancelled async handler a moment to unwind before taking the next job.
            await asyncio.wait({task}, timeout=1.0)

    def _current(self, job: _Job, attempt: int) -> bool:
        return self._jobs.get(job.id) is job and job.attempt == attempt

    async def _run_handler(self, job: _Job, attempt: int) -> None:
        loop = asyncio.get_running_loop()
        payload: dict[str, Any] = {"id": job.id, "input": job.spec.input}
        if job.spec.s3_config is not None:
            payload["s3Config"] = job.spec.s3_config

        def sink(value: Any) -> None:
            snapshot = json.loads(json.dumps(value, allow_nan=False))
            if threading.get_ident() == self._thread_id:
                self._set_progress(job, attempt, snapshot)
            else:
                loop.call_soon_threadsafe(self._set_progress, job, attempt, snapshot)

        register_progress_sink(job.id, sink)
        aggregated: list[Any] = []
        streamed = False
        try:
            handler = self._handler
            if inspect.isasyncgenfunction(handler):
                result = handler(payload)
            elif inspect.iscoroutinefunction(handler):
                result = await handler(payload)
            else:
                result = await asyncio.to_thread(handler, payload)
            if inspect.isawaitable(result):
                result = await result
            if inspect.isasyncgen(result):
                streamed = True
                async for chunk in result:
                    self._emit(job, attempt, chunk, aggregated)
            elif inspect.isgenerator(result):
                streamed = True
                while (
                    chunk := await asyncio.to_thread(next, result, _EXHAUSTED)
                ) is not _EXHAUSTED:
                    self._emit(job, attempt, chunk, aggregated)
            elif result is not None:
                _check_json(result)
        except Exception as exc:
            if self._current(job, attempt) and job.status == IN_PROGRESS:
                self._finish(job, FAILED, error=_error_document(exc))
            return
        finally:
            unregister_progress_sink(job.id, sink)
        if not (self._current(job, attempt) and job.status == IN_PROGRESS):
            return
        if streamed:
            self._finish(job, COMPLETED, output=aggregated if self._aggregate else _UNSET)
        elif isinstance(result, dict) and "error" in result:
            # runpod's worker pops a returned `error` into the job's error; the rest stays output.
            rest = {key: value for key, value in result.items() if key != "error"}
            error = result["error"]
            self._finish(
                job,
                FAILED,
                output=rest if rest else _UNSET,
                error=error if isinstance(error, str) else json.dumps(error),
            )
        else:
            self._finish(job, COMPLETED, output=_UNSET if result is None else result)

    def _emit(self, job: _Job, attempt: int, chunk: Any, aggregated: list[Any]) -> None:
        _check_json(chunk)
        if not self._current(job, attempt) or job.status != IN_PROGRESS:
            raise asyncio.CancelledError
        job.chunks.append(chunk)
        if self._aggregate:
            aggregated.append(chunk)
        self._notify(job)

    def _set_progress(self, job: _Job, attempt: int, value: Any) -> None:
        if self._current(job, attempt) and job.status == IN_PROGRESS:
            job.output = value
            self._notify(job)

    def _finish(
        self, job: _Job, status: str, *, output: Any = _UNSET, error: str | None = None
    ) -> None:
        loop = asyncio.get_running_loop()
        job.status = status
        job.finished_at = loop.time()
        job.output = output
        job.error = error
        if status == COMPLETED:
            self._completed += 1
        elif status in (FAILED, TIMED_OUT):
            self._failed += 1
        retention = self._runsync_retention_s if job.sync else self._run_retention_s
        if job.retention_cap_s is not None:
            retention = min(retention, job.retention_cap_s)
        self._schedule_retention(job, loop.time() + retention)
        if job.spec.webhook and status in (COMPLETED, FAILED, TIMED_OUT):
            self._spawn(self._deliver_webhook(job.spec.webhook, job.id, job.body(loop.time())))
        self._notify(job)

    def _schedule_retention(self, job: _Job, when: float) -> None:
        if job.retention is not None:
            if job.retention.when() <= when:
                return
            job.retention.cancel()
        job.retention = asyncio.get_running_loop().call_at(when, self._delete, job)

    def _delete(self, job: _Job) -> None:
        """Forget ``job`` (TTL or retention expired): it answers 404 from now on."""
        if self._jobs.get(job.id) is not job:
            return
        del self._jobs[job.id]
        self._unqueue(job)
        for handle in (job.expiry, job.retention):
            if handle is not None:
                handle.cancel()
        if job.task is not None and not job.task.done():
            job.task.cancel()
        self._notify(job)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _deliver_webhook(self, url: str, job_id: str, body: dict[str, Any]) -> None:
        if not url.lower().startswith(("http://", "https://")):
            return
        if self._http is None:
            self._http = httpx.AsyncClient(timeout=self._webhook_timeout_s)
        for attempt in range(1, self._webhook_retries + 2):
            if attempt > 1:
                await asyncio.sleep(self._webhook_retry_delay_s)
            status: int | None = None
            error: str | None = None
            try:
                response = await self._http.post(url, json=body)
                status = response.status_code
            except (httpx.HTTPError, ValueError) as exc:
                error = f"{type(exc).__name__}: {exc}"
            ok = status is not None and 200 <= status < 300
            with self._webhook_lock:
                self._webhook_attempts.append(
                    WebhookAttempt(url, job_id, attempt, status, ok, error, time.time())
                )
            if ok:
                return

    # ----------------------------------------------------------------- operations (engine loop)

    async def _wait(
        self, job_id: str, ready: Callable[[_Job], bool], timeout_s: float
    ) -> _Job | None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while True:
            job = self._jobs.get(job_id)
            if job is None or ready(job) or self._closing:
                return job
            remaining = deadline - loop.time()
            if remaining <= 0:
                return job
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(job.changed.wait(), remaining)

    async def submit(self, spec: JobSpec, *, sync: bool) -> dict[str, Any]:
        """Queue a job; reply body of ``/run``."""
        if self._closing:
            raise EngineClosed("the local endpoint is shutting down")
        loop = asyncio.get_running_loop()
        job_id = f"{'sync-' if sync else ''}{uuid.uuid4()}-u1"
        job = _Job(id=job_id, spec=spec, sync=sync, queued_at=loop.time())
        job.expiry = loop.call_later(spec.ttl_s or self._ttl_s, self._delete, job)
        self._jobs[job_id] = job
        await self._enqueue(job)
        return {"id": job_id, "status": job.status}

    async def run_sync(self, spec: JobSpec, wait_s: float) -> dict[str, Any] | None:
        """Queue a job and hold until it is terminal or ``wait_s`` elapses."""
        submitted = await self.submit(spec, sync=True)
        job = await self._wait(submitted["id"], lambda j: j.terminal, wait_s)
        if job is None:
            return None
        if job.terminal:
            return job.body(asyncio.get_running_loop().time())
        return {"id": job.id, "status": job.status}

    async def status(self, job_id: str, ttl_ms: int | None = None) -> dict[str, Any] | None:
        """Body of ``/status``; ``ttl_ms`` shortens how long the result is kept."""
        job = self._jobs.get(job_id)
        if job is None:
            return None
        now = asyncio.get_running_loop().time()
        if ttl_ms is not None:
            ttl_s = ttl_ms / 1000
            if job.terminal:
                self._schedule_retention(job, now + ttl_s)
            else:
                cap = job.retention_cap_s
                job.retention_cap_s = ttl_s if cap is None else min(cap, ttl_s)
        return job.body(now)

    async def status_sync(self, job_id: str, wait_s: float) -> dict[str, Any] | None:
        """Body of ``/status-sync``: the job once terminal or when ``wait_s`` elapses."""
        job = await self._wait(job_id, lambda j: j.terminal, wait_s)
        return None if job is None else job.body(asyncio.get_running_loop().time())

    async def stream(self, job_id: str, wait_s: float) -> dict[str, Any] | None:
        """Body of ``/stream``: drain the chunks buffered since the previous call."""
        job = await self._wait(job_id, lambda j: bool(j.chunks) or j.terminal, wait_s)
        if job is None:
            return None
        chunks, job.chunks = job.chunks, []
        body: dict[str, Any] = {
            "id": job.id,
            "status": job.status,
            "stream": [{"output": chunk} for chunk in chunks],
        }
        if job.status == FAILED and job.error is not None:
            body["error"] = job.error
        return body

    async def cancel(self, job_id: str) -> dict[str, Any] | None:
        """Cancel a queued or running job; a terminal job is left as it is."""
        job = self._jobs.get(job_id)
        if job is None:
            return None
        if not job.terminal:
            self._unqueue(job)
            task = job.task if job.status == IN_PROGRESS else None
            self._finish(job, CANCELLED)
            if task is not None:
                task.cancel()
        return {"id": job.id, "status": job.status}

    async def retry(self, job_id: str) -> dict[str, Any] | None:
        """Requeue a FAILED or TIMED_OUT job under the same id."""
        job = self._jobs.get(job_id)
        if job is None:
            return None
        if job.status not in (FAILED, TIMED_OUT):
            raise BadRequest(f"only FAILED or TIMED_OUT jobs can be retried; job is {job.status}")
        if job.retention is not None:
            job.retention.cancel()
            job.retention = None
        job.attempt += 1
        job.retries += 1
        self._retried += 1
        job.status = IN_QUEUE
        job.queued_at = asyncio.get_running_loop().time()
        job.started_at = job.finished_at = None
        job.output, job.error, job.chunks, job.worker_id = _UNSET, None, [], None
        await self._enqueue(job)
        self._notify(job)
        return {"id": job.id, "status": job.status}

    async def purge_queue(self) -> dict[str, Any]:
        """Cancel every queued job; running jobs keep going."""
        removed = [self._jobs[job_id] for job_id in (*self._normal, *self._low)]
        self._normal.clear()
        self._low.clear()
        for job in removed:
            self._finish(job, CANCELLED)
        return {"removed": len(removed), "status": "completed"}

    async def health(self) -> dict[str, Any]:
        """Body of ``/health``; ``idle + running == workers`` and ``ready == idle``."""
        in_progress = sum(1 for job in self._jobs.values() if job.status == IN_PROGRESS)
        idle = self._workers - self._busy
        return {
            "jobs": {
                "completed": self._completed,
                "failed": self._failed,
                "inProgress": in_progress,
                "inQueue": len(self._normal) + len(self._low),
                "retried": self._retried,
            },
            "workers": {
                "idle": idle,
                "initializing": 0,
                "ready": idle,
                "running": self._busy,
                "throttled": 0,
                "unhealthy": 0,
            },
        }

    async def job_ids(self) -> list[str]:
        """Ids of every job still known (queued, running, or retained)."""
        return list(self._jobs)
