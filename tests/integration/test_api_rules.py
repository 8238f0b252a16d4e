"""The rules of the public API (docs/api.md) over loopback, against the local endpoint: the
error tree as the wire produces it, what methods return, a cancel that keeps the output,
and ``Timeout`` on both asyncio backends."""

from __future__ import annotations

import socket
import time

import pytest

from runpod_facade import (
    APIConnectionError,
    APIError,
    APIStatusError,
    APITimeoutError,
    AsyncEndpoint,
    ConflictError,
    Endpoint,
    JobState,
    JobStatus,
    PermissionDeniedError,
    Timeout,
)
from runpod_facade.local import Fault, LocalEndpoint
from tests._support.backends import BACKENDS

from .conftest import FAST_POLL, FAST_RETRY, connect


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_except_api_error_catches_a_refused_connection() -> None:
    url = f"http://127.0.0.1:{_closed_port()}/v2"
    with (
        Endpoint("ep", base_url=url, api_key="k", max_retries=0) as ep,
        pytest.raises(APIError) as info,
    ):
        ep.health()
    assert type(info.value) is APIConnectionError
    assert info.value.request_sent is False
    assert not isinstance(info.value, APIStatusError)


@pytest.mark.parametrize(
    ("status", "cls"), [(403, PermissionDeniedError), (409, ConflictError)], ids=["403", "409"]
)
def test_a_status_error_over_the_wire_has_its_class_and_reply(
    local: LocalEndpoint, ep: Endpoint, status: int, cls: type[APIStatusError]
) -> None:
    job = ep.run({"task": "echo"})
    local.faults.add(Fault("status", "http_error", status=status, times=1))
    with pytest.raises(APIError) as info:
        ep.status(job.id)
    assert type(info.value) is cls
    assert (info.value.status_code, info.value.job_id) == (status, job.id)
    assert info.value.body and "content-type" in {k.lower() for k in info.value.headers}


def test_wait_and_run_sync_return_states_and_a_late_cancel_keeps_the_output(
    ep: Endpoint,
) -> None:
    job = ep.run({"task": "echo", "n": 1})
    finished = job.wait(timeout=30)
    assert isinstance(finished, JobState)
    assert (finished.status, finished.output) == (JobStatus.COMPLETED, {"task": "echo", "n": 1})
    kept = job.cancel()  # the server answers {"id", "status": "COMPLETED"}: no output
    assert kept is finished and job.last_state is finished
    assert ep.cancel(job.id).output is None  # by id there is nothing to keep
    state = ep.run_sync({"task": "echo", "n": 2}, timeout=30)
    assert isinstance(state, JobState) and state.output == {"task": "echo", "n": 2}


@pytest.mark.parametrize("backend", BACKENDS)
async def test_the_asyncio_client_keeps_the_output_on_either_backend(
    local: LocalEndpoint, backend: str
) -> None:
    local.faults.clear()
    async with AsyncEndpoint(
        local.endpoint_id,
        base_url=local.base_url,
        api_key=local.api_key,
        retry_policy=FAST_RETRY,
        poll_policy=FAST_POLL,
        http_backend=backend,  # type: ignore[arg-type]
    ) as ep:
        job = await ep.run({"task": "echo", "b": backend})
        finished = await job.wait(timeout=30)
        assert finished.output == {"task": "echo", "b": backend}
        assert await job.cancel() is finished


@pytest.mark.parametrize("backend", BACKENDS)
async def test_a_timeout_s_read_phase_bounds_a_hung_reply_on_either_backend(
    local: LocalEndpoint, backend: str
) -> None:
    local.faults.clear()
    local.faults.add(Fault("health", "hang", times=1))
    try:
        async with AsyncEndpoint(
            local.endpoint_id,
            base_url=local.base_url,
            api_key=local.api_key,
            max_retries=0,
            timeout=Timeout(10, read=0.3),
            http_backend=backend,  # type: ignore[arg-type]
        ) as ep:
            started = time.monotonic()
            with pytest.raises(APITimeoutError):
                await ep.health()
            elapsed = time.monotonic() - started
    finally:
        local.faults.clear()
    assert 0.25 <= elapsed < 5, elapsed


def test_a_timeout_bounds_the_blocking_client_too(local: LocalEndpoint) -> None:
    local.faults.clear()
    local.faults.add(Fault("health", "hang", times=1))
    try:
        with connect(local, retry_policy=None, max_retries=0, timeout=Timeout(10, read=0.3)) as ep:
            started = time.monotonic()
            with pytest.raises(APIError) as info:  # a timeout is an APIError too
                ep.health()
            elapsed = time.monotonic() - started
    finally:
        local.faults.clear()
    assert isinstance(info.value, APITimeoutError) and isinstance(info.value, TimeoutError)
    assert 0.25 <= elapsed < 5, elapsed
