"""Handlers the benchmarks run on the local endpoint (``runpod_facade.local.LocalEndpoint``)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

#: How long :func:`sleep_200ms` takes: the ideal completion latency of the latency benchmark.
SLEEP_SECONDS = 0.2
#: Chunks :func:`stream_chunks` yields and the gap between two of them.
STREAM_CHUNKS = 200
STREAM_GAP_SECONDS = 0.005


def echo(job: dict[str, Any]) -> Any:
    """Return the input at once (the throughput benchmark's no-op handler)."""
    return job["input"]


def sleep_200ms(job: dict[str, Any]) -> dict[str, Any]:
    """Block for 200 ms like a small model call, then echo the input."""
    time.sleep(SLEEP_SECONDS)
    return {"echo": job["input"]}


def stream_chunks(job: dict[str, Any]) -> Iterator[dict[str, int]]:
    """Yield ``STREAM_CHUNKS`` chunks, ``STREAM_GAP_SECONDS`` apart; the first one at once."""
    for index in range(STREAM_CHUNKS):
        if index:
            time.sleep(STREAM_GAP_SECONDS)
        yield {"i": index}
