"""A scripted, thread-safe job server for batch tests, on ``httpx.MockTransport``.

``/run`` and ``/runsync`` create a job ``j<n>`` (``j<n>.<k>`` when input ``n`` is submitted
again) for the input ``{"n": n}``. A job stays IN_PROGRESS until the test ends it
(:meth:`FakeJobs.finish`), unless ``auto`` decides its end at submit time. Status replies
are immediate (a long-poll is "not held"), so clients poll at ``FAST_POLL`` pace and every
decision is the test's, not the clock's. Sync clients call the handler on their worker
threads; async clients on the loop (a gated submit then answers with a coroutine).
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from runpod_facade import AsyncEndpoint, Endpoint

from .fakeapi import API_KEY, FAST_POLL, FAST_RETRY, op_of

TERMINAL = {"COMPLETED", "FAILED", "CANCELLED", "TIMED_OUT"}
Auto = Callable[[int], "tuple[str, Any] | None"]


def completes(n: int) -> tuple[str, Any]:
    """``auto`` policy: every job COMPLETES at once with output ``n``."""
    return "COMPLETED", n


@dataclass
class FakeJob:
    id: str
    n: int
    status: str = "IN_PROGRESS"
    output: Any = None
    error: str | None = None
    forgotten: bool = False
    reported: bool = False  # the client was told a terminal status


@dataclass
class FakeJobs:
    auto: Auto | None = None
    #: input n -> a gate its submit reply waits for (the job exists from the start).
    gates: dict[int, threading.Event] = field(default_factory=dict)
    #: input n -> an Exception to raise instead of replying to its submit, once.
    submit_failures: dict[int, Exception] = field(default_factory=dict)
    #: input n -> a status code to answer its submit with, once (no job is created).
    submit_refusals: dict[int, int] = field(default_factory=dict)
    #: input n -> the job FAILS on its first run and ends so after a /retry.
    fail_once: dict[int, tuple[str, Any]] = field(default_factory=dict)
    jobs: dict[str, FakeJob] = field(default_factory=dict)
    log: list[tuple[str, str | None]] = field(default_factory=list)
    max_open: int = 0

    def __post_init__(self) -> None:
        self.lock = threading.Condition()

    # --- what tests use ------------------------------------------------------------------

    def finish(self, n: int, status: str = "COMPLETED", output: Any = None, **extra: Any) -> None:
        with self.lock:
            job = self._latest(n)
            job.status, job.output = status, n if output is None else output
            job.error = extra.get("error")

    def forget(self, n: int) -> None:
        """The server drops the job (retention or TTL expired): 404 from now on."""
        with self.lock:
            self._latest(n).forgotten = True

    def wait_submitted(self, count: int, timeout: float = 10.0) -> None:
        end = time.monotonic() + timeout
        with self.lock:
            while len(self.jobs) < count:
                left = end - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"{len(self.jobs)} jobs submitted, expected {count}")
                self.lock.wait(left)

    async def async_wait_submitted(self, count: int, timeout: float = 10.0) -> None:
        end = time.monotonic() + timeout
        while self.submitted() < count:
            if time.monotonic() > end:
                raise AssertionError(f"{self.submitted()} jobs submitted, expected {count}")
            await asyncio.sleep(0.002)

    def wait_until(self, condition: Callable[[FakeJobs], bool], timeout: float = 10.0) -> None:
        """Block until ``condition(self)`` holds (checked after every request)."""
        end = time.monotonic() + timeout
        with self.lock:
            while not condition(self):
                left = end - time.monotonic()
                if left <= 0:
                    raise AssertionError("condition not reached")
                self.lock.wait(min(left, 0.05))

    def waiting_on(self, *job_ids: str) -> bool:
        """Whether the client has asked for the status of each of ``job_ids``: it has their
        ids and waits for them. (Call with the lock held, as ``wait_until`` does.)"""
        asked = {j for o, j in self.log if o in ("status", "status-sync")}
        return set(job_ids) <= asked

    def submitted(self) -> int:
        with self.lock:
            return len(self.jobs)

    def ops(self, operation: str | None = None) -> list[str | None]:
        with self.lock:
            return [j if operation else o for o, j in self.log if operation in (None, o)]

    def count(self, operation: str) -> int:
        return len(self.ops(operation))

    def status_of(self, job_id: str) -> str:
        with self.lock:
            return self.jobs[job_id].status

    def endpoint(self, endpoint_id: str = "ep-1", **kwargs: Any) -> Endpoint:
        kwargs.setdefault("retry_policy", FAST_RETRY)
        kwargs.setdefault("poll_policy", FAST_POLL)
        client = httpx.Client(transport=httpx.MockTransport(self._sync_handler))
        return Endpoint(endpoint_id, api_key=API_KEY, http_client=client, **kwargs)

    def async_endpoint(self, **kwargs: Any) -> AsyncEndpoint:
        kwargs.setdefault("retry_policy", FAST_RETRY)
        kwargs.setdefault("poll_policy", FAST_POLL)
        client = httpx.AsyncClient(transport=httpx.MockTransport(self._async_handler))
        return AsyncEndpoint("ep-1", api_key=API_KEY, http_client=client, **kwargs)

    # --- the server ----------------------------------------------------------------------

    def _latest(self, n: int) -> FakeJob:
        return [j for j in self.jobs.values() if j.n == n][-1]

    def _sync_handler(self, request: httpx.Request) -> httpx.Response:
        reply = self._handle(request)
        if isinstance(reply, tuple):
            gate, finish = reply
            gate.wait(30)
            return finish()
        return reply

    def _async_handler(self, request: httpx.Request) -> Any:
        reply = self._handle(request)
        if isinstance(reply, tuple):
            gate, finish = reply

            async def later() -> httpx.Response:
                while not gate.is_set():
                    await asyncio.sleep(0.002)
                return finish()

            return later()
        return reply

    def _handle(
        self, request: httpx.Request
    ) -> httpx.Response | tuple[threading.Event, Callable[[], httpx.Response]]:
        op = op_of(request.url.path)
        job_id = request.url.path.rsplit("/", 1)[1] if op not in ("run", "runsync") else None
        with self.lock:
            self.log.append((op, job_id))
            self.lock.notify_all()
            if op in ("run", "runsync"):
                n = json.loads(request.content)["input"]["n"]
                if n in self.submit_failures:
                    raise self.submit_failures.pop(n)
                if n in self.submit_refusals:
                    code = self.submit_refusals.pop(n)
                    return httpx.Response(code, json={"error": f"refused input {n}"})
                job = self._create(n)
                self.log[-1] = (op, job.id)
                reply = self._submit_reply(op, job)
                gate = self.gates.get(n)
                if gate is not None:
                    return gate, lambda: self._locked(lambda: self._submit_reply(op, job))
                return reply
            job = self.jobs.get(job_id or "")
            if job is None or job.forgotten:
                return httpx.Response(404, json={"error": f"job {job_id} not found"})
            if op == "cancel" and job.status not in TERMINAL:
                job.status = "CANCELLED"
            if op == "retry":
                if job.status not in ("FAILED", "TIMED_OUT"):
                    return httpx.Response(400, json={"error": "not retryable"})
                job.status, job.output = self.fail_once.pop(job.n, ("COMPLETED", job.n))
                job.reported = False
                return httpx.Response(200, json={"id": job.id, "status": "IN_QUEUE"})
            return self._job_reply(job)

    def _locked(self, build: Callable[[], httpx.Response]) -> httpx.Response:
        with self.lock:
            return build()

    def _create(self, n: int) -> FakeJob:
        again = sum(1 for j in self.jobs.values() if j.n == n)
        job = FakeJob(id=f"j{n}" if not again else f"j{n}.{again}", n=n)
        if n in self.fail_once:
            job.status, job.error = "FAILED", f"first run of {n} failed"
        elif self.auto is not None and (end := self.auto(n)) is not None:
            job.status, job.output = end
            if job.status == "FAILED":
                job.error = f"input {n} failed"
        self.jobs[job.id] = job
        open_jobs = sum(1 for j in self.jobs.values() if not j.reported and not j.forgotten)
        self.max_open = max(self.max_open, open_jobs)
        self.lock.notify_all()
        return job

    def _submit_reply(self, op: str, job: FakeJob) -> httpx.Response:
        if op == "run":
            return httpx.Response(200, json={"id": job.id, "status": "IN_QUEUE"})
        return self._job_reply(job)

    def _job_reply(self, job: FakeJob) -> httpx.Response:
        body: dict[str, Any] = {"id": job.id, "status": job.status}
        if job.status in TERMINAL:
            job.reported = True
            if job.output is not None:
                body["output"] = job.output
            if job.error is not None:
                body["error"] = job.error
        return httpx.Response(200, json=body)
