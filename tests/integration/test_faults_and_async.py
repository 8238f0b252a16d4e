"""The façade against the local endpoint's injected faults, and the asyncio client."""

from __future__ import annotations

import asyncio

import pytest

from runpod_facade import (
    APIConnectionError,
    AsyncEndpoint,
    Endpoint,
    InternalServerError,
    JobStatus,
)
from runpod_facade.local import Fault, LocalEndpoint
from runpod_facade.testing import AsyncEndpointFactory
from tests._support.backends import BACKENDS
from tests._support.handlers import dispatch, streamer

from .conftest import FAST_POLL, FAST_RETRY


def runs_received(local: LocalEndpoint) -> int:
    return sum(1 for r in local.requests if r.method == "POST" and r.path.endswith("/run"))


def test_429_with_retry_after_is_recovered(local: LocalEndpoint, ep: Endpoint) -> None:
    job = ep.run({"task": "echo"})
    local.faults.add(Fault("status", "http_error", status=429, retry_after="1", times=1))
    assert ep.status(job.id).id == job.id


def test_html_502_then_520_on_long_poll_are_recovered(local: LocalEndpoint, ep: Endpoint) -> None:
    job = ep.run({"task": "echo", "k": 1})
    local.faults.add(Fault("status-sync", "html", status=502, times=1))
    local.faults.add(Fault("status-sync", "http_error", status=520, times=1))
    assert job.wait(timeout=30).output == {"task": "echo", "k": 1}


def test_run_is_never_sent_twice_after_a_5xx(local: LocalEndpoint, ep: Endpoint) -> None:
    before = runs_received(local)
    local.faults.add(Fault("run", "http_error", status=503, times=1))
    with pytest.raises(InternalServerError):
        ep.run({"task": "echo"})
    assert runs_received(local) - before == 1


def test_run_dropped_after_acceptance_is_reported_not_repeated(
    local: LocalEndpoint, ep: Endpoint
) -> None:
    before = runs_received(local)
    local.faults.add(Fault("run", "drop_after", times=1))
    with pytest.raises(APIConnectionError) as info:
        ep.run({"task": "echo"})
    assert info.value.request_sent is True
    assert runs_received(local) - before == 1


def test_dropped_status_connection_is_retried(local: LocalEndpoint, ep: Endpoint) -> None:
    job = ep.run({"task": "echo"})
    local.faults.add(Fault("status", "drop", times=2))
    assert ep.status(job.id).id == job.id


def test_unknown_status_value_reaches_the_caller(local: LocalEndpoint, ep: Endpoint) -> None:
    job = ep.run({"task": "echo"})
    job.wait(timeout=30)
    local.faults.add(Fault("status", "unknown_status", status_value="PAUSED", times=1))
    state = ep.status(job.id)
    assert state.status == "PAUSED" and type(state.status) is str
    assert ep.status(job.id).status is JobStatus.COMPLETED


def test_missing_long_poll_route_falls_back_to_polling(local: LocalEndpoint) -> None:
    local.faults.clear()
    with Endpoint(
        local.endpoint_id,
        base_url=local.base_url,
        api_key=local.api_key,
        retry_policy=FAST_RETRY,
        poll_policy=FAST_POLL,
    ) as ep:
        local.faults.add(Fault("status-sync", "http_error", status=404, times=None))
        try:
            job = ep.run({"task": "sleep", "seconds": 0.5})
            assert job.wait(timeout=30).output == {"slept": 0.5}
        finally:
            local.faults.clear()
    ops = [r.operation for r in local.requests if r.job_id == job.id]
    assert "status" in ops


@pytest.mark.parametrize("backend", BACKENDS)
async def test_async_flows_over_loopback(
    backend: str, async_runpod_endpoint: AsyncEndpointFactory
) -> None:
    ep = await async_runpod_endpoint(dispatch, workers=4, http_backend=backend)  # type: ignore[arg-type]
    jobs = await asyncio.gather(*(ep.run({"task": "echo", "i": i}) for i in range(20)))
    states = await asyncio.gather(*(job.wait(timeout=30) for job in jobs))
    assert [state.output for state in states] == [{"task": "echo", "i": i} for i in range(20)]
    state = await ep.run_sync({"task": "echo", "s": 1}, timeout=30)
    assert state.output == {"task": "echo", "s": 1}
    health = await ep.health()
    assert health.jobs.completed == 21  # a fresh endpoint: exactly this test's jobs
    sep = await async_runpod_endpoint(streamer, workers=4, http_backend=backend)  # type: ignore[arg-type]
    job = await sep.run({"count": 4, "delay": 0.02})
    assert [c async for c in job.stream(timeout=30)] == [{"i": i} for i in range(4)]


@pytest.mark.parametrize("backend", BACKENDS)
async def test_async_task_cancel_cancels_remote_job(backend: str, local: LocalEndpoint) -> None:
    async with AsyncEndpoint(
        local.endpoint_id,
        base_url=local.base_url,
        api_key=local.api_key,
        http_backend=backend,  # type: ignore[arg-type]
    ) as ep:
        job = await ep.run({"task": "sleep", "seconds": 30})
        waiter = asyncio.create_task(job.wait(cancel_on_interrupt=True))
        await asyncio.sleep(0.3)
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
        assert (await job.status()).status is JobStatus.CANCELLED


@pytest.mark.parametrize("backend", BACKENDS)
async def test_run_many_over_loopback(
    backend: str, async_runpod_endpoint: AsyncEndpointFactory
) -> None:
    ep = await async_runpod_endpoint(dispatch, workers=4, http_backend=backend)  # type: ignore[arg-type]
    states = await ep.run_many(
        [{"task": "echo", "i": i} for i in range(30)], concurrency=10, timeout=60
    )
    assert [s.output["i"] for s in states] == list(range(30))


@pytest.mark.parametrize("backend", BACKENDS)
async def test_async_submit_dropped_after_acceptance_is_reported_not_repeated(
    backend: str, local: LocalEndpoint
) -> None:
    local.faults.clear()
    async with AsyncEndpoint(
        local.endpoint_id,
        base_url=local.base_url,
        api_key=local.api_key,
        retry_policy=FAST_RETRY,
        http_backend=backend,  # type: ignore[arg-type]
    ) as ep:
        for kind in ("drop", "drop_after", "drop_mid_body"):
            before = runs_received(local)
            local.faults.add(Fault("run", kind, times=1))
            with pytest.raises(APIConnectionError) as info:
                await ep.run({"task": "echo"})
            assert info.value.request_sent is True, kind
            assert runs_received(local) - before == 1, kind
            job = await ep.run({"task": "echo", "after": kind})  # the client still works
            assert (await job.wait(timeout=30)).output == {"task": "echo", "after": kind}


def test_sync_run_many_fail_fast_over_loopback(local: LocalEndpoint, ep: Endpoint) -> None:
    from runpod_facade import JobFailed

    inputs = [{"task": "sleep", "seconds": 1}, {"task": "fail"}, {"task": "sleep", "seconds": 30}]
    seen = len(local.requests)  # the endpoint is shared with this module's earlier tests
    with pytest.raises(JobFailed):
        ep.run_many(inputs, concurrency=3, timeout=60)
    # Fail-fast: no job of the batch is left to run. The 30-second sleep was either cancelled
    # or never submitted (the batch stops submitting at the failure); it cannot have ended on
    # its own. Submits go to /run or /runsync.
    ours = {r.job_id for r in local.requests[seen:] if r.operation in ("run", "runsync")}
    statuses = sorted(ep.status(job_id).status.value for job_id in ours if job_id)
    assert "FAILED" in statuses and not {"IN_QUEUE", "IN_PROGRESS"} & set(statuses), statuses
    assert len(statuses) == 2 or "CANCELLED" in statuses, statuses
