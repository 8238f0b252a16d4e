"""A guided tour of runpod-facade: ``python -m runpod_facade.demo`` (``make demo``).

Without credentials it starts a local RunPod-compatible endpoint (``runpod_facade.local``)
running :func:`demo_handler`, a handler that dispatches on ``input["task"]``, and walks through
every operation with :class:`~runpod_facade.Endpoint`, then again with
:class:`~runpod_facade.AsyncEndpoint`:

    health · run_sync · run + wait (progress) · stream · status · cancel · a failing job and
    retry · execution policy (timeout) · purge queue · asyncio (20 jobs at once) · the
    OpenAI-compatible route (a vLLM-style worker) · a webhook delivery · a load-balancing
    endpoint (LoadBalancedEndpoint against a local pool of workers) · ``ep.map`` against rate
    limits, without and with pacing

With ``RUNPOD_API_KEY`` and ``RUNPOD_ENDPOINT_ID`` set it runs the parts that work with any
handler against the real API (``RUNPOD_BASE_URL`` is honoured): health, run_sync, run + wait,
status, a stream attempt, cancel, and the async client. ``purge-queue`` removes every queued
job of the endpoint, so it only runs with ``--purge``. ``--input JSON`` sets the job input
used against the real API (default ``{"prompt": "Hello, World!"}``).

Exit status 0 when the tour completed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, cast

from ._clients.aio import AsyncEndpoint
from ._clients.sync import Endpoint
from ._core.retry import PollPolicy
from ._exceptions import JobCancelled, JobFailed, JobTimedOut, RunpodError
from ._options import ExecutionPolicy
from ._rate_limits import RateLimits
from ._status import JobStatus
from ._types import JobState

__all__ = ["demo_handler", "main", "run_local_tour", "run_remote_tour"]

DEFAULT_REMOTE_INPUT: dict[str, Any] = {"prompt": "Hello, World!"}
LOCAL_WORKERS = 4

# --- the demo handler -------------------------------------------------------------------

_flaky_lock = threading.Lock()
_flaky_seen: set[str] = set()


def demo_handler(job: dict[str, Any]) -> Any:
    """A handler that dispatches on ``input["task"]`` to the sample handlers.

    ``echo`` (default) returns the input; ``stream`` yields the words of ``prompt``
    (``delay`` s apart); ``sleep`` sleeps ``seconds``; ``progress`` publishes ``steps``
    progress updates; ``fail`` raises ``ValueError(message)``; ``flaky`` fails on its first
    attempt and succeeds when the job is retried.
    """
    from .local import sample_handlers

    data = job.get("input")
    task = data.get("task", "echo") if isinstance(data, dict) else "echo"
    if task == "echo":
        return sample_handlers.echo(job)
    if task == "stream":
        return sample_handlers.text_stream(job)
    if task == "sleep":
        return sample_handlers.sleep(job)
    if task == "progress":
        return sample_handlers.progress(job)
    if task == "fail":
        return sample_handlers.fail(job)
    if task == "flaky":
        with _flaky_lock:
            first_attempt = job["id"] not in _flaky_seen
            _flaky_seen.add(job["id"])
        if first_attempt:
            raise RuntimeError("flaky: the first attempt always fails; retry me")
        return {"attempt": "retried", "ok": True}
    raise ValueError(f"unknown task {task!r}: use echo, stream, sleep, progress, fail or flaky")


# --- printing ---------------------------------------------------------------------------


class _Printer:
    def __init__(self) -> None:
        self.started = time.monotonic()
        self.sections = 0

    def say(self, text: str = "", *, end: str = "\n") -> None:
        sys.stdout.write(text + end)
        sys.stdout.flush()

    @contextmanager
    def section(self, title: str) -> Iterator[None]:
        self.sections += 1
        self.say(f"\n== {self.sections}. {title} ==")
        began = time.monotonic()
        yield
        self.say(f"   ({time.monotonic() - began:.1f} s)")

    def elapsed(self) -> float:
        return time.monotonic() - self.started


def _secs(value: timedelta | None) -> str:
    return "-" if value is None else f"{value.total_seconds():.2f} s"


def _short(value: Any, limit: int = 100) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _describe(state: JobState) -> str:
    return (
        f"job {state.id} {state.status} (queue {_secs(state.delay_time)}, "
        f"run {_secs(state.execution_time)})"
    )


def _status_printer(p: _Printer) -> Callable[[JobState], None]:
    """An ``on_status`` callback printing each change of status or progress."""
    last: list[tuple[str, str]] = []
    began = time.monotonic()

    def on_status(state: JobState) -> None:
        shown = "" if state.output is None or state.is_terminal else _short(state.output)
        key = (str(state.status), shown)
        if last and last[-1] == key:
            return
        last.append(key)
        progress = f"  progress {shown}" if shown else ""
        p.say(f"   {time.monotonic() - began:5.2f} s  {state.status}{progress}")

    return on_status


def _print_health(p: _Printer, endpoint: Endpoint) -> None:
    health = endpoint.health()
    w, j = health.workers, health.jobs
    p.say(f"   workers: {w.ready} ready, {w.idle} idle, {w.running} running")
    p.say(
        f"   jobs:    {j.in_queue} in queue, {j.in_progress} in progress, "
        f"{j.completed} completed, {j.failed} failed, {j.retried} retried"
    )


def _wait_until_running(endpoint: Endpoint, job_id: str, timeout: float = 10.0) -> JobState:
    deadline = time.monotonic() + timeout
    state = endpoint.status(job_id)
    while state.status == JobStatus.IN_QUEUE and time.monotonic() < deadline:
        time.sleep(0.05)
        state = endpoint.status(job_id)
    return state


# --- the local tour ---------------------------------------------------------------------


def run_local_tour(p: _Printer, *, workers: int = LOCAL_WORKERS) -> None:
    """Every operation, against a local endpoint running :func:`demo_handler`."""
    from .local import LocalEndpoint

    with LocalEndpoint(demo_handler, workers=workers) as local:
        p.say(
            f"mode: LOCAL endpoint at {local.base_url} (endpoint id {local.endpoint_id!r}, "
            f"{workers} workers, handler runpod_facade.demo:demo_handler)"
        )
        p.say("      set RUNPOD_API_KEY and RUNPOD_ENDPOINT_ID to tour the real API instead")
        connect = _Connect(local.endpoint_id, local.base_url, local.api_key)
        with connect.endpoint() as endpoint:
            _local_sync_tour(p, endpoint, connect)
        with (
            p.section("purge queue (a second endpoint with 1 worker)"),
            LocalEndpoint(demo_handler, workers=1) as single,
            Endpoint(single.endpoint_id, base_url=single.base_url, api_key=single.api_key) as one,
        ):
            _purge_tour(p, one)
        asyncio.run(_local_async_tour(p, connect))
        with p.section("batch: ep.map with a journal, stopped half-way, then resumed"):
            _batch_tour(p, connect)
        with p.section("server-side batch: RunPod's Batch Jobs API (ep.batches, via='batch-api')"):
            _batch_api_tour(p, connect)
        _openai_tour(p)
        _webhook_tour(p, connect)
        _load_balancing_tour(p)
        with p.section("rate limits: ep.map against an endpoint that answers 429"):
            _rate_limit_tour(p)


@dataclass(frozen=True)
class _Connect:
    """Where the local endpoint listens, to open more clients on it."""

    endpoint_id: str
    base_url: str
    api_key: str | None

    def endpoint(self, **options: Any) -> Endpoint:
        return Endpoint(self.endpoint_id, base_url=self.base_url, api_key=self.api_key, **options)

    def async_endpoint(self) -> AsyncEndpoint:
        return AsyncEndpoint(self.endpoint_id, base_url=self.base_url, api_key=self.api_key)


def _local_sync_tour(p: _Printer, endpoint: Endpoint, connect: _Connect) -> None:
    with p.section("health"):
        _print_health(p, endpoint)

    # The execution-policy job takes 5 s of server time: start it now so it runs while the
    # next sections do, and collect it near the end.
    policy = ExecutionPolicy(execution_timeout=5)
    slow = endpoint.run({"task": "sleep", "seconds": 8}, policy=policy)

    with p.section("run_sync: run a job and wait for its result"):
        state = endpoint.run_sync({"task": "echo", "prompt": "Hello, World!"}, timeout=30)
        p.say(f"   {_describe(state)}")
        p.say(f"   output: {_short(state.output)}")

    with p.section("run + wait, with on_status progress updates"):
        job = endpoint.run({"task": "progress", "steps": 4, "delay": 0.3})
        p.say(f"   queued job {job.id}; waiting (polling /status to see progress)")
        # Long-polling /status-sync only answers at the end; polling /status shows progress.
        with connect.endpoint(
            long_poll=False, poll_policy=PollPolicy(initial=0.1, factor=1.0, maximum=0.1)
        ) as poller:
            output = poller.job(job.id).wait(timeout=30, on_status=_status_printer(p)).output
        p.say(f"   output: {_short(output)}")

    with p.section("stream: chunks of a generator handler as they are yielded"):
        job = endpoint.run(
            {"task": "stream", "prompt": "streaming text, word by word", "delay": 0.15}
        )
        p.say("   ", end="")
        with job.stream(timeout=30) as chunks:
            for chunk in chunks:
                p.say(str(chunk), end=" ")
        p.say()
        p.say(f"   stream ended: {chunks.status}, {chunks.progress.chunks} chunks")

    with p.section("status of a job"):
        job = endpoint.run({"task": "sleep", "seconds": 1})
        p.say(f"   just queued: {_describe(job.status())}")
        job.wait(timeout=30)
        p.say(f"   finished:    {_describe(endpoint.status(job.id))}")
        p.say(f"   output:      {_short(endpoint.status(job.id).output)}")

    with p.section("cancel a running job"):
        job = endpoint.run({"task": "sleep", "seconds": 60})
        running = _wait_until_running(endpoint, job.id)
        p.say(f"   before: {running.status}")
        state = job.cancel()
        p.say(f"   cancel() -> {state.status}")
        try:
            job.wait(timeout=10)
        except JobCancelled as exc:
            p.say(f"   wait() raised JobCancelled: {exc}")

    with p.section("a failing job raises JobFailed; retry() requeues it under the same id"):
        try:
            endpoint.run_sync({"task": "flaky"}, timeout=30)
        except JobFailed as exc:
            details = exc.error_details or {}
            p.say(f"   JobFailed: job {exc.job_id}")
            p.say(f"   error_type={details.get('error_type')!r}")
            p.say(f"   error_message={details.get('error_message')!r}")
            failed_id = exc.job_id
        else:  # pragma: no cover - the handler always fails first
            raise RuntimeError("the flaky job should have failed")
        assert failed_id is not None
        retried = endpoint.retry(failed_id)
        p.say(f"   retry() -> job {retried.id} {retried.last_state and retried.last_state.status}")
        state = retried.wait(timeout=30)
        p.say(f"   after retry: {_describe(state)}")
        p.say(f"   output: {_short(state.output)}")

    with p.section("execution policy: execution_timeout=5 s on a job that sleeps 8 s"):
        p.say(f"   job {slow.id} was submitted after section 1 with")
        p.say(f"   {policy} (sent as policy {policy.to_wire()})")
        try:
            slow.wait(timeout=30)
        except JobTimedOut as exc:
            p.say(f"   JobTimedOut: {exc}")
            p.say(f"   server error: {exc.state.error}")

    with p.section("health again"):
        _print_health(p, endpoint)


def _purge_tour(p: _Printer, endpoint: Endpoint) -> None:
    jobs = [endpoint.run({"task": "sleep", "seconds": 5}) for _ in range(4)]
    _wait_until_running(endpoint, jobs[0].id)
    p.say(f"   queued 4 sleeping jobs on 1 worker: {endpoint.health().jobs.in_queue} waiting")
    result = endpoint.purge_queue()
    p.say(f"   purge_queue() -> removed {result.removed} ({result.status})")
    for job in jobs:
        p.say(f"   {job.id}: {job.status().status}")
    jobs[0].cancel()  # the running job is not purged; stop it so the tour goes on


async def _local_async_tour(p: _Printer, connect: _Connect) -> None:
    with p.section("the same with AsyncEndpoint (asyncio)"):
        async with connect.async_endpoint() as endpoint:
            health = await endpoint.health()
            p.say(f"   health: {health.workers.ready} ready workers")
            state = await endpoint.run_sync({"task": "echo", "n": 1}, timeout=30)
            p.say(f"   run_sync -> {state.status}, output {_short(state.output)}")
            job = await endpoint.run({"task": "echo", "n": 2})
            p.say(f"   run + wait -> {_short((await job.wait(timeout=30)).output)}")
            p.say(f"   status -> {(await job.status()).status}")
            streamed = await endpoint.run({"task": "stream", "prompt": "async words too"})
            words = [chunk async for chunk in streamed.stream(timeout=30)]
            p.say(f"   stream -> {words}")
            sleeper = await endpoint.run({"task": "sleep", "seconds": 60})
            cancelled = await sleeper.cancel()
            p.say(f"   cancel -> {cancelled.status}")
            try:
                await endpoint.run_sync({"task": "fail", "message": "async boom"}, timeout=30)
            except JobFailed as exc:
                p.say(f"   failing job -> JobFailed: {exc}")

            began = time.monotonic()
            states = await asyncio.gather(
                *(
                    endpoint.run_sync({"task": "sleep", "seconds": 0.2, "n": n}, timeout=60)
                    for n in range(20)
                )
            )
            took = time.monotonic() - began
            done = sum(1 for s in states if s.is_completed)
            p.say(
                f"   asyncio.gather of 20 run_sync jobs: {done} completed in {took:.1f} s "
                f"({LOCAL_WORKERS} workers, 0.2 s each)"
            )


def _batch_tour(p: _Printer, connect: _Connect) -> None:
    """A journaled batch closed after some results, as a crash or Ctrl-C would stop it, and the
    same batch run again: finished inputs come back from the journal, jobs already submitted
    are waited for by id, and only the rest are submitted."""
    import tempfile

    inputs = [{"task": "sleep", "seconds": 0.1, "n": n} for n in range(24)]
    with tempfile.TemporaryDirectory() as folder, connect.endpoint() as ep:
        journal = f"{folder}/batch.journal"
        first = ep.map(inputs, concurrency=8, journal=journal)
        for done, _item in enumerate(first, 1):
            if done == 10:
                break
        first.close()  # submit nothing more; the jobs in flight keep running
        stats = first.stats
        p.say(
            f"   first run: {stats.yielded} results, then stopped with "
            f"{stats.submitted - stats.yielded} more jobs submitted (their ids in the journal)"
        )
        with ep.map(inputs, concurrency=8, journal=journal) as again:
            completed = sorted(item.index for item in again if item.ok)
            stats = again.stats
        p.say(
            f"   same batch again: {stats.resumed} replayed from the journal, "
            f"{stats.reattached} reattached by id, {stats.submitted} submitted; "
            f"every input completed once: {completed == list(range(len(inputs)))}"
        )


def _batch_api_tour(p: _Printer, connect: _Connect) -> None:
    """RunPod runs the batch on its batch workers: a DRAFT batch built, finalized, waited for
    on its counts and paged; then ``map(via="batch-api")`` stopped early and resumed from its
    journal by batch id, creating nothing twice."""
    import tempfile

    with connect.endpoint() as ep:
        batch = ep.batches.create([{"n": n} for n in range(5)])
        ep.batches.add(batch.id, [{"n": n} for n in range(5, 7)] + [{"task": "fail"}])
        p.say(f"   created {batch.id} ({batch.status}) with 5 requests, added 3, finalize")
        ep.batches.finalize(batch.id)
        done = ep.batches.wait(batch.id, timeout=30, interval=0.2)
        p.say(
            f"   {done.status}: {done.request_completed} completed + {done.request_failed} "
            f"failed == {done.request_total} total (there is no COMPLETED state)"
        )
        statuses = [r.status for r in ep.batches.results(batch.id, page_size=3)]
        p.say(f"   results, paged 3 at a time: {', '.join(statuses)}")
        inputs = [{"n": n} for n in range(20)]
        with tempfile.TemporaryDirectory() as folder:
            journal = f"{folder}/batch-api.journal"
            with ep.map(inputs, via="batch-api", batch_size=6, journal=journal) as first:
                seen = {next(first).index for _ in range(3)}
                created = first.stats.batches_created
            p.say(
                f"   map(via='batch-api', batch_size=6): {created} batches created, stopped "
                f"after {len(seen)} results (as a crash would)"
            )
            with ep.map(inputs, via="batch-api", batch_size=6, journal=journal) as again:
                seen |= {item.index for item in again}
                stats = again.stats
            p.say(
                f"   rerun: {stats.batches_created} more batches created, {stats.items} results "
                f"paged in; every input has its result: {seen == set(range(len(inputs)))}"
            )


def _openai_tour(p: _Printer) -> None:
    """An LLM worker called the way most RunPod LLM endpoints are: through the OpenAI-compatible
    route, here with the local endpoint running a fake vLLM-style chat handler."""
    from .local import LocalEndpoint, sample_handlers

    with (
        p.section("OpenAI-compatible route (a vLLM-style worker)"),
        LocalEndpoint(sample_handlers.openai_chat, workers=2) as local,
        Endpoint(local.endpoint_id, base_url=local.base_url, api_key=local.api_key) as endpoint,
    ):
        p.say(f"   ep.openai_base_url = {endpoint.openai_base_url}")
        question = [{"role": "user", "content": "what does a queue worker do"}]
        try:
            import openai
        except ImportError:
            p.say("   (pip install openai to call it with the official client; plain HTTP here)")
            import httpx

            reply = httpx.post(
                f"{endpoint.openai_base_url}/chat/completions",
                json={"model": sample_handlers.FAKE_MODEL, "messages": question},
                headers={"Authorization": f"Bearer {local.api_key}"},
                timeout=30,
            ).json()
            p.say(f"   chat completion -> {reply['choices'][0]['message']['content']!r}")
            return
        client = openai.OpenAI(base_url=endpoint.openai_base_url, api_key=local.api_key)
        answer = client.chat.completions.create(
            model=sample_handlers.FAKE_MODEL,
            messages=question,  # type: ignore[arg-type]
        )
        content = answer.choices[0].message.content
        p.say(f"   openai.OpenAI(...).chat.completions.create -> {content!r}")
        p.say("   streamed: ", end="")
        stream = client.chat.completions.create(
            model=sample_handlers.FAKE_MODEL,
            messages=question,  # type: ignore[arg-type]
            stream=True,
        )
        for chunk in cast("Iterable[Any]", stream):
            p.say(chunk.choices[0].delta.content or "", end="")
        p.say()
        p.say(f"   each call was a queue job: health {endpoint.health().jobs.completed} completed")
        client.close()


def _webhook_tour(p: _Printer, connect: _Connect) -> None:
    """A job submitted with ``webhook=``: the endpoint POSTs the finished job to a receiver."""
    import http.server

    from ._webhook import parse_webhook

    received: list[bytes] = []
    arrived = threading.Event()

    class Receiver(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received.append(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
            self.send_response(200)
            self.end_headers()
            arrived.set()

        def log_message(self, *args: Any) -> None:  # quiet
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/runpod-webhook"
    try:
        with p.section("webhook: the finished job POSTed to a receiver"), connect.endpoint() as ep:
            job = ep.run({"task": "echo", "for": "webhook"}, webhook=url)
            p.say(f"   run(..., webhook={url!r}) -> {job.id}")
            job.wait(timeout=30)
            if not arrived.wait(10):
                p.say("   no delivery within 10 s")
                return
            state = parse_webhook(received[0])
            echoed = state.to_dict()
            p.say(f"   received: {_describe(state)}, input echoed: {echoed.get('input')}")
            p.say(f"   parse_webhook(body) == ep.status(id): {state == ep.status(job.id)}")
    finally:
        server.shutdown()
        server.server_close()


# --- the real API -----------------------------------------------------------------------


def _rate_limit_tour(p: _Printer) -> None:
    """The same batch twice against an endpoint enforcing a ``/runsync`` limit: without
    pacing the client meets a 429 storm; pacing (the default) learns the rate from the first
    429s and then stays under it."""
    from .local import LocalEndpoint

    limit, window = 50, 0.5
    inputs = [{"n": n} for n in range(300)]
    with LocalEndpoint(
        demo_handler, workers=LOCAL_WORKERS, rate_limits={"runsync": (limit, window)}
    ) as local:
        p.say(
            f"   this endpoint allows {limit} /runsync per {window} s ({limit / window:.0f}/s; "
            "RunPod: 2000 per 10 s)"
        )
        runs = (
            ("rate_limits=None (no pacing)", None),
            ("rate_limits='learn' (default)", RateLimits.learned(time_scale=window / 10)),
        )
        for label, option in runs:
            time.sleep(window)  # a fresh window for each run
            local.clear_requests()
            with Endpoint(
                local.endpoint_id,
                base_url=local.base_url,
                api_key=local.api_key,
                rate_limits=option,
            ) as ep:
                started = time.monotonic()
                items = list(ep.map(inputs, concurrency=16))
                seconds = time.monotonic() - started
                pacing = ep.pacing().get("runsync")
            refused = sum(r.status_code == 429 for r in local.requests)
            failed = sum(not item.ok for item in items)
            paced = (
                "" if pacing is None or pacing.rate is None else f"; paced at {pacing.rate:.0f}/s"
            )
            p.say(
                f"   {label}: {len(items)} jobs in {seconds:.1f} s "
                f"({len(items) / seconds:.0f}/s), {failed} failed, {refused} answered 429{paced}"
            )


def run_remote_tour(p: _Printer, *, payload: Any, purge: bool) -> None:
    """The operations that work with any handler, against the real API."""
    with Endpoint() as endpoint:  # RUNPOD_ENDPOINT_ID / RUNPOD_API_KEY / RUNPOD_BASE_URL
        p.say(
            f"mode: API at {endpoint.base_url} (endpoint id {endpoint.endpoint_id!r}, "
            "credentials from RUNPOD_ENDPOINT_ID / RUNPOD_API_KEY)"
        )
        p.say(f"      job input: {_short(payload)}")
        with p.section("health"):
            _print_health(p, endpoint)

        with p.section("run_sync: run a job and wait for its result"):
            state = endpoint.run_sync(payload, timeout=300)
            p.say(f"   {_describe(state)}")
            p.say(f"   output: {_short(state.output)}")

        with p.section("run + wait, with on_status updates"):
            job = endpoint.run(payload)
            p.say(f"   queued job {job.id}")
            output = job.wait(timeout=300, on_status=_status_printer(p)).output
            p.say(f"   output: {_short(output)}")

        with p.section("status of a job"):
            p.say(f"   {_describe(endpoint.status(job.id))}")

        with p.section("stream (chunks only if the handler is a generator)"):
            job = endpoint.run(payload)
            count = 0
            with job.stream(timeout=300) as chunks:
                for chunk in chunks:
                    count += 1
                    p.say(f"   chunk {count}: {_short(chunk)}")
            p.say(f"   stream ended: {chunks.status}, {count} chunks")

        with p.section("cancel a job right after queueing it"):
            job = endpoint.run(payload)
            state = job.cancel()
            p.say(f"   cancel() -> job {state.id} {state.status}")

        with p.section("purge queue"):
            if purge:
                result = endpoint.purge_queue()
                p.say(f"   removed {result.removed} queued jobs ({result.status})")
            else:
                p.say("   skipped: it removes every queued job of the endpoint (use --purge)")

    asyncio.run(_remote_async_tour(p, payload))


async def _remote_async_tour(p: _Printer, payload: Any) -> None:
    with p.section("the same with AsyncEndpoint (asyncio)"):
        async with AsyncEndpoint() as endpoint:
            health = await endpoint.health()
            p.say(f"   health: {health.workers.ready} ready workers")
            jobs = await asyncio.gather(endpoint.run(payload), endpoint.run(payload))
            states = await asyncio.gather(*(job.wait(timeout=300) for job in jobs))
            for job, state in zip(jobs, states, strict=True):
                p.say(f"   {job.id}: {_short(state.output)}")


# --- entry point ------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m runpod_facade.demo",
        description="A tour of runpod-facade against a local endpoint, or the real API when "
        "RUNPOD_API_KEY and RUNPOD_ENDPOINT_ID are set.",
    )
    parser.add_argument(
        "--purge", action="store_true", help="real API only: also purge the endpoint's queue"
    )
    parser.add_argument(
        "--input",
        metavar="JSON",
        help=f"real API only: the job input (default {json.dumps(DEFAULT_REMOTE_INPUT)})",
    )
    parser.add_argument("--local", action="store_true", help="use a local endpoint regardless")
    args = parser.parse_args(argv)
    try:
        payload = DEFAULT_REMOTE_INPUT if args.input is None else json.loads(args.input)
    except json.JSONDecodeError as exc:
        parser.error(f"--input is not valid JSON: {exc}")

    remote = (
        not args.local
        and bool(os.environ.get("RUNPOD_API_KEY"))
        and bool(os.environ.get("RUNPOD_ENDPOINT_ID"))
    )
    p = _Printer()
    p.say("runpod-facade demo")
    try:
        if remote:
            run_remote_tour(p, payload=payload, purge=args.purge)
        else:
            try:
                import starlette  # noqa: F401
                import uvicorn  # noqa: F401
            except ImportError:
                sys.stderr.write(
                    "error: the local endpoint needs starlette and uvicorn: "
                    "pip install 'runpod-facade[local]'\n"
                )
                return 2
            run_local_tour(p)
    except KeyboardInterrupt:
        sys.stderr.write("\ninterrupted\n")
        return 130
    except RunpodError as exc:
        sys.stderr.write(f"error: the demo stopped: {type(exc).__name__}: {exc}\n")
        return 1
    p.say(f"\ndemo finished: {p.sections} sections in {p.elapsed():.1f} s")
    return 0


# --- load-balancing endpoints -----------------------------------------------------------


def _load_balancing_tour(p: _Printer) -> None:
    """A load-balancing endpoint: a plain Starlette app as a local pool of 2 workers with a
    1 s cold start, called with LoadBalancedEndpoint (wait_ready, affinity, a lost reply)."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    from ._loadbalancing import AffinityWorkerGoneError, LoadBalancedEndpoint
    from .local import LBFault, LocalLoadBalancer

    async def ping(request: Request) -> Response:
        return JSONResponse({"status": "healthy"})

    async def generate(request: Request) -> Response:
        body = await request.json()
        return JSONResponse({"text": f"you said {body['prompt']!r}"})

    app = Starlette(routes=[Route("/ping", ping), Route("/generate", generate, methods=["POST"])])
    with (
        p.section("load-balancing endpoint (2 local workers, 1 s cold start)"),
        LocalLoadBalancer(app, workers=2, cold_start=1.0) as lb,
        LoadBalancedEndpoint("demo-lb", base_url=lb.url, api_key=lb.api_key, timeout=30) as ep,
    ):
        started = time.monotonic()
        ready = ep.wait_ready(timeout=10)
        p.say(f"   wait_ready() -> worker {ep.worker_id(ready)} after {_took(started)}")
        reply = ep.post("/generate", json={"prompt": "hi"})
        p.say(
            f"   post('/generate') -> {reply.status_code} {reply.json()} from {ep.worker_id(reply)}"
        )
        with ep.pinned() as session:
            served = {ep.worker_id(session.post("/generate", json={"prompt": i})) for i in range(5)}
            p.say(f"   pinned session: 5 calls served by {sorted(w or '?' for w in served)}")
            lb.stop_worker(session.worker_id or "")
            try:
                session.post("/generate", json={"prompt": "again"})
            except AffinityWorkerGoneError as exc:
                p.say(f"   its worker stopped -> {type(exc).__name__} (worker {exc.worker_id})")
        lb.clear_requests()
        lb.faults.add(LBFault("drop_after", "/generate", "POST"))
        try:
            ep.post("/generate", json={"prompt": "lost"})
        except RunpodError as exc:
            sent = lb.count("POST", "/generate")
            p.say(f"   a lost POST reply -> {type(exc).__name__}; POSTs the workers saw: {sent}")


def _took(started: float) -> str:
    return f"{time.monotonic() - started:.2f} s"


if __name__ == "__main__":
    raise SystemExit(main())
