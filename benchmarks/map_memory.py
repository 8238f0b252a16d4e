"""Peak memory of ``Endpoint.map`` over many inputs: it should not grow with their number.

    .venv/bin/python -m benchmarks.map_memory                      # 1,000 vs 100,000, 3 rounds
    .venv/bin/python -m benchmarks.map_memory --sizes 1000 20000 --rounds 5 --journal --async

A local endpoint running a no-op handler serves in a process of its own. Each round runs one
batch in a fresh client process — a generator of N no-op inputs through ``ep.map`` (items
consumed and dropped, as a streaming consumer would) — and reports that process's peak RSS
(``VmHWM``; ``ru_maxrss`` would carry the parent's peak across ``execve``) and its growth over
the RSS measured just before the batch (imports and the client already in place). Rounds are
summarised as min / median; the last column compares each size's median growth with the
smallest size's. With ``--journal`` every batch also writes a journal (SQLite, in a temporary
directory), which adds its page cache (bounded: about 4 MiB more at 30,000 inputs and at
100,000). ``--async`` runs ``AsyncEndpoint.map``. ``make bench`` runs 1,000 vs 100,000 inputs,
two rounds, no journal.
Nothing here asserts: it prints a Markdown table.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ._common import Context, Table, log
from ._rss import current_rss_kib, peak_rss_kib

ROOT = Path(__file__).resolve().parent.parent

SERVER = """
import sys
from runpod_facade.local import LocalEndpoint, sample_handlers
with LocalEndpoint(sample_handlers.noop, workers=int(sys.argv[1]), api_key=None) as ep:
    print(ep.base_url, ep.endpoint_id, flush=True)
    sys.stdin.read()
"""


def client(base_url: str, endpoint_id: str, count: int, concurrency: int, journal: str) -> None:
    """One batch in this process; prints its figures as JSON."""
    from runpod_facade import Endpoint

    with Endpoint(endpoint_id, base_url=base_url, api_key="rp_unused") as ep:
        ep.health()  # connections and lazy imports in place before the baseline
        before = current_rss_kib()
        started = time.perf_counter()
        done = failed = 0
        inputs = ({"i": i} for i in range(count))
        for item in ep.map(inputs, concurrency=concurrency, journal=journal or None):
            done += 1
            if not item.ok:
                failed += 1
                print(f"input {item.index} failed: {item.error!r}", file=sys.stderr)
        elapsed = time.perf_counter() - started
    peak = peak_rss_kib()
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
        before = current_rss_kib()
        started = time.perf_counter()
        done = failed = 0
        inputs = ({"i": i} for i in range(count))
        async for item in ep.map(inputs, concurrency=concurrency, journal=journal or None):
            done += 1
            if not item.ok:
                failed += 1
                print(f"input {item.index} failed: {item.error!r}", file=sys.stderr)
        elapsed = time.perf_counter() - started
    peak = peak_rss_kib()
    print(
        json.dumps(
            {"items": done, "failed": failed, "baseline": before, "peak": peak, "s": elapsed}
        )
    )


def measure(
    sizes: list[int], rounds: int, concurrency: int, workers: int, journal: bool, use_async: bool
) -> dict[int, list[dict[str, float]]]:
    """Run every size ``rounds`` times (sizes interleaved), each batch in a fresh client."""
    server = subprocess.Popen(
        [sys.executable, "-c", SERVER, str(workers)],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert server.stdout is not None
    base_url, endpoint_id = server.stdout.readline().split()
    rows: dict[int, list[dict[str, float]]] = {n: [] for n in sizes}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for round_no in range(rounds):
                for n in sizes:
                    path = os.path.join(tmp, f"{n}-{round_no}.journal") if journal else ""
                    role = "--async-client" if use_async else "--client"
                    command = [sys.executable, "-m", "benchmarks.map_memory", role]
                    command += [base_url, endpoint_id, str(n), str(concurrency), path]
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
    return rows


def growth_over_smallest(rows: dict[int, list[dict[str, float]]]) -> float:
    """MiB: the largest size's median growth minus the smallest size's."""
    sizes = sorted(rows)

    def growth(n: int) -> float:
        return statistics.median(r["peak"] - r["baseline"] for r in rows[n]) / 1024

    return growth(sizes[-1]) - growth(sizes[0])


def table(
    rows: dict[int, list[dict[str, float]]],
    rounds: int,
    concurrency: int,
    workers: int,
    journal: bool,
    use_async: bool,
) -> Table:
    def mib(values: list[float]) -> tuple[float, float]:
        return min(values) / 1024, statistics.median(values) / 1024

    sizes = sorted(rows)
    first = statistics.median(r["peak"] - r["baseline"] for r in rows[sizes[0]])
    mode = "with a journal" if journal else "no journal (/runsync, 1 s hold)"
    mode += ", AsyncEndpoint" if use_async else ", Endpoint (threads)"
    result = Table(
        "Peak memory of `ep.map` by number of inputs (fresh client process per batch)",
        [
            "inputs",
            "peak RSS min / median MiB",
            "growth min / median MiB",
            "growth vs smallest",
            "jobs/s (median)",
            "failed items",
        ],
        intro=[
            f"{rounds} round(s), concurrency {concurrency}, {mode}; a generator of no-op inputs, "
            "items consumed and dropped; the local endpoint (no-op handler, "
            f"{workers} workers) in its own process. Growth is peak RSS over the RSS just before "
            "the batch (imports and the client already in place)."
        ],
    )
    for n in sizes:
        peak = mib([r["peak"] for r in rows[n]])
        growth_values = [r["peak"] - r["baseline"] for r in rows[n]]
        growth = mib(growth_values)
        extra = (statistics.median(growth_values) - first) / 1024
        rate = statistics.median(n / r["s"] for r in rows[n])
        failed = sum(int(r["failed"]) for r in rows[n])
        result.rows.append(
            [
                f"{n:,}",
                f"{peak[0]:.1f} / {peak[1]:.1f}",
                f"{growth[0]:.1f} / {growth[1]:.1f}",
                f"{extra:+.1f} MiB",
                f"{rate:,.0f}",
                str(failed),
            ]
        )
    return result


def run(ctx: Context) -> list[Table]:
    """``make bench``: 1,000 vs 100,000 inputs (quick: 1,000 vs 10,000), no journal."""
    sizes = [1_000, 10_000] if ctx.quick else [1_000, 100_000]
    rounds, concurrency, workers = (1 if ctx.quick else 2), 16, 8
    log(f"map_memory: {' vs '.join(f'{n:,}' for n in sizes)} inputs, {rounds} round(s)")
    rows = measure(sizes, rounds, concurrency, workers, journal=False, use_async=False)
    extra = growth_over_smallest(rows)
    ctx.target(
        f"{sizes[-1]:,} no-op inputs through `ep.map`: peak RSS within a few MB (≤ 5 MiB) "
        f"of {sizes[0]:,}",
        f"{extra:+.1f} MiB",
        extra <= 5,
    )
    return [table(rows, rounds, concurrency, workers, journal=False, use_async=False)]


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
    args = parser.parse_args()
    config = (args.rounds, args.concurrency, args.workers, args.journal, args.use_async)
    rows = measure(args.sizes, *config)
    print(table(rows, *config).markdown())


if __name__ == "__main__":
    main()
