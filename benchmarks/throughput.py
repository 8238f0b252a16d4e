"""Throughput: 2,000 jobs at concurrency 100 through each async client, each client in a
process of its own, against :mod:`benchmarks.fastserver` in another.

Two workloads: no-op jobs (complete at submit) and 200 ms jobs. Every round runs every client
once per workload, the order rotated each round; the table reports the median and the minimum
over rounds, and each client's ratio to runpod-python *in the same round* (median over
rounds). Per client run: jobs/s, the requests the server counted per job (by route), the TCP
connections the server accepted, and the client's CPU time (``getrusage(RUSAGE_SELF)``,
user + sys, over the timed part only) per job.

The parent runs ``python -m benchmarks.throughput --client NAME --workload W ...`` for each
cell; that child prints one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import resource
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from ._common import (
    API_KEY,
    ENDPOINT_ID,
    NA,
    TERMINAL,
    Context,
    Table,
    log,
    median,
    minimum,
    rotated,
    run_child,
)
from ._servers import FastServer, fetch_stats

NAME = "throughput"

#: The workloads: the input each job gets (the server echoes it; ``sleep`` is its duration).
WORKLOADS: dict[str, dict[str, Any]] = {"noop": {}, "200ms": {"sleep": 0.2}}
WORKLOAD_TITLES = {"noop": "no-op jobs", "200ms": "200 ms jobs"}


@dataclass(frozen=True)
class Client:
    key: str
    label: str
    short: str  # for the chart
    needs_runpod: bool = False


CLIENTS = (
    Client(
        "facade-httpx",
        "façade `AsyncEndpoint` (httpx, default) `run()` + `wait()`",
        "façade httpx: run + wait",
    ),
    Client(
        "facade-httpx-many",
        "façade `AsyncEndpoint` (httpx, default) `run_many()`",
        "façade httpx: run_many",
    ),
    Client(
        "facade-aiohttp",
        'façade `AsyncEndpoint(http_backend="aiohttp")` `run()` + `wait()`',
        "façade aiohttp: run + wait",
    ),
    Client(
        "facade-aiohttp-many",
        'façade `AsyncEndpoint(http_backend="aiohttp")` `run_many()`',
        "façade aiohttp: run_many",
    ),
    Client(
        "httpx",
        "raw `httpx.AsyncClient` `/run` + `/status-sync` (httpx's default pool)",
        "raw httpx",
    ),
    Client("aiohttp", "raw `aiohttp.ClientSession` `/run` + `/status-sync`", "raw aiohttp"),
    Client(
        "aiohttp-runsync",
        "raw `aiohttp.ClientSession` `/runsync` (+ `/status-sync` while unfinished)",
        "raw aiohttp: runsync",
    ),
    Client(
        "runpod",
        "runpod-python 1.12 `AsyncioEndpoint.run()` + `AsyncioJob.output()` (aiohttp)",
        "runpod-python 1.12",
        needs_runpod=True,
    ),
)
PEER = "runpod"
#: Clients a benchmark may name besides CLIENTS (not part of the throughput rounds).
EXTRA_CLIENTS = ("httpx-keepalive", "aiohttp-read-timeouts")

# Targets of issue #11: (client, workload) -> minimum ratio to runpod-python jobs/s.
#: Issue #11's floors, checked for both façade paths: ``run()`` + ``wait()`` (two requests per
#: job, as runpod-python and the raw clients) and ``run_many()`` (one request per job).
RATIO_TARGETS = {
    ("facade-aiohttp", "noop"): 1.5,
    ("facade-aiohttp-many", "noop"): 1.5,
    ("facade-httpx", "noop"): 0.3,
    ("facade-httpx-many", "noop"): 0.3,
    ("facade-aiohttp", "200ms"): 4.5,
    ("facade-aiohttp-many", "200ms"): 4.5,
    ("facade-httpx", "200ms"): 3.5,
    ("facade-httpx-many", "200ms"): 3.5,
}
#: Issue #17's floors: the façade's aiohttp path against raw aiohttp doing the same requests
#: (``run()`` + ``wait()`` against ``/run`` + ``/status-sync``, ``run_many()`` against
#: ``/runsync``), no-op jobs, as the median over rounds of the ratio within each round.
RAW_RATIO_TARGETS = {
    ("facade-aiohttp", "aiohttp"): 0.9,
    ("facade-aiohttp-many", "aiohttp-runsync"): 0.9,
}
CONNECTIONS_TARGET_FACTOR = 2  # connections opened per run <= 2 x concurrency


@dataclass(frozen=True)
class Settings:
    jobs: int  # 200 ms jobs per run
    noop_jobs: int  # no-op jobs per run: more, so that a run lasts seconds, not a fraction
    concurrency: int
    rounds: int
    warmup_jobs: int  # the untimed pass of every client before the rounds (0: none)

    @classmethod
    def make(cls, quick: bool) -> Settings:
        return cls(400, 400, 100, 1, 0) if quick else cls(2000, 6000, 100, 3, 400)

    def jobs_for(self, workload: str) -> int:
        return self.noop_jobs if workload == "noop" else self.jobs


# ============================================================================== child side
# Each factory is an async context manager yielding ``batch(inputs) -> outputs``.

Batch = Callable[[list[Any]], Awaitable[list[Any]]]


class Unavailable(Exception):
    """This client cannot be built here (e.g. a façade option this build does not have)."""


def _per_job(one: Callable[[Any], Awaitable[Any]], concurrency: int) -> Batch:
    """Run ``one`` for each input, at most ``concurrency`` at once (an asyncio.Semaphore)."""

    async def batch(inputs: list[Any]) -> list[Any]:
        gate = asyncio.Semaphore(concurrency)

        async def guarded(item: Any) -> Any:
            async with gate:
                return await one(item)

        return list(await asyncio.gather(*(guarded(item) for item in inputs)))

    return batch


@contextlib.asynccontextmanager
async def _facade(base_url: str, concurrency: int, backend: str | None, many: bool) -> Any:
    from runpod_facade import AsyncEndpoint

    options: dict[str, Any] = {} if backend is None else {"http_backend": backend}
    try:
        endpoint = AsyncEndpoint(ENDPOINT_ID, api_key=API_KEY, base_url=base_url, **options)
    except TypeError as exc:  # the option does not exist in this build
        raise Unavailable(f"not available in this build ({exc})") from None
    except Exception as exc:  # e.g. the option exists but its extra is not installed
        raise Unavailable(f"{type(exc).__name__}: {exc}") from None
    async with endpoint:
        if many:

            async def batch(inputs: list[Any]) -> list[Any]:
                states = await endpoint.run_many(inputs, concurrency=concurrency, timeout=600)
                return [state.output for state in states]

            yield batch
        else:

            async def one(item: Any) -> Any:
                job = await endpoint.run(item)
                return (await job.wait(timeout=600)).output

            yield _per_job(one, concurrency)


@contextlib.asynccontextmanager
async def _raw_httpx(base_url: str, concurrency: int, keepalive: int | None = None) -> Any:
    """httpx's defaults (100 connections, 20 kept alive), or ``keepalive`` kept alive."""
    import httpx

    url = f"{base_url}/{ENDPOINT_ID}"
    headers = {"Authorization": f"Bearer {API_KEY}"}
    options: dict[str, Any] = {}
    if keepalive is not None:
        options["limits"] = httpx.Limits(
            max_connections=max(concurrency, keepalive), max_keepalive_connections=keepalive
        )
    timeout = httpx.Timeout(30.0, read=120.0)
    async with httpx.AsyncClient(timeout=timeout, **options) as client:

        async def one(item: Any) -> Any:
            reply = await client.post(f"{url}/run", json={"input": item}, headers=headers)
            job_id = reply.json()["id"]
            while True:
                reply = await client.get(
                    f"{url}/status-sync/{job_id}", params={"wait": 90_000}, headers=headers
                )
                state = reply.json()
                if state["status"] in TERMINAL:
                    return state.get("output")

        yield _per_job(one, concurrency)


@contextlib.asynccontextmanager
async def _raw_aiohttp(base_url: str, concurrency: int, read_timeouts: bool = False) -> Any:
    """aiohttp's defaults (one 5-minute ``total`` per request), or with ``read_timeouts`` the
    façade's default timeouts as the façade gives them to aiohttp: no ``total``, a 5 s
    connect and a ``sock_read`` (the longest wait for the next bytes) of 30 s on ``/run``
    and of the hold plus 10 s on the long-poll. aiohttp re-arms ``sock_read`` on every chunk
    it receives: one timer more per request than ``total``."""
    import aiohttp

    url = f"{base_url}/{ENDPOINT_ID}"
    headers = {"Authorization": f"Bearer {API_KEY}"}
    submit: dict[str, Any] = {}  # aiohttp's default timeout unless given
    poll: dict[str, Any] = {}
    if read_timeouts:
        for options, read in ((submit, 30.0), (poll, 100.0)):
            options["timeout"] = aiohttp.ClientTimeout(
                total=None, connect=5.0, sock_connect=5.0, sock_read=read
            )
    async with aiohttp.ClientSession() as session:

        async def one(item: Any) -> Any:
            async with session.post(
                f"{url}/run", json={"input": item}, headers=headers, **submit
            ) as reply:
                job_id = (await reply.json())["id"]
            while True:
                async with session.get(
                    f"{url}/status-sync/{job_id}",
                    params={"wait": "90000"},
                    headers=headers,
                    **poll,
                ) as reply:
                    state = await reply.json()
                if state["status"] in TERMINAL:
                    return state.get("output")

        yield _per_job(one, concurrency)


@contextlib.asynccontextmanager
async def _raw_aiohttp_runsync(base_url: str, concurrency: int) -> Any:
    """One ``/runsync`` per job, held by the server until the job ends (what ``run_many``
    sends); a job still unfinished when the hold ends is long-polled on ``/status-sync``."""
    import aiohttp

    url = f"{base_url}/{ENDPOINT_ID}"
    headers = {"Authorization": f"Bearer {API_KEY}"}
    async with aiohttp.ClientSession() as session:

        async def one(item: Any) -> Any:
            async with session.post(
                f"{url}/runsync", json={"input": item}, params={"wait": "90000"}, headers=headers
            ) as reply:
                state = await reply.json()
            while state["status"] not in TERMINAL:
                async with session.get(
                    f"{url}/status-sync/{state['id']}", params={"wait": "90000"}, headers=headers
                ) as reply:
                    state = await reply.json()
            return state.get("output")

        yield _per_job(one, concurrency)


@contextlib.asynccontextmanager
async def _runpod(base_url: str, concurrency: int) -> Any:
    import aiohttp

    from ._common import import_runpod

    try:
        runpod = import_runpod()
    except ImportError as exc:
        raise Unavailable(f"runpod-python is not installed ({exc})") from None
    runpod.api_key = API_KEY
    runpod.endpoint_url_base = base_url
    # The documented use: the caller's own aiohttp session, runpod.AsyncioEndpoint on top.
    async with aiohttp.ClientSession() as session:
        endpoint = runpod.AsyncioEndpoint(ENDPOINT_ID, session)

        async def one(item: Any) -> Any:
            job = await endpoint.run(item)
            # output()'s default timeout=0 raises TimeoutError at once for an unfinished job.
            return await job.output(timeout=600)

        yield _per_job(one, concurrency)


def _factory(
    key: str, base_url: str, concurrency: int
) -> contextlib.AbstractAsyncContextManager[Batch]:
    factories: dict[str, Callable[[], contextlib.AbstractAsyncContextManager[Batch]]] = {
        "facade-httpx": lambda: _facade(base_url, concurrency, None, many=False),
        "facade-httpx-many": lambda: _facade(base_url, concurrency, None, many=True),
        "facade-aiohttp": lambda: _facade(base_url, concurrency, "aiohttp", many=False),
        "facade-aiohttp-many": lambda: _facade(base_url, concurrency, "aiohttp", many=True),
        "httpx": lambda: _raw_httpx(base_url, concurrency),
        "httpx-keepalive": lambda: _raw_httpx(base_url, concurrency, keepalive=concurrency),
        "aiohttp": lambda: _raw_aiohttp(base_url, concurrency),
        "aiohttp-read-timeouts": lambda: _raw_aiohttp(base_url, concurrency, read_timeouts=True),
        "aiohttp-runsync": lambda: _raw_aiohttp_runsync(base_url, concurrency),
        "runpod": lambda: _runpod(base_url, concurrency),
    }
    return factories[key]()


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _delta(after: dict[str, Any], before: dict[str, Any]) -> dict[str, Any]:
    routes = {
        name: count - before["routes"].get(name, 0)
        for name, count in after["routes"].items()
        if count - before["routes"].get(name, 0)
    }
    return {
        "requests": after["requests"] - before["requests"],
        "routes": routes,
        "connections_opened": after["connections_opened"] - before["connections_opened"],
        "peak_open_connections": after["peak_open_connections"],
        "peak_held": after["peak_held"],
        "cpu_s": after["cpu_s"] - before["cpu_s"],
    }


async def measure(
    key: str, workload: str, jobs: int, concurrency: int, port: int
) -> dict[str, Any]:
    """One client, one workload: warm up with one no-op job, then time ``jobs`` jobs."""
    base_url = f"http://127.0.0.1:{port}/v2"
    stats_url = f"http://127.0.0.1:{port}/_stats"
    template = WORKLOADS[workload]
    inputs = [{"n": index, **template} for index in range(jobs)]
    try:
        async with _factory(key, base_url, concurrency) as batch:
            await batch([{"n": -1}])  # first-call imports and one connection, untimed
            before = fetch_stats(stats_url)
            cpu_before = _cpu_seconds()
            started = time.perf_counter()
            outputs = await batch(inputs)
            seconds = time.perf_counter() - started
            cpu = _cpu_seconds() - cpu_before
            after = fetch_stats(stats_url)
    except Unavailable as exc:
        return {"client": key, "available": False, "reason": str(exc)}
    errors = sum(1 for item, output in zip(inputs, outputs, strict=True) if output != item)
    return {
        "client": key,
        "available": True,
        "workload": workload,
        "jobs": jobs,
        "seconds": seconds,
        "cpu_s": cpu,
        "errors": errors,
        "server": _delta(after, before),
    }


def child(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="one throughput cell (a child process)")
    parser.add_argument(
        "--client", required=True, choices=[*(c.key for c in CLIENTS), *EXTRA_CLIENTS]
    )
    parser.add_argument("--workload", required=True, choices=list(WORKLOADS))
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    result = asyncio.run(
        measure(args.client, args.workload, args.jobs, args.concurrency, args.port)
    )
    print(json.dumps(result))


# ============================================================================== parent side


@dataclass
class Cell:
    """One client's runs of one workload, a result per round."""

    rates: list[float]
    cpu_ms_per_job: list[float]
    requests_per_job: list[float]
    connections: list[int]
    routes: dict[str, int]
    peak_held: int
    server_load: list[tuple[float, float]]  # (requests/s, server CPU s per wall s) per run


def _new_cell() -> Cell:
    return Cell([], [], [], [], {}, 0, [])


def _record(cell: Cell, result: dict[str, Any]) -> None:
    if result["errors"]:
        raise AssertionError(f"{result['client']}: {result['errors']} jobs returned wrong outputs")
    jobs, server = result["jobs"], result["server"]
    cell.rates.append(jobs / result["seconds"])
    cell.cpu_ms_per_job.append(result["cpu_s"] * 1000 / jobs)
    cell.requests_per_job.append(server["requests"] / jobs)
    cell.connections.append(server["connections_opened"])
    for route, count in server["routes"].items():
        cell.routes[route] = cell.routes.get(route, 0) + count
    cell.peak_held = max(cell.peak_held, server["peak_held"])
    if server["requests"] and server["cpu_s"] > 0:
        cell.server_load.append(
            (server["requests"] / result["seconds"], server["cpu_s"] / result["seconds"])
        )


def _routes_text(cell: Cell, jobs_total: int) -> str:
    order = ("run", "runsync", "status", "status-sync", "stream", "cancel", "health", "other")
    parts = [
        f"{name} {cell.routes[name] / jobs_total:.2f}" for name in order if cell.routes.get(name)
    ]
    return ", ".join(parts)


def run(ctx: Context) -> list[Table]:
    cfg = Settings.make(ctx.quick)
    clients = [c for c in CLIENTS if ctx.runpod or not c.needs_runpod]
    unavailable: dict[str, str] = {
        c.key: "runpod-python is not installed" for c in CLIENTS if c not in clients
    }
    cells: dict[tuple[str, str], Cell] = {}
    # Per-round ratio to the peer, so machine drift between rounds cancels out.
    round_rates: dict[tuple[str, str], list[float]] = {}
    log(
        f"{NAME}: {cfg.noop_jobs} no-op / {cfg.jobs} 200 ms jobs, concurrency "
        f"{cfg.concurrency}, {cfg.rounds} round(s), {len(clients)} clients x "
        f"{len(WORKLOADS)} workloads"
    )
    with FastServer() as server:
        if cfg.warmup_jobs:
            # One untimed pass of every client first, so that the first round's first client
            # does not meet a cold server and machine alone (round 1 used to read low).
            log(f"    warm-up: {cfg.warmup_jobs} no-op jobs per client, not counted")
            for client in clients:
                server.reset()
                run_child(
                    "benchmarks.throughput",
                    [
                        *("--client", client.key, "--workload", "noop"),
                        *("--jobs", str(cfg.warmup_jobs), "--concurrency", str(cfg.concurrency)),
                        *("--port", str(server.port)),
                    ],
                )
        for round_index in range(cfg.rounds):
            for workload in WORKLOADS:
                for client in rotated(clients, round_index):
                    if client.key in unavailable:
                        continue
                    server.reset()
                    started = time.perf_counter()
                    result = run_child(
                        "benchmarks.throughput",
                        [
                            "--client",
                            client.key,
                            "--workload",
                            workload,
                            "--jobs",
                            str(cfg.jobs_for(workload)),
                            "--concurrency",
                            str(cfg.concurrency),
                            "--port",
                            str(server.port),
                        ],
                    )
                    if not result["available"]:
                        unavailable[client.key] = result["reason"]
                        log(f"    {client.key}: n/a ({result['reason']})")
                        continue
                    cell = cells.setdefault((client.key, workload), _new_cell())
                    _record(cell, result)
                    log(
                        f"    round {round_index + 1} {workload:>5} {client.key:<20} "
                        f"{cell.rates[-1]:7.0f} jobs/s  "
                        f"{cell.cpu_ms_per_job[-1]:.2f} ms CPU/job  "
                        f"{cell.connections[-1]} conns  "
                        f"({time.perf_counter() - started:.1f} s with start-up)"
                    )
            for workload in WORKLOADS:
                peer = cells.get((PEER, workload))
                if peer is None or len(peer.rates) <= round_index:
                    continue
                for client in clients:
                    other = cells.get((client.key, workload))
                    if other is not None and len(other.rates) > round_index:
                        round_rates.setdefault((client.key, workload), []).append(
                            other.rates[round_index] / peer.rates[round_index]
                        )

    tables: list[Table] = []
    chart_rows: list[dict[str, Any]] = []
    for workload in WORKLOADS:
        table = Table(
            f"Throughput, {WORKLOAD_TITLES[workload]}: {cfg.jobs_for(workload)} jobs at "
            f"concurrency {cfg.concurrency}, {cfg.rounds} round(s), each client in its own process",
            [
                "client",
                "jobs/s (median)",
                "jobs/s (min)",
                "vs runpod-python (median of rounds)",
                "requests/job (server-counted, by route)",
                "TCP connections opened (median)",
                "client CPU ms/job (median)",
            ],
        )
        for client in CLIENTS:
            found = cells.get((client.key, workload))
            if found is None:
                reason = unavailable.get(client.key, "not measured")
                label = NA + (
                    " (not available in this build)" if "this build" in reason else f" ({reason})"
                )
                table.rows.append([client.label, label, NA, NA, NA, NA, NA])
                chart_rows.append({"client": client.short, "workload": workload, "rate": None})
                continue
            ratios = round_rates.get((client.key, workload), [])
            ratio_text = f"{median(ratios):.2f}×" if ratios else NA
            jobs_total = cfg.jobs_for(workload) * len(found.rates)
            table.rows.append(
                [
                    client.label,
                    f"{median(found.rates):.0f}",
                    f"{minimum(found.rates):.0f}",
                    ratio_text,
                    f"{median(found.requests_per_job):.2f} ({_routes_text(found, jobs_total)})",
                    f"{median(found.connections):.0f}",
                    f"{median(found.cpu_ms_per_job):.2f}",
                ]
            )
            chart_rows.append(
                {"client": client.short, "workload": workload, "rate": median(found.rates)}
            )
            ctx.facts[f"throughput.{workload}.{client.key}.ratio"] = (
                median(ratios) if ratios else None
            )
            ctx.facts[f"throughput.{workload}.{client.key}.connections"] = max(found.connections)
        table.notes += _notes(workload, cells, cfg)
        tables.append(table)
    _raw_ratios(ctx, cells)

    tables.append(_pool_diagnostic(cfg))
    _targets(ctx, cfg)
    chart = _chart(ctx, chart_rows, cfg)
    if chart is not None:
        tables[0].intro.append(
            f"![Throughput per client, both workloads]({chart}) "
            f"([{chart}]({chart}): jobs/s, median of rounds)"
        )
    return tables


def _pool_diagnostic(cfg: Settings) -> Table:
    """Raw httpx with its default pool vs a keep-alive pool sized to the concurrency, 200 ms
    jobs, one round: sizing keep-alive up ends the churn but makes every pool event scan
    every connection (httpcore 1.0's ``_assign_requests_to_connections``)."""
    jobs = cfg.jobs // 8
    table = Table(
        f"httpx pool sizing (diagnostic): raw httpx, {jobs} jobs of 200 ms at concurrency "
        f"{cfg.concurrency}, one run each",
        ["raw `httpx.AsyncClient`", "jobs/s", "client CPU ms/job", "TCP connections opened"],
    )
    variants = [
        ("httpx", "default limits (100 connections, 20 kept alive)"),
        ("httpx-keepalive", f"`max_keepalive_connections={cfg.concurrency}`"),
    ]
    log(f"    httpx pool diagnostic: {jobs} jobs of 200 ms per variant")
    with FastServer() as server:
        for key, label in variants:
            result = run_child(
                "benchmarks.throughput",
                [
                    "--client",
                    key,
                    "--workload",
                    "200ms",
                    "--jobs",
                    str(jobs),
                    "--concurrency",
                    str(cfg.concurrency),
                    "--port",
                    str(server.port),
                ],
            )
            table.rows.append(
                [
                    label,
                    f"{result['jobs'] / result['seconds']:.0f}",
                    f"{result['cpu_s'] * 1000 / result['jobs']:.2f}",
                    str(result["server"]["connections_opened"]),
                ]
            )
    table.notes.append(
        "With 20 kept alive, every connection that goes idle while more than 20 are open is "
        "closed, so nearly every request of a long-poll workload opens a new TCP connection "
        "(against the real API, a TLS handshake each). Keeping 100 alive ends the churn but "
        "httpcore 1.0's pool then re-checks every connection (`is_idle`, `has_expired` → a "
        "`poll()` per connection) for every queued request on every request event: O(requests "
        "× connections) per event. Neither setting fixes the default backend on its own."
    )
    installed, cost_ns = _sniffio_cost()
    table.notes.append(
        "httpcore asks which async library runs (`httpcore._synchronization."
        f"current_async_library()`) for every lock, semaphore and event it sets up: "
        f"{cost_ns / 1000:.1f} µs per call here, with sniffio "
        + (
            "installed (a runtime dependency of the façade for this reason)."
            if installed
            else "NOT installed: each call retries a failing `import sniffio`, a sys.path scan."
        )
    )
    return table


def _sniffio_cost() -> tuple[bool, float]:
    """Whether sniffio is importable, and the ns per call of httpcore's backend check."""
    import importlib.util

    from httpcore._synchronization import current_async_library

    async def measure() -> float:
        calls = 2000
        started = time.perf_counter_ns()
        for _ in range(calls):
            current_async_library()
        return (time.perf_counter_ns() - started) / calls

    return importlib.util.find_spec("sniffio") is not None, asyncio.run(measure())


def _notes(workload: str, cells: dict[tuple[str, str], Cell], cfg: Settings) -> list[str]:
    notes: list[str] = []
    if workload == "noop":
        notes.append(
            "Jobs/s is the timed part only (after one untimed warm-up job); client CPU is "
            "`getrusage(RUSAGE_SELF)` user + sys of the client process over the same span, "
            "divided by the jobs; connections are the TCP connections the server accepted in "
            "that span (the warm-up's one kept-alive connection is not among them)."
        )
        if cfg.warmup_jobs:
            notes.append(
                f"Before the rounds, every client ran {cfg.warmup_jobs} no-op jobs once, "
                "untimed and not reported, so that no client meets the server and the "
                "machine cold in round 1. No-op runs are "
                f"{cfg.noop_jobs} jobs ({cfg.jobs} for 200 ms jobs) so that each lasts "
                "seconds and start-up (the first 100 connections) weighs little; the order "
                "of the clients rotates each round."
            )
        notes.append(
            "runpod-python's `AsyncioJob.output()` polls `/status`, sleeping 1 s "
            "(`asyncio.sleep(1)`) while the job is unfinished, then fetches `/status` once more "
            "for the output: 3 requests per no-op job (done before the first poll, so it "
            "never sleeps here) and 4 for a 200 ms job, which waits a full second. Its "
            "default `timeout=0` raises `TimeoutError` at once for an unfinished job, so "
            "every row passes `output(timeout=600)`. That is its real behaviour, reported "
            "as is."
        )
        notes.append(
            "The raw rows are the floor of each HTTP stack: one `/run`, then `/status-sync` "
            "long-polls until the job is terminal, with the library's default pool, as a "
            "hand-written client would have it (httpx: 100 connections, 20 kept alive; "
            "aiohttp: 100 connections). The diagnostic table below shows httpx with its "
            "keep-alive pool sized to the concurrency."
        )
    loads = [load for cell in cells.values() for load in cell.server_load]
    if workload == "200ms" and loads:
        rate, cpu_share = max(loads)
        notes.append(
            f"The server is not the bottleneck: in its busiest run it answered {rate:,.0f} "
            f"requests/s using {cpu_share:.0%} of one core ({cpu_share / rate * 1e6:.0f} µs of "
            f"CPU per request, ≈ {rate / cpu_share:,.0f} requests/s per core at that cost)."
        )
        held = cells.get(("facade-httpx", "200ms"))
        if held is not None:
            notes.append(
                f"Long-polls the server held at once for the default façade: at most "
                f"{held.peak_held} (concurrency {cfg.concurrency})."
            )
    return notes


def _raw_ratios(ctx: Context, cells: dict[tuple[str, str], Cell]) -> None:
    """The façade's no-op rate over raw aiohttp's, per round (both ran in the same round)."""
    for facade, raw in RAW_RATIO_TARGETS:
        ours, theirs = cells.get((facade, "noop")), cells.get((raw, "noop"))
        if ours is None or theirs is None:
            continue
        ratios = [a / b for a, b in zip(ours.rates, theirs.rates, strict=False)]
        ctx.facts[f"throughput.noop.{facade}.vs.{raw}"] = ratios
        log(f"    {facade} / {raw}: " + ", ".join(f"{r:.3f}" for r in ratios))


def _targets(ctx: Context, cfg: Settings) -> None:
    for (facade, raw), floor in RAW_RATIO_TARGETS.items():
        ratios: list[float] = ctx.facts.get(f"throughput.noop.{facade}.vs.{raw}") or []
        labels = {c.key: c.label for c in CLIENTS}
        value = median(ratios) if ratios else None
        ctx.target(
            f"{WORKLOAD_TITLES['noop']}: {labels[facade]} ≥ {floor}× {labels[raw]} jobs/s "
            "(median over rounds of the ratio within a round)",
            NA if value is None else f"{value:.3f}× (min {min(ratios):.3f}×)",
            None if value is None else value >= floor,
        )
    for (client, workload), floor in RATIO_TARGETS.items():
        value = ctx.facts.get(f"throughput.{workload}.{client}.ratio")
        label = next(c.label for c in CLIENTS if c.key == client)
        ctx.target(
            f"{WORKLOAD_TITLES[workload]}: {label} ≥ {floor}× runpod-python jobs/s",
            NA if value is None else f"{value:.3f}×",  # 0.298 must not read as 0.30
            None if value is None else value >= floor,
        )
    limit = CONNECTIONS_TARGET_FACTOR * cfg.concurrency
    for client in ("facade-httpx", "facade-aiohttp"):
        worst = [
            ctx.facts.get(f"throughput.{workload}.{client}.connections") for workload in WORKLOADS
        ]
        known = [value for value in worst if value is not None]
        label = next(c.label for c in CLIENTS if c.key == client)
        ctx.target(
            f"TCP connections opened per run ≤ {limit} (2 × concurrency): {label}",
            f"{max(known)} (worst run)" if known else NA,
            max(known) <= limit if known else None,
        )


def _chart(ctx: Context, rows: list[dict[str, Any]], cfg: Settings) -> str | None:
    """Draw the chart beside the Markdown output; its file name, or None."""
    if ctx.output_dir is None:
        return None
    try:
        from .chart import throughput_chart
    except ImportError as exc:  # matplotlib is only in the bench venv
        log(f"    no chart: {exc}")
        return None
    path = ctx.output_dir / "throughput.svg"
    path.parent.mkdir(parents=True, exist_ok=True)
    throughput_chart(
        rows,
        path,
        title=f"{cfg.noop_jobs} no-op / {cfg.jobs} 200 ms jobs at concurrency {cfg.concurrency}, "
        f"median of {cfg.rounds} round(s), each client in its own process, server in another; "
        "(×) = ratio of medians",
        workloads=[(key, WORKLOAD_TITLES[key]) for key in WORKLOADS],
    )
    log(f"    wrote {path}")
    return path.name


if __name__ == "__main__":
    child()
