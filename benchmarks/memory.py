"""Memory of a process holding 10,000 job handles, each kind in a fresh interpreter.

The parent runs ``python -m benchmarks.memory KIND COUNT`` per kind; that child prints one
JSON object: the peak RSS of a process that imported the library, built one endpoint and
holds COUNT job handles, the RSS those handles added, and the bytes tracemalloc attributes to
them. KIND is ``facade`` (``Endpoint.job(id)`` handles), ``facade-state`` (handles carrying
the state a ``run()`` reply gives them) or ``runpod`` (``runpod.endpoint.Job`` objects).

Nothing talks to a server here: building handles sends nothing. The child path imports only
what it measures (plus :mod:`benchmarks._rss`); the parent's helpers are imported inside
:func:`run`, which the child never calls.
"""

from __future__ import annotations

import gc
import json
import sys
import tracemalloc
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ._rss import peak_rss_kib

if TYPE_CHECKING:
    from ._common import Context, Table

NAME = "memory"
BASE_URL = "http://127.0.0.1:9/v2"  # never contacted
ENDPOINT_ID = "bench-endpoint"
API_KEY = "rpl_benchmark_key_not_a_secret"
KINDS = (
    ("facade", "façade `Endpoint.job(id)`", False),
    ("facade-state", "façade `Job` with last state (as `run()` returns it)", False),
    ("runpod", "runpod-python `runpod.endpoint.Job`", True),
)

# ============================================================================== child side


def job_ids(count: int) -> list[str]:
    """Ids shaped like RunPod's (a UUID plus a region suffix), made up front for every kind."""
    return [f"{index:08x}-5f0e-4c2a-9d7b-{index:012x}-u1" for index in range(count)]


def _factory(kind: str) -> Callable[[str], Any]:
    if kind in ("facade", "facade-state"):
        from runpod_facade import Endpoint, Job, JobState, JobStatus

        endpoint = Endpoint(ENDPOINT_ID, api_key=API_KEY, base_url=BASE_URL)
        if kind == "facade":
            return endpoint.job

        def with_state(job_id: str) -> Job:
            raw = {"id": job_id, "status": "IN_QUEUE"}
            state = JobState.from_raw(raw, id=job_id, status=JobStatus.IN_QUEUE)
            return Job(endpoint, job_id, state, link=endpoint._link)  # as run() makes it

        return with_state
    if kind == "runpod":
        import logging

        import runpod
        from runpod.endpoint import Job as RunpodJob

        root = logging.getLogger()  # undo runpod's logging.basicConfig(level=INFO)
        for handler in list(root.handlers):
            root.removeHandler(handler)
        runpod.api_key = API_KEY
        runpod.endpoint_url_base = BASE_URL
        client = runpod.Endpoint(ENDPOINT_ID).rp_client
        return lambda job_id: RunpodJob(ENDPOINT_ID, job_id, client)
    raise SystemExit(f"unknown kind {kind!r}")


def measure(kind: str, count: int) -> dict[str, Any]:
    ids = job_ids(count)
    make = _factory(kind)
    make(ids[0])  # the first call may import or cache something: not part of the handles
    gc.collect()
    before = peak_rss_kib()
    handles = [make(job_id) for job_id in ids]
    after = peak_rss_kib()
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


def child(argv: list[str]) -> None:
    if len(argv) >= 1:
        print(json.dumps(measure(argv[0], int(argv[1]) if len(argv) > 1 else 10_000)))
        return
    raise SystemExit(__doc__)


# ============================================================================== parent side


def run(ctx: Context) -> list[Table]:
    from ._common import NA, Table, log, ratio, run_child

    count = 10_000
    log(f"{NAME}: {count:,} handles per kind, a fresh interpreter each")
    table = Table(
        f"Memory of a process holding {count:,} job handles (fresh interpreter each)",
        [
            "handles",
            "peak RSS MiB",
            "RSS added by handles KiB",
            "tracemalloc bytes/handle",
            "peak RSS vs façade",
        ],
    )
    measured = {
        kind: run_child("benchmarks.memory", [kind, str(count)])
        for kind, _, needs_runpod in KINDS
        if ctx.runpod or not needs_runpod
    }
    base = measured["facade"]["peak_rss_kib"]
    for kind, label, _ in KINDS:
        data = measured.get(kind)
        if data is None:
            table.rows.append([label, NA, NA, NA, NA])
            continue
        table.rows.append(
            [
                label,
                f"{data['peak_rss_kib'] / 1024:.1f}",
                str(data["handles_rss_kib"]),
                f"{data['handles_traced_bytes'] / count:.0f}",
                ratio(data["peak_rss_kib"], base),
            ]
        )
    table.notes.append(
        "Peak RSS includes the interpreter, the imported library and one endpoint client; "
        "ids are built before measuring, so per-handle bytes exclude the id strings."
    )
    return [table]


if __name__ == "__main__":
    child(sys.argv[1:])
