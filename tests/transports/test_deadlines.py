"""Deadlines over real loopback HTTP, on each HTTP backend: the core caps every request by
what remains of the caller's deadline, and the transports must turn those caps into their
library's timeouts (a long-poll's read, a sub-second poll, a hung server)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from runpod_facade import AsyncEndpoint, PollPolicy, RetryPolicy, WaitTimeout
from runpod_facade.local import Fault, LocalEndpoint
from tests._support.backends import BACKENDS
from tests._support.handlers import dispatch

FAST_RETRY = RetryPolicy(max_retries=3, initial_delay=0.01, max_delay=0.05)
FAST_POLL = PollPolicy(initial=0.05, maximum=0.1)


@pytest.fixture(scope="module")
def local() -> Iterator[LocalEndpoint]:
    with LocalEndpoint(dispatch, workers=4) as ep:
        yield ep


def connect(local: LocalEndpoint, backend: str, **options: object) -> AsyncEndpoint:
    return AsyncEndpoint(
        local.endpoint_id,
        base_url=local.base_url,
        api_key=local.api_key,
        retry_policy=FAST_RETRY,
        poll_policy=FAST_POLL,
        http_backend=backend,  # type: ignore[arg-type]
        **options,  # type: ignore[arg-type]
    )


def operations(local: LocalEndpoint, job_id: str, since: int) -> list[str | None]:
    return [r.operation for r in local.requests[since:] if r.job_id == job_id]


@pytest.mark.parametrize("backend", BACKENDS)
async def test_timeout_zero_looks_once(backend: str, local: LocalEndpoint) -> None:
    async with connect(local, backend) as ep:
        job = await ep.run({"task": "sleep", "seconds": 5})
        seen = len(local.requests)
        with pytest.raises(WaitTimeout) as info:
            await job.wait(timeout=0)
        assert info.value.job_id == job.id
        assert operations(local, job.id, seen) == ["status"]
        await job.cancel()


@pytest.mark.parametrize("backend", BACKENDS)
async def test_a_sub_second_deadline_polls_and_ends(backend: str, local: LocalEndpoint) -> None:
    async with connect(local, backend) as ep:
        job = await ep.run({"task": "sleep", "seconds": 5})
        seen = len(local.requests)
        with pytest.raises(WaitTimeout):
            await job.wait(timeout=0.4)
        ops = operations(local, job.id, seen)
        # Too short for the server's 1 s minimum hold: plain polls, no long-poll.
        assert ops and set(ops) == {"status"}
        await job.cancel()


@pytest.mark.parametrize("backend", BACKENDS)
async def test_a_longer_deadline_long_polls_to_the_end(backend: str, local: LocalEndpoint) -> None:
    async with connect(local, backend) as ep:
        job = await ep.run({"task": "sleep", "seconds": 1.0})
        seen = len(local.requests)
        assert (await job.wait(timeout=20)).output == {"slept": 1.0}
        ops = operations(local, job.id, seen)
        assert "status-sync" in ops and "status" not in ops
        # The hold is longer than the client's 1 s read timeout: the long-poll's own read
        # timeout (hold + margin) applied, so one request sufficed.
        assert ops.count("status-sync") == 1


@pytest.mark.parametrize("backend", BACKENDS)
async def test_run_sync_with_a_tiny_deadline_names_its_job(
    backend: str, local: LocalEndpoint
) -> None:
    async with connect(local, backend) as ep:
        with pytest.raises(WaitTimeout) as info:
            await ep.run_sync({"task": "sleep", "seconds": 5}, timeout=0.5)
        job_id = info.value.job_id
        assert job_id is not None
        assert (await ep.status(job_id)).id == job_id
        await ep.cancel(job_id)


@pytest.mark.parametrize("backend", BACKENDS)
async def test_a_hung_long_poll_ends_at_the_deadline(backend: str, local: LocalEndpoint) -> None:
    async with connect(local, backend, timeout=1.0) as ep:
        job = await ep.run({"task": "sleep", "seconds": 10})
        local.faults.add(Fault("status-sync", "hang", times=None))
        local.faults.add(Fault("status", "hang", times=None))
        try:
            with pytest.raises(WaitTimeout) as info:
                await job.wait(timeout=1.6)  # enough to long-poll (1.5 s), the shortest that does
        finally:
            local.faults.clear()
        assert info.value.job_id == job.id
        await job.cancel()
