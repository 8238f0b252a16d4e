"""How ``Endpoint.map`` submits: ``/runsync?wait=1000`` (no journal) vs ``/run`` (journal).

    .venv/bin/python -m benchmarks.map_submit                # 3 rounds, 1,000 jobs a cell
    .venv/bin/python -m benchmarks.map_submit --jobs 300 --rounds 5

A local endpoint serves in a process of its own, with handlers of three lengths: none (a
no-op), 0.3 s (ends within the 1 s hold) and 1.5 s (outlasts it). For each, one batch per
mode — ``/runsync`` (no journal), ``/run`` without a journal (``cancel_on_interrupt=True``)
and ``/run`` with one: requests per job (counted by the server, by operation), jobs per
second, and the median latency of a job (its input read → its item yielded). Median over
rounds; nothing asserts.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
MODES = {
    "runsync": "/runsync?wait=1000",
    "run": "/run (cancel_on_interrupt=True)",
    "journal": "/run + journal",
}

SERVER = """
import json, sys, time
from collections import Counter
from runpod_facade.local import LocalEndpoint

def handler(job):
    seconds = job["input"].get("seconds", 0)
    if seconds:
        time.sleep(seconds)
    return None

with LocalEndpoint(handler, workers=int(sys.argv[1]), api_key=None) as ep:
    print(ep.base_url, ep.endpoint_id, flush=True)
    for line in sys.stdin:
        if line.strip() == "count":
            print(json.dumps(Counter(r.operation for r in ep.requests)), flush=True)
            ep.clear_requests()
"""


def one_batch(
    base_url: str,
    endpoint_id: str,
    jobs: int,
    seconds: float,
    concurrency: int,
    mode: str,
    tmp: str,
) -> dict[str, float]:
    from runpod_facade import Endpoint

    read_at: dict[int, float] = {}

    def inputs() -> Any:
        for i in range(jobs):
            read_at[i] = time.perf_counter()
            yield {"i": i, "seconds": seconds}

    latencies: list[float] = []
    with Endpoint(endpoint_id, base_url=base_url, api_key="rp_unused") as ep:
        started = time.perf_counter()
        # /run is what a journal or cancel_on_interrupt=True asks for.
        journal = f"{tmp}/{time.monotonic_ns()}.journal" if mode == "journal" else None
        results = ep.map(
            inputs(), concurrency=concurrency, journal=journal, cancel_on_interrupt=mode == "run"
        )
        for item in results:
            assert item.ok, item.error
            latencies.append(time.perf_counter() - read_at.pop(item.index))
        elapsed = time.perf_counter() - started
    return {"s": elapsed, "latency": statistics.median(latencies)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=1_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--workers", type=int, default=16)
    args = parser.parse_args()
    server = subprocess.Popen(
        [sys.executable, "-c", SERVER, str(args.workers)],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert server.stdin is not None and server.stdout is not None
    base_url, endpoint_id = server.stdout.readline().split()

    def count() -> Counter[str]:
        assert server.stdin is not None and server.stdout is not None
        server.stdin.write("count\n")
        server.stdin.flush()
        return Counter(json.loads(server.stdout.readline()))

    results: dict[tuple[float, str], list[dict[str, Any]]] = {}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for round_no in range(args.rounds):
                for seconds in (0.0, 0.3, 1.5):
                    jobs = args.jobs if seconds < 1 else max(args.concurrency * 4, args.jobs // 10)
                    for mode in MODES:
                        count()
                        figures: dict[str, Any] = one_batch(
                            base_url, endpoint_id, jobs, seconds, args.concurrency, mode, tmp
                        )
                        figures["requests"] = count()
                        figures["jobs"] = jobs
                        results.setdefault((seconds, mode), []).append(figures)
                        print(f"round {round_no + 1} {seconds}s {mode}: {figures}", file=sys.stderr)
    finally:
        server.communicate("")

    print(
        f"\n`ep.map` submit modes on loopback, concurrency {args.concurrency}, "
        f"{args.workers} workers, median of {args.rounds} rounds.\n"
    )
    print("| handler | mode | jobs | requests / job | by operation | jobs/s | job latency |")
    print("| --- | --- | ---: | ---: | --- | ---: | ---: |")
    for (seconds, mode), rounds in results.items():
        jobs = rounds[0]["jobs"]
        per_job = statistics.median(sum(r["requests"].values()) / jobs for r in rounds)
        ops = Counter[str]()
        for r in rounds:
            ops.update(r["requests"])
        by_op = ", ".join(f"{op} {n / len(rounds) / jobs:.2f}" for op, n in sorted(ops.items()))
        rate = statistics.median(jobs / r["s"] for r in rounds)
        latency = statistics.median(r["latency"] for r in rounds) * 1000
        label = MODES[mode]
        print(
            f"| {seconds:g} s | {label} | {jobs:,} | {per_job:.2f} | {by_op} | {rate:,.0f} | "
            f"{latency:,.0f} ms |"
        )


if __name__ == "__main__":
    main()
