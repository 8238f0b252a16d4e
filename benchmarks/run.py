"""Side-by-side benchmarks: runpod-facade vs runpod-python 1.12.0 vs raw HTTP clients.

Everything runs in this one process against ``runpod_facade.local.LocalEndpoint`` on loopback
(the server runs in background threads of the same process), except the import-time and
memory figures, which need fresh interpreters. Every figure is reported next to a baseline
measured in the same run, as a ratio; nothing here asserts on timings.

    make bench                                  # full run, writes benchmarks/results.md
    .venv-bench/bin/python -m benchmarks.run --quick           # smaller run, stdout only
    .venv-bench/bin/python -m benchmarks.run --quick --output /tmp/r.md

runpod-python is only installed in ``.venv-bench`` (see the Makefile); without it its rows
read "n/a".
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import datetime as dt
import importlib.metadata
import importlib.util
import json
import os
import platform
import pstats
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from runpod_facade import AsyncEndpoint, Endpoint, __version__
from runpod_facade.local import LocalEndpoint

from . import handlers
from ._probe import quiet_root_logger

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUTPUT = ROOT / "benchmarks" / "results.md"
TERMINAL = frozenset({"COMPLETED", "FAILED", "CANCELLED", "TIMED_OUT"})
OVERHEAD_TARGET = 1.10


# ------------------------------------------------------------------------------ settings


@dataclass(frozen=True)
class Settings:
    quick: bool
    overhead_calls: int
    overhead_warmup: int
    latency_reps: int
    throughput_jobs: int
    throughput_warmup: int
    concurrency: int
    workers: int
    stream_reps_facade: int
    stream_reps_runpod: int
    import_reps: int
    handles: int
    profile: bool

    @classmethod
    def make(cls, quick: bool, profile: bool) -> Settings:
        if quick:
            return cls(quick, 300, 50, 3, 300, 20, 100, 16, 2, 1, 3, 10_000, profile)
        return cls(quick, 2000, 200, 10, 2000, 50, 100, 16, 5, 3, 5, 10_000, profile)


# ------------------------------------------------------------------------------ reporting


@dataclass
class Table:
    title: str
    headers: list[str]
    rows: list[list[str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def markdown(self) -> str:
        lines = [f"### {self.title}", ""]
        lines.append("| " + " | ".join(self.headers) + " |")
        lines.append(
            "|" + "|".join("---" if i == 0 else "--:" for i in range(len(self.headers))) + "|"
        )
        lines += ["| " + " | ".join(row) + " |" for row in self.rows]
        if self.notes:
            lines.append("")
            lines += [f"- {note}" for note in self.notes]
        return "\n".join(lines)


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def p90(values: Sequence[float]) -> float:
    """Nearest-rank 90th percentile."""
    ordered = sorted(values)
    rank = max(1, -(-9 * len(ordered) // 10))  # ceil(0.9 n)
    return ordered[rank - 1]


def ratio(value: float, base: float) -> str:
    return "n/a" if base <= 0 or value != value else f"{value / base:.2f}×"


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f}"


def us(nanoseconds: float) -> str:
    return f"{nanoseconds / 1000:.0f}"


NA = "n/a"


# ------------------------------------------------------------------------------ runpod-python


def import_runpod() -> Any | None:
    """``runpod`` if installed. Importing it runs ``logging.basicConfig(level=INFO)``
    (runpod/serverless/utils/rp_upload.py), which would make httpx log every request of the
    other clients too; the root logger is put back so every client runs with logging off."""
    if importlib.util.find_spec("runpod") is None:
        return None
    import runpod

    quiet_root_logger()
    return runpod


def configure_runpod(runpod: Any, local: LocalEndpoint) -> None:
    runpod.api_key = local.api_key
    runpod.endpoint_url_base = local.base_url


# ------------------------------------------------------------------------------ 1. overhead


def _interleaved(
    contenders: Sequence[tuple[str, Callable[[], object]]],
    warmup: int,
    calls: int,
    block: int = 100,
) -> dict[str, list[int]]:
    """Per-call times in ns; contenders alternate in blocks (rotating order) so drift in the
    machine or the server's state hits all of them alike."""
    for _, call in contenders:
        for _ in range(warmup):
            call()
    samples: dict[str, list[int]] = {name: [] for name, _ in contenders}
    clock = time.perf_counter_ns
    for round_index in range(max(1, calls // block)):
        shift = round_index % len(contenders)
        for name, call in [*contenders[shift:], *contenders[:shift]]:
            bucket = samples[name]
            for _ in range(block):
                started = clock()
                call()
                bucket.append(clock() - started)
    return samples


async def _interleaved_async(
    contenders: Sequence[tuple[str, Callable[[], Awaitable[object]]]],
    warmup: int,
    calls: int,
    block: int = 100,
) -> dict[str, list[int]]:
    for _, call in contenders:
        for _ in range(warmup):
            await call()
    samples: dict[str, list[int]] = {name: [] for name, _ in contenders}
    clock = time.perf_counter_ns
    for round_index in range(max(1, calls // block)):
        shift = round_index % len(contenders)
        for name, call in [*contenders[shift:], *contenders[:shift]]:
            bucket = samples[name]
            for _ in range(block):
                started = clock()
                await call()
                bucket.append(clock() - started)
    return samples


def _facade_headers(api_key: str | None) -> dict[str, str]:
    """The headers the façade sends on a GET (see runpod_facade/_config.py)."""
    headers = {"Accept": "application/json", "User-Agent": f"runpod-facade/{__version__}"}
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    return headers


_PROFILE_GROUPS = (
    ("runpod_facade (façade)", "/runpod_facade/"),
    ("runpod_generated (generated models)", "/runpod_generated/"),
    ("httpx", "/httpx/"),
    ("httpcore", "/httpcore/"),
    ("h11", "/h11/"),
)


def _profile_status(ep: Endpoint, job_id: str, calls: int) -> tuple[list[list[str]], list[str]]:
    """cProfile of the calling thread over ``calls`` façade status() calls, grouped by package."""
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(calls):
        ep.status(job_id)
    profiler.disable()
    stats = pstats.Stats(profiler)
    raw: dict[tuple[str, int, str], tuple[Any, ...]] = stats.stats  # type: ignore[attr-defined]
    total = sum(entry[2] for entry in raw.values())
    groups: dict[str, float] = {}
    top: list[tuple[float, str]] = []
    for (filename, line, function), entry in raw.items():
        tottime = entry[2]
        if filename == "~":
            group = "socket I/O and other built-ins"
        else:
            group = next((g for g, marker in _PROFILE_GROUPS if marker in filename), "stdlib/other")
        groups[group] = groups.get(group, 0.0) + tottime
        short = filename.split("site-packages/")[-1].split("/work/main/")[-1]
        top.append((tottime, f"{short}:{line}({function})"))
    rows = [
        [name, f"{seconds / calls * 1e6:.1f}", f"{seconds / total:.0%}"]
        for name, seconds in sorted(groups.items(), key=lambda kv: -kv[1])
    ]
    top_lines = [
        f"{seconds / calls * 1e6:.1f} µs/call `{where}`"
        for seconds, where in sorted(top, reverse=True)[:10]
    ]
    return rows, top_lines


def bench_overhead(cfg: Settings, runpod: Any | None) -> list[Table]:
    log("1/5 per-call overhead of status()")
    table = Table(
        f"1. Per-call overhead: `status()` of a completed job "
        f"({cfg.overhead_calls} calls each after {cfg.overhead_warmup} warm-up, interleaved)",
        ["client", "median µs", "p90 µs", "vs raw httpx"],
    )
    extra: list[Table] = []
    with (
        LocalEndpoint(handlers.echo, workers=2) as local,
        Endpoint(local.endpoint_id, api_key=local.api_key, base_url=local.base_url) as ep,
        httpx.Client() as raw,
    ):
        job = ep.run({"n": 1})
        job.wait(timeout=30)
        url = f"{local.base_url}/{local.endpoint_id}/status/{job.id}"
        headers = _facade_headers(local.api_key)
        reply = raw.get(url, headers=headers)
        assert reply.status_code == 200 and reply.json()["status"] == "COMPLETED", reply.text
        assert ep.status(job.id).output == {"n": 1}

        contenders: list[tuple[str, Callable[[], object]]] = [
            ("façade `Endpoint.status(id)`", lambda: ep.status(job.id)),
            ("raw `httpx.Client.get(url, headers=…)`", lambda: raw.get(url, headers=headers)),
            ("raw httpx get + `.json()`", lambda: raw.get(url, headers=headers).json()),
        ]
        if runpod is not None:
            from runpod.endpoint import Job as RunpodJob

            configure_runpod(runpod, local)
            rp_client = runpod.Endpoint(local.endpoint_id).rp_client
            # runpod's Job caches a terminal status, so a fresh handle per call does the GET.
            contenders.append(
                (
                    "runpod-python `Job.status()` (fresh handle)",
                    lambda: RunpodJob(local.endpoint_id, job.id, rp_client).status(),
                )
            )
        samples = _interleaved(contenders, cfg.overhead_warmup, cfg.overhead_calls)
        base = median(samples[contenders[1][0]])
        for name, _ in contenders:
            values = samples[name]
            table.rows.append(
                [name, us(median(values)), us(p90(values)), ratio(median(values), base)]
            )
        facade_ratio = median(samples[contenders[0][0]]) / base
        if runpod is None:
            table.rows.append(["runpod-python `Job.status()`", NA, NA, NA])

        # The asyncio pair.
        async def async_pair() -> dict[str, list[int]]:
            async with (
                AsyncEndpoint(
                    local.endpoint_id, api_key=local.api_key, base_url=local.base_url
                ) as aep,
                httpx.AsyncClient() as araw,
            ):
                return await _interleaved_async(
                    [
                        ("façade `AsyncEndpoint.status(id)`", lambda: aep.status(job.id)),
                        ("raw `httpx.AsyncClient.get`", lambda: araw.get(url, headers=headers)),
                    ],
                    cfg.overhead_warmup,
                    cfg.overhead_calls,
                )

        async_samples = asyncio.run(async_pair())
        async_names = list(async_samples)
        async_base = median(async_samples[async_names[1]])
        for name in async_names:
            values = async_samples[name]
            table.rows.append(
                [name, us(median(values)), us(p90(values)), ratio(median(values), async_base)]
            )
        async_ratio = median(async_samples[async_names[0]]) / async_base

        # Client-side cost alone: the same reply served from memory (httpx.MockTransport).
        body = reply.content

        def canned(_: httpx.Request) -> httpx.Response:
            return httpx.Response(200, content=body, headers={"content-type": "application/json"})

        with (
            httpx.Client(transport=httpx.MockTransport(canned)) as mock,
            Endpoint(
                local.endpoint_id, api_key=local.api_key, base_url=local.base_url, http_client=mock
            ) as mock_ep,
        ):
            memory_samples = _interleaved(
                [
                    ("façade, in-memory transport", lambda: mock_ep.status(job.id)),
                    ("raw httpx, in-memory transport", lambda: mock.get(url, headers=headers)),
                ],
                cfg.overhead_warmup,
                cfg.overhead_calls,
            )
            names = list(memory_samples)
            facade_mem = median(memory_samples[names[0]])
            raw_mem = median(memory_samples[names[1]])
            for name in names:
                values = memory_samples[name]
                table.rows.append(
                    [name, us(median(values)), us(p90(values)), ratio(median(values), raw_mem)]
                )

        verdict = "met" if facade_ratio <= OVERHEAD_TARGET else "MISSED"
        table.notes += [
            f"Target façade/raw ≤ {OVERHEAD_TARGET:.2f}× over loopback: **{verdict}** "
            f"(sync {facade_ratio:.2f}×, asyncio {async_ratio:.2f}×).",
            f"What the façade adds on the client side (in-memory transport, no network, no "
            f"server): {(facade_mem - raw_mem) / 1000:.0f} µs per call over raw httpx "
            f"({facade_mem / 1000:.0f} vs {raw_mem / 1000:.0f} µs): URL building through the "
            "generated operation, per-request `httpx.Timeout`, the effect-generator driver, "
            "and parsing into `JobState` through the generated `Job` model.",
            "The local endpoint runs in this process (uvicorn + engine threads), so its CPU time "
            "and the GIL hand-offs are inside every loopback figure; the ratio is what a caller "
            "of a fast local server sees, not the SDK cost alone (that is the in-memory row).",
        ]
        profile_rows, top_lines = _profile_status(ep, job.id, max(200, cfg.overhead_calls // 2))
        where = Table(
            "1b. Where a façade `status()` call spends its time (cProfile of the calling thread, "
            "loopback; profiler overhead inflates every figure)",
            ["package", "µs per call (self time)", "share"],
            profile_rows,
        )
        if facade_ratio > OVERHEAD_TARGET or cfg.profile:
            where.notes.append("Top functions by self time: " + "; ".join(top_lines))
        extra.append(where)
    return [table, *extra]


# ------------------------------------------------------------------------------ 2. latency


def bench_latency(cfg: Settings, runpod: Any | None) -> list[Table]:
    log(f"2/5 completion latency, {cfg.latency_reps} repetitions per client")
    ideal = handlers.SLEEP_SECONDS
    table = Table(
        f"2. Completion latency of a {ideal * 1000:.0f} ms job, submit → result in hand "
        f"({cfg.latency_reps} sequential jobs per client, interleaved)",
        ["client", "median ms", "p90 ms", "vs ideal 200 ms", "vs façade run().wait()"],
    )
    with (
        LocalEndpoint(handlers.sleep_200ms, workers=2) as local,
        Endpoint(local.endpoint_id, api_key=local.api_key, base_url=local.base_url) as ep,
        httpx.Client(timeout=httpx.Timeout(30.0, read=120.0)) as raw,
    ):
        url = f"{local.base_url}/{local.endpoint_id}"
        headers = local.headers

        def raw_run_status_sync(payload: dict[str, int]) -> Any:
            job_id = raw.post(f"{url}/run", json={"input": payload}, headers=headers).json()["id"]
            while True:
                state = raw.get(
                    f"{url}/status-sync/{job_id}", params={"wait": 90_000}, headers=headers
                ).json()
                if state["status"] in TERMINAL:
                    return state.get("output")

        contenders: list[tuple[str, Callable[[dict[str, int]], Any]]] = [
            ("façade `ep.run(x).wait()`", lambda x: ep.run(x).wait(timeout=60)),
            ("façade `ep.run_sync(x).output`", lambda x: ep.run_sync(x, timeout=60).output),
        ]
        notes: list[str] = []
        if runpod is not None:
            configure_runpod(runpod, local)
            rp = runpod.Endpoint(local.endpoint_id)
            contenders += [
                (
                    "runpod-python `run(x).output(timeout=60)`",
                    lambda x: rp.run(x).output(timeout=60),
                ),
                ("runpod-python `run_sync(x)`", lambda x: rp.run_sync(x, timeout=60)),
            ]
            # What the call the task names does with its default argument:
            early = rp.run({"n": -1}).output()
            notes.append(
                "runpod-python `run(x).output()` with its default `timeout=0` does not wait: "
                f"it returned `{early!r}` while the job was still running, so its rows pass "
                "`timeout=60`; `output()` then polls `/status` with `time.sleep(1)` between polls."
            )
        contenders.append(("raw httpx `/run` + `/status-sync` (floor)", raw_run_status_sync))

        for name, call in contenders:  # warm-up: connections, first-call imports
            assert call({"n": 0}) == {"echo": {"n": 0}}, name
        samples: dict[str, list[float]] = {name: [] for name, _ in contenders}
        for rep in range(cfg.latency_reps):
            shift = rep % len(contenders)
            for name, call in [*contenders[shift:], *contenders[:shift]]:
                payload = {"n": rep + 1}
                started = time.perf_counter()
                output = call(payload)
                samples[name].append(time.perf_counter() - started)
                assert output == {"echo": payload}, (name, output)
        facade = median(samples[contenders[0][0]])
        for name, _ in contenders:
            values = samples[name]
            table.rows.append(
                [
                    name,
                    ms(median(values)),
                    ms(p90(values)),
                    ratio(median(values), ideal),
                    ratio(median(values), facade),
                ]
            )
        if runpod is None:
            table.rows.append(["runpod-python", NA, NA, NA, NA])
        table.notes += [
            *notes,
            "The façade long-polls `/status-sync` (server holds the request until the job ends), "
            "so the result arrives as soon as the handler returns.",
        ]
    return [table]


# ------------------------------------------------------------------------------ 3. throughput


@dataclass
class ThroughputResult:
    jobs: int
    seconds: float
    requests_per_job: float


async def _drive(jobs: int, concurrency: int, one: Callable[[int], Awaitable[Any]]) -> float:
    semaphore = asyncio.Semaphore(concurrency)

    async def guarded(index: int) -> None:
        async with semaphore:
            output = await one(index)
        if output != {"n": index}:
            raise AssertionError(f"job {index}: unexpected output {output!r}")

    started = time.perf_counter()
    await asyncio.gather(*(guarded(index) for index in range(jobs)))
    return time.perf_counter() - started


def _throughput(
    cfg: Settings,
    make_client: Callable[[LocalEndpoint], contextlib.AbstractAsyncContextManager[Any]],
    one: Callable[[Any, int], Awaitable[Any]],
) -> ThroughputResult:
    with LocalEndpoint(handlers.echo, workers=cfg.workers) as local:

        async def main() -> ThroughputResult:
            async with make_client(local) as client:
                await _drive(cfg.throughput_warmup, cfg.concurrency, lambda i: one(client, i))
                local.clear_requests()
                seconds = await _drive(
                    cfg.throughput_jobs, cfg.concurrency, lambda i: one(client, i)
                )
            requests = len(local.requests)
            return ThroughputResult(cfg.throughput_jobs, seconds, requests / cfg.throughput_jobs)

        return asyncio.run(main())


def _sniffio_cost() -> tuple[bool, float]:
    """Whether sniffio is importable, and the cost of httpcore's per-lock backend check."""
    from httpcore._synchronization import current_async_library

    installed = importlib.util.find_spec("sniffio") is not None

    async def measure() -> float:
        calls = 2000
        started = time.perf_counter_ns()
        for _ in range(calls):
            current_async_library()
        return (time.perf_counter_ns() - started) / calls

    return installed, asyncio.run(measure())


def bench_throughput(cfg: Settings, runpod: Any | None) -> list[Table]:
    log(
        f"3/5 throughput: {cfg.throughput_jobs} jobs, concurrency {cfg.concurrency}, "
        f"{cfg.workers} workers"
    )
    table = Table(
        f"3. Throughput: {cfg.throughput_jobs} no-op jobs submitted and awaited, "
        f"concurrency {cfg.concurrency} (asyncio.Semaphore), local endpoint with "
        f"{cfg.workers} workers",
        ["client", "jobs/s", "wall s", "HTTP requests/job", "vs façade"],
    )
    results: dict[str, ThroughputResult | None] = {}

    # façade
    @contextlib.asynccontextmanager
    async def facade_client(local: LocalEndpoint) -> Any:
        async with AsyncEndpoint(
            local.endpoint_id, api_key=local.api_key, base_url=local.base_url
        ) as ep:
            yield ep

    async def facade_one(ep: AsyncEndpoint, index: int) -> Any:
        job = await ep.run({"n": index})
        return await job.wait(timeout=120)

    # runpod-python asyncio (aiohttp comes with runpod-python, in .venv-bench only)
    has_aiohttp = importlib.util.find_spec("aiohttp") is not None
    aiohttp: Any = importlib.import_module("aiohttp") if has_aiohttp else None

    @contextlib.asynccontextmanager
    async def runpod_client(local: LocalEndpoint) -> Any:
        assert runpod is not None
        configure_runpod(runpod, local)
        async with aiohttp.ClientSession() as session:
            yield runpod.AsyncioEndpoint(local.endpoint_id, session)

    async def runpod_one(ep: Any, index: int) -> Any:
        job = await ep.run({"n": index})
        # output()'s default timeout=0 raises TimeoutError at once for an unfinished job.
        return await job.output(timeout=120)

    # raw clients: /run, then /status-sync until terminal
    @contextlib.asynccontextmanager
    async def httpx_client(local: LocalEndpoint) -> Any:
        async with httpx.AsyncClient(timeout=httpx.Timeout(30.0, read=120.0)) as client:
            yield client, local

    async def httpx_one(pair: Any, index: int) -> Any:
        client, local = pair
        url, headers = local.url, local.headers
        reply = await client.post(f"{url}/run", json={"input": {"n": index}}, headers=headers)
        job_id = reply.json()["id"]
        while True:
            reply = await client.get(
                f"{url}/status-sync/{job_id}", params={"wait": 90_000}, headers=headers
            )
            state = reply.json()
            if state["status"] in TERMINAL:
                return state.get("output")

    @contextlib.asynccontextmanager
    async def aiohttp_client(local: LocalEndpoint) -> Any:
        async with aiohttp.ClientSession() as session:
            yield session, local

    async def aiohttp_one(pair: Any, index: int) -> Any:
        session, local = pair
        url, headers = local.url, local.headers
        async with session.post(
            f"{url}/run", json={"input": {"n": index}}, headers=headers
        ) as reply:
            job_id = (await reply.json())["id"]
        while True:
            async with session.get(
                f"{url}/status-sync/{job_id}", params={"wait": "90000"}, headers=headers
            ) as reply:
                state = await reply.json()
            if state["status"] in TERMINAL:
                return state.get("output")

    plan: list[tuple[str, Any, Any, bool]] = [
        ("façade `AsyncEndpoint` run + `wait()` (defaults)", facade_client, facade_one, True),
        (
            "runpod-python `AsyncioEndpoint` run + `output(timeout=120)` (aiohttp)",
            runpod_client,
            runpod_one,
            runpod is not None and has_aiohttp,
        ),
        ("raw `httpx.AsyncClient` /run + /status-sync", httpx_client, httpx_one, True),
        (
            "raw `aiohttp` /run + /status-sync (transport reference)",
            aiohttp_client,
            aiohttp_one,
            has_aiohttp,
        ),
    ]
    for name, make, one, available in plan:
        if not available:
            results[name] = None
            continue
        log(f"    {name}")
        results[name] = _throughput(cfg, make, one)
    facade = results[plan[0][0]]
    assert facade is not None
    facade_rate = facade.jobs / facade.seconds
    for name, *_ in plan:
        result = results[name]
        if result is None:
            table.rows.append([name, NA, NA, NA, NA])
            continue
        rate = result.jobs / result.seconds
        table.rows.append(
            [
                name,
                f"{rate:.0f}",
                f"{result.seconds:.2f}",
                f"{result.requests_per_job:.2f}",
                ratio(rate, facade_rate),
            ]
        )
    installed, cost_ns = _sniffio_cost()
    sniffio_state = (
        "installed"
        if installed
        else "NOT installed: every call retries a failing `import sniffio`, a sys.path scan"
    )
    table.notes += [
        "runpod-python's async `Job.output()` defaults to `timeout=0`, which raises "
        "`TimeoutError` at once for an unfinished job; the workaround is `output(timeout=120)`. "
        "It then polls `/status` with `asyncio.sleep(1)` between polls, and re-fetches the "
        "status once more after completion. With a no-op handler the job is usually done "
        "before the first poll, so it rarely sleeps here; any job that takes longer than the "
        "submit round-trip pays up to 1 s per poll.",
        "Both httpx rows share two httpx/httpcore 1.0.9 costs that aiohttp does not have: the "
        "async pool re-scans every connection (`is_idle`/`has_expired` → a `poll()` syscall per "
        "connection) on each request event (`httpcore/_async/connection_pool.py`, "
        "`_assign_requests_to_connections`), which grows with concurrency; and "
        f"`httpcore._synchronization.current_async_library()` costs {cost_ns / 1000:.0f} µs per "
        f"call here (sniffio {sniffio_state}), "
        "and it runs for every async lock/semaphore/event httpcore sets up.",
        "Every client, the local endpoint and its workers share this process and its GIL, so "
        "absolute jobs/s are far below what a remote endpoint would allow; compare the ratios.",
    ]
    return [table]


# ------------------------------------------------------------------------------ 4. streaming


def _stream_once(make_iterator: Callable[[], Iterator[Any]]) -> tuple[float, float, list[Any]]:
    started = time.perf_counter()
    first = float("nan")
    chunks: list[Any] = []
    for chunk in make_iterator():
        if not chunks:
            first = time.perf_counter() - started
        chunks.append(chunk)
    return first, time.perf_counter() - started, chunks


def bench_streaming(cfg: Settings, runpod: Any | None) -> list[Table]:
    log("4/5 streaming")
    count, gap = handlers.STREAM_CHUNKS, handlers.STREAM_GAP_SECONDS
    ideal_total = (count - 1) * gap
    table = Table(
        f"4. Streaming: a generator handler yielding {count} chunks {gap * 1000:.0f} ms apart "
        f"(ideal: first chunk at once, last after ≈{ideal_total * 1000:.0f} ms)",
        [
            "client",
            "runs",
            "first chunk ms (median)",
            "total ms (median)",
            "chunks received",
            "/stream calls per run",
            "total vs façade",
        ],
    )
    expected = [{"i": index} for index in range(count)]
    with (
        LocalEndpoint(handlers.stream_chunks, workers=2) as local,
        Endpoint(local.endpoint_id, api_key=local.api_key, base_url=local.base_url) as ep,
    ):
        contenders: list[tuple[str, Callable[[], Iterator[Any]], int]] = [
            (
                "façade `job.stream()`",
                lambda: iter(ep.run({"s": 1}).stream(timeout=60)),
                cfg.stream_reps_facade,
            ),
        ]
        if runpod is not None:
            configure_runpod(runpod, local)
            rp = runpod.Endpoint(local.endpoint_id)
            contenders.append(
                (
                    "runpod-python `job.stream()`",
                    lambda: rp.run({"s": 1}).stream(),
                    cfg.stream_reps_runpod,
                )
            )
        facade_total = float("nan")
        for name, make, reps in contenders:
            firsts: list[float] = []
            totals: list[float] = []
            received: set[int] = set()
            local.clear_requests()
            for _ in range(reps):
                first, total, chunks = _stream_once(make)
                firsts.append(first)
                totals.append(total)
                received.add(len(chunks))
                assert chunks == expected, (name, len(chunks))
            stream_calls = sum(1 for r in local.requests if r.operation == "stream") / reps
            if facade_total != facade_total:
                facade_total = median(totals)
            table.rows.append(
                [
                    name,
                    str(reps),
                    ms(median(firsts)),
                    ms(median(totals)),
                    "/".join(str(n) for n in sorted(received)),
                    f"{stream_calls:.0f}",
                    ratio(median(totals), facade_total),
                ]
            )
        if runpod is None:
            table.rows.append(["runpod-python `job.stream()`", "0", NA, NA, NA, NA, NA])
        table.notes += [
            "The façade long-polls `/stream?wait=` and yields each batch as soon as the server "
            "has one; runpod-python sleeps 1 s before every `/stream` GET, so its first chunk "
            "comes after ≥ 1 s and chunks arrive in 1 s batches.",
            "runpod-python's `stream()` ends only on COMPLETED/FAILED/TIMED_OUT (its FINAL_STATES "
            "lacks CANCELLED), so it would poll a cancelled job forever; not exercised here.",
        ]
    return [table]


# ------------------------------------------------------------------------------ 5. import + memory


def _python(code: str) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT, env=_child_env())
    return time.perf_counter() - started


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PYTHONPROFILEIMPORTTIME", None)
    env["PYTHONDONTWRITEBYTECODE"] = "1"  # never write .pyc from a timed child
    return env


def _import_seconds(module: str) -> float:
    code = (
        "import time; t = time.perf_counter(); import " + module + "; "
        "print(time.perf_counter() - t)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        check=True,
        cwd=ROOT,
        env=_child_env(),
        capture_output=True,
        text=True,
    )
    return float(out.stdout.strip().splitlines()[-1])


def _importtime(module: str) -> tuple[float, dict[str, float]]:
    """``python -X importtime -c "import MODULE"``: the module's cumulative seconds, and the
    self time summed per top-level package (non-overlapping)."""
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", f"import {module}"],
        check=True,
        cwd=ROOT,
        env=_child_env(),
        capture_output=True,
        text=True,
    )
    total = 0.0
    by_package: dict[str, float] = {}
    for line in out.stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        own, cumulative, name = line.split(":", 1)[1].split("|")
        name = name.strip()
        if name == module:
            total = int(cumulative) / 1e6
        package = name.split(".")[0]
        by_package[package] = by_package.get(package, 0.0) + int(own) / 1e6
    return total, by_package


def bench_import_memory(cfg: Settings, runpod_available: bool) -> list[Table]:
    log(f"5/5 cold import (x{cfg.import_reps}) and memory of {cfg.handles} handles")
    modules = [("runpod_facade", True), ("runpod", runpod_available), ("httpx", True)]
    imports = Table(
        f"5a. Cold import in a fresh interpreter (median of {cfg.import_reps}; .pyc and OS "
        "caches warm)",
        [
            "module",
            "import ms (in-process timer)",
            "wall ms minus bare interpreter",
            "vs runpod_facade",
        ],
    )
    for module, available in modules:  # warm-up: compile .pyc once, fill the page cache
        if available:
            subprocess.run([sys.executable, "-c", f"import {module}"], check=True, cwd=ROOT)
    timed: dict[str, list[float]] = {m: [] for m, ok in modules if ok}
    wall: dict[str, list[float]] = {m: [] for m, ok in modules if ok}
    bare: list[float] = []
    for _ in range(cfg.import_reps):
        bare.append(_python("pass"))
        for module in timed:
            timed[module].append(_import_seconds(module))
            wall[module].append(_python(f"import {module}"))
    bare_median = median(bare)
    base = median(timed["runpod_facade"])
    for module, available in modules:
        if not available:
            imports.rows.append([module, NA, NA, NA])
            continue
        imports.rows.append(
            [
                f"`{module}`" + (" (façade's only HTTP dependency)" if module == "httpx" else ""),
                ms(median(timed[module])),
                ms(median(wall[module]) - bare_median),
                ratio(median(timed[module]), base),
            ]
        )
    imports.notes.append(f"Bare interpreter start-up: {ms(bare_median)} ms (subtracted).")
    total, by_package = _importtime("runpod_facade")
    groups = {
        "httpx + httpcore + h11 + anyio": ("httpx", "httpcore", "h11", "anyio"),
        "rich + click + pygments (httpx's CLI, imported by `httpx/__init__` whenever rich and "
        "click are installed: runpod-python and the dev extras install them)": (
            "rich",
            "click",
            "pygments",
            "markdown_it",
            "mdurl",
        ),
        "runpod_generated + attrs": ("runpod_generated", "attr", "attrs"),
        "runpod_facade itself": ("runpod_facade",),
        "asyncio": ("asyncio",),
    }
    found = [
        f"{label} {ms(sum(by_package.get(name, 0.0) for name in names))} ms"
        for label, names in groups.items()
    ]
    imports.notes.append(
        f"Where `import runpod_facade` spends its {ms(total)} ms (`-X importtime`, self time "
        "summed per package; the rest is stdlib): " + "; ".join(found) + "."
    )

    memory = Table(
        f"5b. Memory of a process holding {cfg.handles:,} job handles (fresh interpreter each)",
        [
            "handles",
            "peak RSS MiB",
            "RSS added by handles KiB",
            "tracemalloc bytes/handle",
            "peak RSS vs façade",
        ],
    )
    kinds = [
        ("facade", "façade `Endpoint.job(id)`", True),
        ("facade-state", "façade `Job` with last state (as `run()` returns it)", True),
        ("runpod", "runpod-python `runpod.endpoint.Job`", runpod_available),
    ]
    measured: dict[str, dict[str, Any]] = {}
    for kind, _, available in kinds:
        if available:
            out = subprocess.run(
                [sys.executable, "-m", "benchmarks._probe", "memory", kind, str(cfg.handles)],
                check=True,
                cwd=ROOT,
                env=_child_env(),
                capture_output=True,
                text=True,
            )
            measured[kind] = json.loads(out.stdout.strip().splitlines()[-1])
    base_rss = measured["facade"]["peak_rss_kib"]
    for kind, label, available in kinds:
        if not available:
            memory.rows.append([label, NA, NA, NA, NA])
            continue
        data = measured[kind]
        memory.rows.append(
            [
                label,
                f"{data['peak_rss_kib'] / 1024:.1f}",
                str(data["handles_rss_kib"]),
                f"{data['handles_traced_bytes'] / cfg.handles:.0f}",
                ratio(data["peak_rss_kib"], base_rss),
            ]
        )
    memory.notes.append(
        "Peak RSS includes the interpreter, the imported library and one endpoint client; "
        "ids are built before measuring, so per-handle bytes exclude the id strings."
    )
    return [imports, memory]


# ------------------------------------------------------------------------------ machine


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _memory_total() -> str:
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    return "unknown"


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def _git_revision() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
        return out + (" (with uncommitted changes)" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def machine_section(started: dt.datetime, quick: bool) -> str:
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    cores = f"{os.cpu_count()} logical" + (f" ({affinity} usable)" if affinity else "")
    libs = ", ".join(
        f"{name} {_version(name)}"
        for name in (
            "runpod-facade",
            "runpod",
            "httpx",
            "httpcore",
            "aiohttp",
            "requests",
            "uvicorn",
            "starlette",
            "anyio",
            "sniffio",
        )
    )
    return "\n".join(
        [
            f"- Date: {started.strftime('%Y-%m-%d %H:%M UTC')}"
            + (" — **quick run** (`--quick`: fewer iterations)" if quick else ""),
            f"- Machine: {cores} cores, {_cpu_model()}, {_memory_total()} RAM, "
            f"{platform.system()} {platform.release()}",
            f"- Python: {platform.python_implementation()} {platform.python_version()}",
            f"- Revision: {_git_revision()}",
            f"- Libraries: {libs}",
        ]
    )


# ------------------------------------------------------------------------------ main


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.run", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--quick", action="store_true", help="fewer iterations (about a minute)")
    parser.add_argument(
        "--output",
        type=Path,
        default=None,
        help=f"Markdown file to write (default: {DEFAULT_OUTPUT.relative_to(ROOT)} for a full "
        "run; a --quick run writes no file unless given one)",
    )
    parser.add_argument("--profile", action="store_true", help="list the top functions of 1b")
    args = parser.parse_args(argv)
    cfg = Settings.make(args.quick, args.profile)
    output: Path | None = args.output or (None if args.quick else DEFAULT_OUTPUT)

    started = dt.datetime.now(dt.UTC)
    clock = time.perf_counter()
    runpod = import_runpod()
    if runpod is None:
        log("runpod-python is not installed: its rows will read n/a (use `make bench`)")

    tables: list[Table] = []
    tables += bench_overhead(cfg, runpod)
    tables += bench_latency(cfg, runpod)
    tables += bench_throughput(cfg, runpod)
    tables += bench_streaming(cfg, runpod)
    tables += bench_import_memory(cfg, runpod is not None)
    elapsed = time.perf_counter() - clock

    document = "\n\n".join(
        [
            "# runpod-facade benchmarks",
            "Produced by `make bench` (`python -m benchmarks.run`). Every figure is compared "
            "with a baseline measured in the same run; the local endpoint "
            "(`runpod_facade.local.LocalEndpoint`) serves every request over loopback from "
            "background threads of the benchmarking process.",
            "## Machine\n\n" + machine_section(started, cfg.quick),
            "## Results",
            *(table.markdown() for table in tables),
            f"_Whole run: {elapsed:.0f} s._",
        ]
    )
    print(document)
    if output is not None:
        output.write_text(document + "\n", encoding="utf-8")
        log(f"wrote {output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
