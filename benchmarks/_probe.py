"""Measurements that need a fresh interpreter; ``benchmarks.run`` starts one per sample.

``python -m benchmarks._probe memory KIND [COUNT]`` prints one JSON object: the peak RSS of a
process that imported the library, built one endpoint and holds COUNT job handles, the RSS
those handles added, and the bytes tracemalloc attributes to them. KIND is one of
``facade`` (``Endpoint.job(id)`` handles), ``facade-state`` (handles carrying the state a
``run()`` reply gives them) and ``runpod`` (``runpod.endpoint.Job`` objects).
"""

from __future__ import annotations

import contextlib
import gc
import json
import logging
import resource
import sys
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

BASE_URL = "http://127.0.0.1:9/v2"  # never contacted: building handles sends nothing
ENDPOINT_ID = "bench-endpoint"
API_KEY = "rpl_benchmark_key_not_a_secret"


def _max_rss_kib() -> int:
    """Peak RSS of this process image, in KiB.

    ``VmHWM`` from /proc belongs to the current address space; ``getrusage().ru_maxrss`` is
    only the fallback, because Linux carries it across ``execve``: a child started from a
    big parent would report the parent's peak.
    """
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux


def job_ids(count: int) -> list[str]:
    """Ids shaped like RunPod's (a UUID plus a region suffix), made up front for every kind."""
    return [f"{index:08x}-5f0e-4c2a-9d7b-{index:012x}-u1" for index in range(count)]


def quiet_root_logger() -> None:
    """Undo ``logging.basicConfig(level=INFO)`` that importing ``runpod`` performs."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    root.setLevel(logging.WARNING)


def _factory(kind: str) -> Callable[[str], Any]:
    if kind in ("facade", "facade-state"):
        from types import MappingProxyType

        from runpod_facade import Endpoint, Job, JobState, JobStatus

        endpoint = Endpoint(ENDPOINT_ID, api_key=API_KEY, base_url=BASE_URL)
        if kind == "facade":
            return endpoint.job

        def with_state(job_id: str) -> Job:
            raw = MappingProxyType({"id": job_id, "status": "IN_QUEUE"})
            state = JobState(id=job_id, status=JobStatus.IN_QUEUE, raw=raw)
            return Job(endpoint, job_id, state)

        return with_state
    if kind == "runpod":
        import runpod
        from runpod.endpoint import Job as RunpodJob

        quiet_root_logger()
        runpod.api_key = API_KEY
        runpod.endpoint_url_base = BASE_URL
        rp_endpoint = runpod.Endpoint(ENDPOINT_ID)
        client = rp_endpoint.rp_client
        return lambda job_id: RunpodJob(ENDPOINT_ID, job_id, client)
    raise SystemExit(f"unknown kind {kind!r}")


def memory(kind: str, count: int) -> dict[str, Any]:
    ids = job_ids(count)
    make = _factory(kind)
    make(ids[0])  # first call may import or cache something: not part of the handles
    gc.collect()
    before = _max_rss_kib()
    handles = [make(job_id) for job_id in ids]
    after = _max_rss_kib()
    assert len(handles) == count
    del handles
    gc.collect()
    tracemalloc.start()
    handles = [make(job_id) for job_id in ids]
    traced, _peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert len(handles) == count
    return {
        "kind": kind,
        "count": count,
        "peak_rss_kib": after,
        "handles_rss_kib": after - before,
        "handles_traced_bytes": traced,
    }


def main(argv: list[str]) -> None:
    if len(argv) >= 2 and argv[0] == "memory":
        count = int(argv[2]) if len(argv) > 2 else 10_000
        print(json.dumps(memory(argv[1], count)))
        return
    raise SystemExit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
