"""Load-balancing endpoints: requests/s and client CPU per request of
``LoadBalancedEndpoint.post`` vs raw ``httpx.Client.post`` (and the asyncio pair), one call at
a time against the same local pool (``benchmarks/_lb_server.py``, its own process). The
clients run in a child process (``python -m benchmarks.lb_throughput --port N``), interleaved
in blocks with the order rotated, so drift hits every contender alike; CPU is the child's
``time.process_time`` over each block.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

from ._common import API_KEY, Context, Table, log, rotated
from ._servers import _ServerProcess

NAME = "lb_throughput"
TARGET = 0.9  # façade / raw httpx requests/s (issue #18)
BODY = {"prompt": "hello", "max_tokens": 16}


class LBServer(_ServerProcess):
    def __init__(self, workers: int = 2) -> None:
        super().__init__("benchmarks._lb_server", "--workers", str(workers))


# ============================================================================== child side


def _measure(
    contenders: list[tuple[str, Callable[[], object]]], calls: int, block: int
) -> dict[str, dict[str, float]]:
    totals = {name: {"wall": 0.0, "cpu": 0.0, "calls": 0.0} for name, _ in contenders}
    for index in range(max(1, calls // block)):
        for name, call in rotated(contenders, index):
            wall, cpu = time.perf_counter(), time.process_time()
            for _ in range(block):
                call()
            totals[name]["wall"] += time.perf_counter() - wall
            totals[name]["cpu"] += time.process_time() - cpu
            totals[name]["calls"] += block
    return totals


async def _measure_async(
    contenders: list[tuple[str, Callable[[], Awaitable[object]]]], calls: int, block: int
) -> dict[str, dict[str, float]]:
    totals = {name: {"wall": 0.0, "cpu": 0.0, "calls": 0.0} for name, _ in contenders}
    for index in range(max(1, calls // block)):
        for name, call in rotated(contenders, index):
            wall, cpu = time.perf_counter(), time.process_time()
            for _ in range(block):
                await call()
            totals[name]["wall"] += time.perf_counter() - wall
            totals[name]["cpu"] += time.process_time() - cpu
            totals[name]["calls"] += block
    return totals


def child(port: int, calls: int, warmup: int, block: int) -> dict[str, Any]:
    import httpx

    from runpod_facade import AsyncLoadBalancedEndpoint, LoadBalancedEndpoint

    url = f"http://127.0.0.1:{port}"
    headers = {"Authorization": f"Bearer {API_KEY}"}
    with (
        LoadBalancedEndpoint("bench", base_url=url, api_key=API_KEY, timeout=30) as ep,
        httpx.Client(base_url=url, headers=headers, timeout=30) as raw,
    ):
        ep.wait_ready(timeout=30)

        def facade() -> object:
            reply = ep.post("/echo", json=BODY)
            assert reply.status_code == 200
            return reply

        def plain() -> object:
            reply = raw.post("/echo", json=BODY)
            assert reply.status_code == 200
            return reply

        sync = [("façade sync", facade), ("raw httpx sync", plain)]
        for _, call in sync:
            for _ in range(warmup):
                call()
        results = _measure(sync, calls, block)

    async def run_async() -> dict[str, dict[str, float]]:
        async with (
            AsyncLoadBalancedEndpoint("bench", base_url=url, api_key=API_KEY, timeout=30) as aep,
            httpx.AsyncClient(base_url=url, headers=headers, timeout=30) as araw,
        ):

            async def afacade() -> object:
                return await aep.post("/echo", json=BODY)

            async def aplain() -> object:
                return await araw.post("/echo", json=BODY)

            pairs: list[tuple[str, Callable[[], Awaitable[object]]]] = [
                ("façade asyncio", afacade),
                ("raw httpx asyncio", aplain),
            ]
            for _, call in pairs:
                for _ in range(warmup):
                    await call()
            return await _measure_async(pairs, calls, block)

    results.update(asyncio.run(run_async()))
    return results


# ============================================================================== parent side


def run(ctx: Context) -> list[Table]:
    calls, warmup, block = (300, 30, 50) if ctx.quick else (2000, 200, 100)
    log(f"{NAME}: POST /echo, {calls} calls per contender after {warmup} warm-up")
    from ._common import run_child

    with LBServer() as server:
        args = ["--port", str(server.port), "--calls", str(calls)]
        args += ["--warmup", str(warmup), "--block", str(block)]
        result = run_child("benchmarks.lb_throughput", args)
    table = Table(
        f"Load-balancing endpoint: POST /echo one at a time ({calls} calls each after "
        f"{warmup} warm-up, interleaved in blocks of {block}; the local pool in its own process)",
        ["client", "requests/s", "client CPU µs/request", "req/s vs raw", "CPU vs raw"],
    )
    ratios: dict[str, float] = {}
    for group in ("sync", "asyncio"):
        facade, raw = result[f"façade {group}"], result[f"raw httpx {group}"]
        rps = {k: v["calls"] / v["wall"] for k, v in ((0, facade), (1, raw))}
        cpu = {k: v["cpu"] / v["calls"] * 1e6 for k, v in ((0, facade), (1, raw))}
        ratios[group] = rps[0] / rps[1]
        table.rows.append(
            [
                f"façade `{'Async' if group == 'asyncio' else ''}LoadBalancedEndpoint.post`",
                f"{rps[0]:,.0f}",
                f"{cpu[0]:.0f}",
                f"{rps[0] / rps[1]:.2f}×",
                f"{cpu[0] / cpu[1]:.2f}×",
            ]
        )
        table.rows.append(
            [
                f"raw `httpx.{'Async' if group == 'asyncio' else ''}Client.post`",
                f"{rps[1]:,.0f}",
                f"{cpu[1]:.0f}",
                "1.00×",
                "1.00×",
            ]
        )
    table.notes.append(
        "Each call goes through the local pool's router (Starlette app as a simulated worker); "
        "the rows differ only in the client. The façade adds per call: the request checks and "
        "JSON encoding, the per-attempt deadline, and the reply's classification."
    )
    worst = min(ratios.values())
    ctx.target(
        f"load-balancing façade ≥ {TARGET:.1f}× raw httpx requests/s (issue #18)",
        f"sync {ratios['sync']:.2f}×, asyncio {ratios['asyncio']:.2f}×",
        worst >= TARGET,
    )
    return [table]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--block", type=int, default=100)
    args = parser.parse_args()
    print(json.dumps(child(args.port, args.calls, args.warmup, args.block)), flush=True)


if __name__ == "__main__":
    main()
