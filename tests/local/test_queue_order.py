"""The local endpoint's queue, in the order its workers take jobs (``Engine.queue``): what an
operation about a job's place in the queue is computed from."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx

from runpod_facade.local import LocalEndpoint, sample_handlers


def wait_for(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.01)


def test_the_queue_lists_normal_jobs_then_low_priority_ones_next_first() -> None:
    with (
        LocalEndpoint(sample_handlers.sleep, workers=1, api_key=None) as ep,
        httpx.Client(base_url=ep.url, timeout=30) as client,
    ):
        engine = ep.app.engine

        def submit(low: bool = False) -> str:
            body = {"input": {"seconds": 0.3}, "policy": {"lowPriority": low}}
            job_id: str = client.post("/run", json=body).json()["id"]
            return job_id

        running = submit()
        wait_for(lambda: client.get(f"/status/{running}").json()["status"] == "IN_PROGRESS")
        first, low, second = submit(), submit(low=True), submit()
        assert engine.call_sync(engine.queue()) == [first, second, low]
        client.post(f"/cancel/{second}")
        assert engine.call_sync(engine.queue()) == [first, low]
        wait_for(lambda: engine.call_sync(engine.queue()) == [], timeout=10)
