"""AsyncEndpoint runs the same core: the main paths, plus asyncio cancellation."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from runpod_facade import AsyncEndpoint, InternalServerError, JobFailed, JobStatus, WaitTimeout
from tests._support.fakeapi import API_KEY, FakeApi, chunks, job


async def test_async_run_and_wait() -> None:
    api = (
        FakeApi()
        .on("run", job("IN_QUEUE", "a-1"))
        .on("status-sync", job("COMPLETED", "a-1", output=7))
    )
    async with api.async_endpoint() as ep:
        handle = await ep.run({"n": 1})
        assert (await handle.wait(timeout=10)).output == 7
        assert handle.last_state is not None and handle.last_state.status is JobStatus.COMPLETED
    assert api.ops() == ["run", "status-sync"]


async def test_async_run_sync_and_failure() -> None:
    api = FakeApi().on("runsync", job("FAILED", error="nope"))
    async with api.async_endpoint() as ep:
        with pytest.raises(JobFailed):
            await ep.run_sync({})


async def test_async_stream() -> None:
    api = FakeApi().on("stream", chunks("IN_PROGRESS", "a"), chunks("COMPLETED", "b"))
    async with api.async_endpoint() as ep:
        got = [item async for item in ep.stream("job-1")]
    assert got == ["a", "b"]


async def test_async_retries_and_errors() -> None:
    api = FakeApi().on("health", httpx.Response(503))
    async with api.async_endpoint() as ep:
        with pytest.raises(InternalServerError):
            await ep.health()
    assert api.ops() == ["health"] * 4


async def test_async_wait_timeout_with_cancel() -> None:
    api = FakeApi().on("status", job("IN_QUEUE")).on("cancel", job("CANCELLED"))
    async with api.async_endpoint(long_poll=False) as ep:
        with pytest.raises(WaitTimeout) as info:
            await ep.job("job-1").wait(timeout=0.1, cancel_on_timeout=True)
    assert info.value.cancelled
    assert api.ops()[-1] == "cancel"


async def test_cancelling_the_task_cancels_the_remote_job() -> None:
    api = FakeApi().on("status", job("IN_PROGRESS")).on("cancel", job("CANCELLED"))
    async with api.async_endpoint(long_poll=False) as ep:
        task = asyncio.create_task(ep.job("job-1").wait(cancel_on_interrupt=True))
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert "cancel" in api.ops()


async def test_cancelling_the_task_without_opt_in_leaves_the_job() -> None:
    api = FakeApi().on("status", job("IN_PROGRESS"))
    async with api.async_endpoint(long_poll=False) as ep:
        task = asyncio.create_task(ep.job("job-1").wait())
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert "cancel" not in api.ops()


async def test_many_concurrent_waits_share_one_client() -> None:
    api = FakeApi().on(
        "status-sync", lambda r: job("COMPLETED", r.url.path.rsplit("/", 1)[1], output=1)
    )
    async with api.async_endpoint() as ep:
        states = await asyncio.gather(*(ep.job(f"j{i}").wait(timeout=10) for i in range(200)))
    assert [state.output for state in states] == [1] * 200


async def test_async_endpoint_rejects_a_sync_client() -> None:
    with pytest.raises(ValueError, match="AsyncClient"):
        AsyncEndpoint("ep", api_key=API_KEY, http_client=httpx.Client())  # type: ignore[arg-type]
