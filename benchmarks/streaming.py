"""Streaming: a generator handler yielding 200 chunks 5 ms apart, read with ``job.stream()``.

The local endpoint runs the handler (``benchmarks.handlers:stream_chunks``) in its own
process and counts the ``/stream`` calls; the clients run in this process.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

from ._common import NA, Context, Table, import_runpod, is_nan, log, median, ms, ratio
from ._servers import LocalServer
from .handlers import STREAM_CHUNKS, STREAM_GAP_SECONDS

NAME = "streaming"


def _stream_once(make_iterator: Callable[[], Iterator[Any]]) -> tuple[float, float, list[Any]]:
    started = time.perf_counter()
    first = float("nan")
    chunks: list[Any] = []
    for chunk in make_iterator():
        if not chunks:
            first = time.perf_counter() - started
        chunks.append(chunk)
    return first, time.perf_counter() - started, chunks


def run(ctx: Context) -> list[Table]:
    from runpod_facade import Endpoint

    facade_reps, runpod_reps = (2, 1) if ctx.quick else (5, 3)
    log(f"{NAME}: {facade_reps} façade and {runpod_reps} runpod-python streams")
    count, gap = STREAM_CHUNKS, STREAM_GAP_SECONDS
    ideal_total = (count - 1) * gap
    table = Table(
        f"Streaming: a generator handler yielding {count} chunks {gap * 1000:.0f} ms apart "
        f"(ideal: first chunk at once, last after ≈{ideal_total * 1000:.0f} ms; local endpoint "
        "in its own process)",
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
        LocalServer("benchmarks.handlers:stream_chunks", workers=2) as server,
        Endpoint(server.endpoint_id, api_key=server.api_key, base_url=server.base_url) as ep,
    ):
        contenders: list[tuple[str, Callable[[], Iterator[Any]], int]] = [
            (
                "façade `job.stream()`",
                lambda: iter(ep.run({"s": 1}).stream(timeout=60)),
                facade_reps,
            ),
        ]
        if ctx.runpod:
            runpod = import_runpod()
            runpod.api_key = server.api_key
            runpod.endpoint_url_base = server.base_url
            rp = runpod.Endpoint(server.endpoint_id)
            contenders.append(
                ("runpod-python `job.stream()`", lambda: rp.run({"s": 1}).stream(), runpod_reps)
            )
        facade_total = float("nan")
        for name, make, reps in contenders:
            firsts: list[float] = []
            totals: list[float] = []
            received: set[int] = set()
            server.clear()
            for _ in range(reps):
                first, total, chunks = _stream_once(make)
                firsts.append(first)
                totals.append(total)
                received.add(len(chunks))
                assert chunks == expected, (name, len(chunks))
            stream_calls = server.requests().get("stream", 0) / reps
            if is_nan(facade_total):
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
    if not ctx.runpod:
        table.rows.append(["runpod-python `job.stream()`", "0", NA, NA, NA, NA, NA])
    table.notes += [
        "The façade long-polls `/stream?wait=` and yields each batch as soon as the server "
        "has one; runpod-python sleeps 1 s before every `/stream` GET, so its first chunk "
        "comes after ≥ 1 s and chunks arrive in 1 s batches.",
        "runpod-python's `stream()` ends only on COMPLETED/FAILED/TIMED_OUT (its FINAL_STATES "
        "lacks CANCELLED), so it would poll a cancelled job forever; not exercised here.",
    ]
    return [table]
