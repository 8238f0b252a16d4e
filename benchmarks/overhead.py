"""Per-call overhead: ``status()`` of a completed job, façade vs raw httpx (sync and asyncio),
runpod-python's ``Job.status()``, and the same call over an in-memory transport (no network,
no server: the client-side cost alone). The fast server runs in its own process; the clients
run in a child process (``python -m benchmarks.overhead --port N``), interleaved in blocks
with the order rotated, so drift hits every contender alike. A cProfile of the façade call,
grouped by package, follows.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import pstats
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from ._common import (
    API_KEY,
    ENDPOINT_ID,
    NA,
    Context,
    Table,
    log,
    median,
    p90,
    ratio,
    rotated,
    run_child,
    us,
)
from ._servers import FastServer

NAME = "overhead"
TARGET = 1.10  # façade / raw httpx, per call, asyncio (issue #11)

_PROFILE_GROUPS = (
    ("runpod_facade (façade)", "/runpod_facade/"),
    ("runpod_generated (generated models)", "/runpod_generated/"),
    ("httpx", "/httpx/"),
    ("httpcore", "/httpcore/"),
    ("h11", "/h11/"),
)

AIOHTTP_FACADE = 'façade `AsyncEndpoint(http_backend="aiohttp").status(id)`'
AIOHTTP_RAW = "raw `aiohttp.ClientSession.get` + `.read()`"

# ============================================================================== child side


def _has_aiohttp() -> bool:
    import importlib.util

    return importlib.util.find_spec("aiohttp") is not None


def _interleaved(
    contenders: Sequence[tuple[str, Callable[[], object]]], warmup: int, calls: int, block: int
) -> dict[str, list[int]]:
    """Per-call times in ns; contenders alternate in blocks, the order rotated each block."""
    for _, call in contenders:
        for _ in range(warmup):
            call()
    samples: dict[str, list[int]] = {name: [] for name, _ in contenders}
    clock = time.perf_counter_ns
    for index in range(max(1, calls // block)):
        for name, call in rotated(contenders, index):
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
    block: int,
) -> dict[str, list[int]]:
    for _, call in contenders:
        for _ in range(warmup):
            await call()
    samples: dict[str, list[int]] = {name: [] for name, _ in contenders}
    clock = time.perf_counter_ns
    for index in range(max(1, calls // block)):
        for name, call in rotated(contenders, index):
            bucket = samples[name]
            for _ in range(block):
                started = clock()
                await call()
                bucket.append(clock() - started)
    return samples


def _facade_headers() -> dict[str, str]:
    """The headers the façade sends on a GET (see runpod_facade/_config.py)."""
    from runpod_facade import __version__

    return {
        "Accept": "application/json",
        "User-Agent": f"runpod-facade/{__version__}",
        "Authorization": f"Bearer {API_KEY}",
    }


def _profile(call: Callable[[], object], calls: int) -> tuple[list[list[str]], list[str]]:
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(calls):
        call()
    profiler.disable()
    stats = pstats.Stats(profiler)
    raw: dict[tuple[str, int, str], tuple[Any, ...]] = stats.stats  # type: ignore[attr-defined]
    total = sum(entry[2] for entry in raw.values()) or 1.0
    groups: dict[str, float] = {}
    top: list[tuple[float, str]] = []
    for (filename, line, function), entry in raw.items():
        tottime = entry[2]
        if filename == "~":
            group = "socket I/O and other built-ins"
        else:
            group = next((g for g, marker in _PROFILE_GROUPS if marker in filename), "stdlib/other")
        groups[group] = groups.get(group, 0.0) + tottime
        short = filename.split("site-packages/")[-1].split("/benchmarks/../")[-1]
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


def measure(port: int, calls: int, warmup: int, block: int, with_runpod: bool) -> dict[str, Any]:
    import httpx

    from runpod_facade import AsyncEndpoint, Endpoint

    base_url = f"http://127.0.0.1:{port}/v2"
    result: dict[str, Any] = {"rows": [], "groups": {}}

    def summarize(group: str, samples: dict[str, list[int]], base_name: str) -> None:
        base = median(samples[base_name])
        for name, values in samples.items():
            result["rows"].append(
                {
                    "group": group,
                    "name": name,
                    "median_ns": median(values),
                    "p90_ns": p90(values),
                    "ratio": median(values) / base,
                }
            )

    with (
        Endpoint(ENDPOINT_ID, api_key=API_KEY, base_url=base_url) as ep,
        httpx.Client() as raw,
    ):
        job = ep.run({"n": 1})
        job.wait(timeout=30)
        url = f"{base_url}/{ENDPOINT_ID}/status/{job.id}"
        headers = _facade_headers()
        reply = raw.get(url, headers=headers)
        assert reply.status_code == 200 and reply.json()["status"] == "COMPLETED", reply.text
        assert ep.status(job.id).output == {"n": 1}
        raw_name = "raw `httpx.Client.get(url, headers=…)`"
        contenders: list[tuple[str, Callable[[], object]]] = [
            ("façade `Endpoint.status(id)`", lambda: ep.status(job.id)),
            (raw_name, lambda: raw.get(url, headers=headers)),
            ("raw httpx get + `.json()`", lambda: raw.get(url, headers=headers).json()),
        ]
        if with_runpod:
            from runpod.endpoint import Job as RunpodJob

            from ._common import import_runpod

            runpod = import_runpod()
            runpod.api_key = API_KEY
            runpod.endpoint_url_base = base_url
            rp_client = runpod.Endpoint(ENDPOINT_ID).rp_client
            # runpod's Job caches a terminal status, so a fresh handle per call does the GET.
            contenders.append(
                (
                    "runpod-python `Job.status()` (fresh handle)",
                    lambda: RunpodJob(ENDPOINT_ID, job.id, rp_client).status(),
                )
            )
        summarize("sync", _interleaved(contenders, warmup, calls, block), raw_name)

        async def async_pair() -> dict[str, list[int]]:
            async with (
                AsyncEndpoint(ENDPOINT_ID, api_key=API_KEY, base_url=base_url) as aep,
                httpx.AsyncClient() as araw,
            ):
                return await _interleaved_async(
                    [
                        ("façade `AsyncEndpoint.status(id)`", lambda: aep.status(job.id)),
                        ("raw `httpx.AsyncClient.get`", lambda: araw.get(url, headers=headers)),
                    ],
                    warmup,
                    calls,
                    block,
                )

        summarize("async", asyncio.run(async_pair()), "raw `httpx.AsyncClient.get`")

        async def aiohttp_pair() -> dict[str, list[int]] | None:
            import aiohttp

            try:
                aep = AsyncEndpoint(
                    ENDPOINT_ID, api_key=API_KEY, base_url=base_url, http_backend="aiohttp"
                )
            except TypeError:
                return None  # this build has no aiohttp backend
            async with aep, aiohttp.ClientSession() as session:

                async def raw_get() -> bytes:
                    async with session.get(url, headers=headers) as response:
                        return await response.read()

                return await _interleaved_async(
                    [
                        (AIOHTTP_FACADE, lambda: aep.status(job.id)),
                        (AIOHTTP_RAW, raw_get),
                    ],
                    warmup,
                    calls,
                    block,
                )

        aiohttp_samples = asyncio.run(aiohttp_pair()) if _has_aiohttp() else None
        if aiohttp_samples is not None:
            summarize("aiohttp", aiohttp_samples, AIOHTTP_RAW)

        body = reply.content

        def canned(_: httpx.Request) -> httpx.Response:
            return httpx.Response(200, content=body, headers={"content-type": "application/json"})

        with (
            httpx.Client(transport=httpx.MockTransport(canned)) as mock,
            Endpoint(ENDPOINT_ID, api_key=API_KEY, base_url=base_url, http_client=mock) as mep,
        ):
            memory = _interleaved(
                [
                    ("façade, in-memory transport", lambda: mep.status(job.id)),
                    ("raw httpx, in-memory transport", lambda: mock.get(url, headers=headers)),
                ],
                warmup,
                calls,
                block,
            )
            summarize("memory", memory, "raw httpx, in-memory transport")

        rows, top = _profile(lambda: ep.status(job.id), max(200, calls // 2))
        result["profile"] = rows
        result["top"] = top
    return result


def child(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="per-call overhead (a child process)")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--block", type=int, default=100)
    parser.add_argument("--runpod", action="store_true")
    args = parser.parse_args(argv)
    print(json.dumps(measure(args.port, args.calls, args.warmup, args.block, args.runpod)))


# ============================================================================== parent side


def run(ctx: Context) -> list[Table]:
    calls, warmup = (400, 50) if ctx.quick else (2000, 200)
    log(f"{NAME}: status() per call, {calls} calls per contender after {warmup} warm-up")
    with FastServer() as server:
        args = ["--port", str(server.port), "--calls", str(calls), "--warmup", str(warmup)]
        result = run_child("benchmarks.overhead", args + (["--runpod"] if ctx.runpod else []))
    table = Table(
        f"Per-call overhead: `status()` of a completed job ({calls} calls each after {warmup} "
        "warm-up, interleaved in blocks of 100; server in its own process)",
        ["client", "median µs", "p90 µs", "vs the raw client of its group"],
    )
    by_group: dict[str, dict[str, dict[str, Any]]] = {}
    for row in result["rows"]:
        by_group.setdefault(row["group"], {})[row["name"]] = row
        table.rows.append(
            [row["name"], us(row["median_ns"]), us(row["p90_ns"]), f"{row['ratio']:.2f}×"]
        )
    if not ctx.runpod:
        table.rows.insert(3, ["runpod-python `Job.status()`", NA, NA, NA])
    if "aiohttp" not in by_group:
        table.rows += [
            [AIOHTTP_FACADE, f"{NA} (not available in this build)", NA, NA],
            [AIOHTTP_RAW, NA, NA, NA],
        ]
    sync_ratio = by_group["sync"]["façade `Endpoint.status(id)`"]["ratio"]
    async_ratio = by_group["async"]["façade `AsyncEndpoint.status(id)`"]["ratio"]
    memory = by_group["memory"]
    facade_mem = memory["façade, in-memory transport"]["median_ns"]
    raw_mem = memory["raw httpx, in-memory transport"]["median_ns"]
    table.notes += [
        "Groups, each against its own raw client: blocking (httpx.Client), asyncio "
        "(httpx.AsyncClient), in-memory transport (httpx.MockTransport), asyncio over aiohttp.",
        f"Façade / raw httpx over loopback: sync {sync_ratio:.2f}×, asyncio "
        f"{async_ratio:.2f}× (target for asyncio ≤ {TARGET:.2f}×; see Targets).",
        f"What the façade adds on the client side (in-memory transport: no network, no "
        f"server): {(facade_mem - raw_mem) / 1000:.0f} µs per call over raw httpx "
        f"({facade_mem / 1000:.0f} vs {raw_mem / 1000:.0f} µs): URL building through the "
        "generated operation, the per-request `httpx.Timeout`, the effect-generator driver, "
        "and parsing into `JobState` through the generated `Job` model.",
        f"The loopback rows include the server's reply time (its own process) and the "
        f"kernel; {ratio(facade_mem, raw_mem)} in memory is the façade's own cost ratio.",
    ]
    ctx.target(
        f"async `status()` per call ≤ {TARGET:.2f}× raw `httpx.AsyncClient.get`",
        f"{async_ratio:.2f}× (sync {sync_ratio:.2f}×)",
        async_ratio <= TARGET,
    )
    profile = Table(
        "Where a façade `status()` call spends its time (cProfile of the client process, "
        "loopback; profiler overhead inflates every figure)",
        ["package", "µs per call (self time)", "share"],
        result["profile"],
    )
    profile.notes.append("Top functions by self time: " + "; ".join(result["top"][:6]))
    return [table, profile]


if __name__ == "__main__":
    child()
