"""Head-of-line probe: does a short call wait behind long-polls on the same client?

One façade ``AsyncEndpoint`` submits 150 jobs that take long (10 s; the fast server's timer
jobs), starts ``job.wait()`` on all of them — 150 long-polls pending on one client — then
times ``status()`` of an already finished job several times, at fixed offsets while the
long-polls are still held. Run for the default httpx backend and, where this build has it,
``http_backend="aiohttp"``; each in a child process (``python -m benchmarks.headofline``),
the fast server in another.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from dataclasses import dataclass
from typing import Any

from ._common import API_KEY, ENDPOINT_ID, NA, Context, Table, log, maximum, median, run_child
from ._servers import FastServer, fetch_stats

NAME = "headofline"
TARGET_S = 0.5
BACKENDS = (
    ("httpx", "façade `AsyncEndpoint` (httpx, default)"),
    ("aiohttp", 'façade `AsyncEndpoint(http_backend="aiohttp")`'),
)


@dataclass(frozen=True)
class Settings:
    waits: int
    job_seconds: float
    samples: int
    first_at: float
    spacing: float

    @classmethod
    def make(cls, quick: bool) -> Settings:
        return cls(150, 4.0, 4, 1.0, 0.4) if quick else cls(150, 10.0, 8, 1.0, 0.35)


# ============================================================================== child side


async def probe(port: int, backend: str, cfg: Settings) -> dict[str, Any]:
    from runpod_facade import AsyncEndpoint

    base_url = f"http://127.0.0.1:{port}/v2"
    stats_url = f"http://127.0.0.1:{port}/_stats"
    options: dict[str, Any] = {} if backend == "httpx" else {"http_backend": backend}
    try:
        endpoint = AsyncEndpoint(ENDPOINT_ID, api_key=API_KEY, base_url=base_url, **options)
    except TypeError as exc:
        return {"available": False, "reason": f"not available in this build ({exc})"}
    except Exception as exc:
        return {"available": False, "reason": f"{type(exc).__name__}: {exc}"}
    loop = asyncio.get_running_loop()
    async with endpoint:
        finished = await endpoint.run({"n": -1})
        await finished.wait(timeout=30)
        await endpoint.status(finished.id)  # warm: the probe times the steady state
        jobs = await asyncio.gather(
            *(endpoint.run({"n": i, "sleep": cfg.job_seconds}) for i in range(cfg.waits))
        )
        started = loop.time()
        waits = [asyncio.ensure_future(job.wait(timeout=cfg.job_seconds * 6)) for job in jobs]

        async def sample(at: float) -> float:
            await asyncio.sleep(max(0.0, started + at - loop.time()))
            clock = time.perf_counter()
            state = await endpoint.status(finished.id)
            assert state.output == {"n": -1}
            return time.perf_counter() - clock

        await asyncio.sleep(cfg.first_at - 0.1)
        held = (await asyncio.to_thread(fetch_stats, stats_url))["held"]
        latencies = await asyncio.gather(
            *(sample(cfg.first_at + k * cfg.spacing) for k in range(cfg.samples))
        )
        states = await asyncio.gather(*waits)
        waited = loop.time() - started
    assert [state.output for state in states] == [
        {"n": i, "sleep": cfg.job_seconds} for i in range(cfg.waits)
    ]
    return {"available": True, "latencies": latencies, "held": held, "waited": waited}


def child(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="head-of-line probe (a child process)")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--backend", required=True, choices=[key for key, _ in BACKENDS])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    print(json.dumps(asyncio.run(probe(args.port, args.backend, Settings.make(args.quick)))))


# ============================================================================== parent side


def run(ctx: Context) -> list[Table]:
    cfg = Settings.make(ctx.quick)
    log(f"{NAME}: {cfg.waits} wait()s on {cfg.job_seconds:.0f} s jobs, {cfg.samples} status()")
    table = Table(
        f"Head-of-line: `status()` of a finished job while {cfg.waits} `wait()` long-polls "
        f"({cfg.job_seconds:.0f} s jobs) are pending on the same client",
        [
            "client",
            "status() median ms",
            "status() max ms",
            "long-polls the server held",
            f"target ≤ {TARGET_S * 1000:.0f} ms (max)",
        ],
    )
    measured: dict[str, float | None] = {}
    with FastServer() as server:
        for key, label in BACKENDS:
            server.reset()
            args = ["--port", str(server.port), "--backend", key]
            result = run_child("benchmarks.headofline", args + (["--quick"] if ctx.quick else []))
            if not result["available"]:
                log(f"    {key}: n/a ({result['reason']})")
                reason = (
                    "not available in this build"
                    if "this build" in result["reason"]
                    else (result["reason"])
                )
                table.rows.append([label, f"{NA} ({reason})", NA, NA, NA])
                measured[key] = None
                continue
            latencies = result["latencies"]
            worst = maximum(latencies)
            measured[key] = worst
            log(f"    {key}: median {median(latencies) * 1000:.0f} ms, max {worst * 1000:.0f} ms")
            table.rows.append(
                [
                    label,
                    f"{median(latencies) * 1000:.1f}",
                    f"{worst * 1000:.1f}",
                    str(result["held"]),
                    "**met**" if worst <= TARGET_S else "**missed**",
                ]
            )
    table.notes += [
        f"{cfg.samples} `status()` calls, one every {cfg.spacing * 1000:.0f} ms from "
        f"{cfg.first_at:.1f} s after the `wait()`s started, each timed on its own; every "
        "long-poll is still held by the server then (its jobs end after "
        f"{cfg.job_seconds:.0f} s), so a call that queues behind them waits for the jobs.",
        "“Long-polls the server held” is the number the server was holding when the probe "
        "began: what the client let through at once; the rest queue inside the client.",
    ]
    for key, label in BACKENDS:
        value = measured.get(key)
        ctx.target(
            f"`status()` with {cfg.waits} long-polls pending ≤ {TARGET_S} s: {label}",
            NA if value is None else f"{value * 1000:.0f} ms (max of {cfg.samples})",
            None if value is None else value <= TARGET_S,
        )
    return [table]


if __name__ == "__main__":
    child()
