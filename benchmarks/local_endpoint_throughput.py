"""Throughput of the local endpoint: 1,000 ``noop`` jobs, 16 workers, over loopback.

Submits every job with ``POST /run`` from one ``httpx.AsyncClient`` (bounded concurrency),
awaits each with ``/status-sync`` long-polls, and prints jobs/s. Not a test.

    .venv/bin/python benchmarks/local_endpoint_throughput.py [--jobs 1000] [--workers 16]
"""

from __future__ import annotations

import argparse
import asyncio
import time

import httpx

from runpod_facade.local import LocalEndpoint, sample_handlers


async def _one(client: httpx.AsyncClient, gate: asyncio.Semaphore) -> str:
    async with gate:
        reply = await client.post("/run", json={"input": {}})
        reply.raise_for_status()
        job_id: str = reply.json()["id"]
        while True:
            body = (await client.get(f"/status-sync/{job_id}", params={"wait": 60000})).json()
            if body["status"] in ("COMPLETED", "FAILED", "CANCELLED", "TIMED_OUT"):
                return str(body["status"])


async def _bench(ep: LocalEndpoint, jobs: int, concurrency: int) -> float:
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(
        base_url=ep.url, headers=ep.headers, limits=limits, timeout=120
    ) as client:
        gate = asyncio.Semaphore(concurrency)
        started = time.perf_counter()
        statuses = await asyncio.gather(*(_one(client, gate) for _ in range(jobs)))
        elapsed = time.perf_counter() - started
    assert statuses.count("COMPLETED") == jobs, statuses
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=16)
    parser.add_argument("--concurrency", type=int, default=64, help="jobs in flight at once")
    args = parser.parse_args()
    with LocalEndpoint(sample_handlers.noop, workers=args.workers) as ep:
        elapsed = asyncio.run(_bench(ep, args.jobs, args.concurrency))
        health = ep.health()
    print(
        f"{args.jobs} noop jobs, {args.workers} workers, {args.concurrency} in flight: "
        f"{elapsed:.2f} s, {args.jobs / elapsed:.0f} jobs/s "
        f"(completed={health['jobs']['completed']})"
    )


if __name__ == "__main__":
    main()
