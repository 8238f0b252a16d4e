"""Peak memory of ``Endpoint.map`` over many inputs: it should not grow with their number.

    .venv/bin/python -m benchmarks.map_memory                      # 1,000 vs 100,000, 3 rounds
    .venv/bin/python -m benchmarks.map_memory --sizes 1000 20000 --rounds 5 --journal --async

A local endpoint running a no-op handler serves in a process of its own. Each round runs one
batch in a fresh client process — a generator of N no-op inputs through ``ep.map`` (items
consumed and dropped, as a streaming consumer would) — and reports that process's peak RSS
(``ru_maxrss``) and its growth over the RSS measured just before the batch (imports and the
client already in place). Rounds are summarised as min / median; the last column compares
each size's median growth with the smallest size's. With ``--journal`` every batch also
writes a journal (SQLite, in a temporary directory), which adds its page cache (bounded:
about 4 MiB more at 30,000 inputs and at 100,000). ``--async`` runs ``AsyncEndpoint.map``.
Nothing here asserts: it prints a Markdown table.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

SERVER = """
import sys
from runpod_facade.local import LocalEndpoint, sample_handlers
with LocalEndpoint(sample_handlers.noop, workers=int(sys.argv[1]), api_key=None) as ep:
    print(ep.base_url, ep.endpoint_id, flush=True)
    sys.stdin.read()
"""


def rss_kib() -> int:
    """Current resident set size in KiB (Linux), else the peak so far."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def client(base_url: str, endpoint_id: str, count: int, concurrency: int, journal: str) -> None:
    """One batch in this process; prints its figures as JSON."""
    from runpod_facade import Endpoint

    with Endpoint(endpoint_id, base_url=base_url, api_key="rp_unused") as ep:
        ep.health()  # connections and lazy imports in place before the baseline
        before = rss_kib()
        started = time.perf_counter()
        done = failed = 0
        inputs = ({"i": i} for i in range(count))
        for item in ep.map(inputs, concurrency=concurrency, journal=journal or None):
            done += 1
            if not item.ok:
                failed += 1
                print(f"input {item.index} failed: {item.error!r}", file=sys.stderr)
        elapsed = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(
        json.dumps(
            {"items": done, "failed": failed, "baseline": before, "peak": peak, "s": elapsed}
        )
    )


async def async_client(
    base_url: str, endpoint_id: str, count: int, concurrency: int, journal: str
) -> None:
    """One batch through ``AsyncEndpoint.map`` in this process; prints its figures."""
    from runpod_facade import AsyncEndpoint

    async with AsyncEndpoint(endpoint_id, base_url=base_url, api_key="rp_unused") as ep:
        await ep.health()
        before = rss_kib()
        started = time.perf_counter()
        done = failed = 0
        inputs = ({"i": i} for i in range(count))
        async for item in ep.map(inputs, concurrency=concurrency, journal=journal or None):
            done += 1
            if not item.ok:
                failed += 1
                print(f"input {item.index} failed: {item.error!r}", file=sys.stderr)
        elapsed = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(
        json.dumps(
            {"items": done, "failed": failed, "baseline": before, "peak": peak, "s": elapsed}
        )
    )


def measure(args: argparse.Namespace) -> None:
    server = subprocess.Popen(
        [sys.executable, "-c", SERVER, str(args.workers)],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert server.stdout is not None
    base_url, endpoint_id = server.stdout.readline().split()
    rows: dict[int, list[dict[str, float]]] = {n: [] for n in args.sizes}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for round_no in range(args.rounds):
                for n in args.sizes:
                    journal = os.path.join(tmp, f"{n}-{round_no}.journal") if args.journal else ""
                    role = "--async-client" if args.use_async else "--client"
                    command = [sys.executable, "-m", "benchmarks.map_memory", role]
                    command += [base_url, endpoint_id, str(n), str(args.concurrency), journal]
                    out = subprocess.run(
                        command,
                        cwd=ROOT,
                        stdout=subprocess.PIPE,
                        text=True,
                        check=True,
                    )
                    result = json.loads(out.stdout.strip().splitlines()[-1])
                    assert result["items"] == n, result
                    rows[n].append(result)
                    print(
                        f"round {round_no + 1}: {n:>7,} inputs  peak {result['peak'] / 1024:6.1f} "
                        f"MiB  growth {(result['peak'] - result['baseline']) / 1024:5.1f} MiB  "
                        f"{n / result['s']:6.0f} jobs/s  {result['failed']} failed",
                        file=sys.stderr,
                    )
    finally:
        server.communicate("")
    report(args, rows)


def report(args: argparse.Namespace, rows: dict[int, list[dict[str, float]]]) -> None:
    def mib(values: list[float]) -> tuple[float, float]:
        return min(values) / 1024, statistics.median(values) / 1024

    first = statistics.median(r["peak"] - r["baseline"] for r in rows[args.sizes[0]])
    mode = "with a journal" if args.journal else "no journal (/runsync, 1 s hold)"
    mode += ", AsyncEndpoint" if args.use_async else ", Endpoint (threads)"
    print(
        f"\n`ep.map` peak RSS of the client, {args.rounds} rounds, concurrency "
        f"{args.concurrency}, {mode}; server (no-op handler, {args.workers} workers) in its "
        "own process.\n"
    )
    print("| inputs | peak RSS min / median (MiB) | growth min / median (MiB) | "
          "growth vs smallest | jobs/s (median) | failed items |")  # fmt: skip
    print("| ---: | ---: | ---: | ---: | ---: | ---: |")
    for n in args.sizes:
        peak = mib([r["peak"] for r in rows[n]])
        growth_values = [r["peak"] - r["baseline"] for r in rows[n]]
        growth = mib(growth_values)
        extra = (statistics.median(growth_values) - first) / 1024
        rate = statistics.median(n / r["s"] for r in rows[n])
        failed = sum(int(r["failed"]) for r in rows[n])
        print(
            f"| {n:,} | {peak[0]:.1f} / {peak[1]:.1f} | {growth[0]:.1f} / {growth[1]:.1f} | "
            f"{extra:+.1f} MiB | {rate:,.0f} | {failed} |"
        )


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] in ("--client", "--async-client"):
        base_url, endpoint_id, count, concurrency, *journal = sys.argv[2:]
        call = (base_url, endpoint_id, int(count), int(concurrency), journal[0] if journal else "")
        if sys.argv[1] == "--client":
            client(*call)
        else:
            asyncio.run(async_client(*call))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 100_000])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--journal", action="store_true", help="also write a journal")
    parser.add_argument(
        "--async", dest="use_async", action="store_true", help="AsyncEndpoint.map instead"
    )
    measure(parser.parse_args())


if __name__ == "__main__":
    main()
