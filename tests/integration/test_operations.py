"""Every operation through real loopback sockets against the local endpoint."""

from __future__ import annotations

import asyncio
import time

import pytest

from runpod_facade import (
    AuthenticationError,
    BadRequestError,
    Endpoint,
    JobCancelled,
    JobFailed,
    JobStatus,
    JobTimedOut,
    NotFoundError,
    WaitTimeout,
)
from runpod_facade.local import LocalEndpoint
from runpod_facade.testing import EndpointFactory
from tests._support.handlers import dispatch, streamer

from .conftest import connect


def test_run_then_wait(ep: Endpoint) -> None:
    job = ep.run({"task": "echo", "n": 1})
    assert job.wait(timeout=30).output == {"task": "echo", "n": 1}
    state = job.last_state
    assert state is not None and state.is_completed
    assert state.execution_time is not None


def test_run_sync_returns_completed_state(ep: Endpoint) -> None:
    state = ep.run_sync({"task": "echo", "x": "y"}, timeout=30)
    assert state.status is JobStatus.COMPLETED
    assert state.output == {"task": "echo", "x": "y"}
    assert state.id.startswith("sync-")


def test_run_sync_longer_than_its_first_hold_keeps_waiting(ep: Endpoint) -> None:
    # The server holds /runsync at most `wait`; a 2.5 s job with a 4 s budget needs the
    # non-terminal reply to be followed by long-polls on the same job id.
    state = ep.run_sync({"task": "sleep", "seconds": 2.5}, timeout=4.0)
    assert state.output == {"slept": 2.5}


def test_failed_job_raises_with_worker_error(ep: Endpoint) -> None:
    job = ep.run({"task": "fail", "message": "bad prompt"})
    with pytest.raises(JobFailed) as info:
        job.wait(timeout=30)
    assert info.value.job_id == job.id
    assert "bad prompt" in (info.value.error or "")
    details = info.value.error_details
    assert details is not None and details.get("error_type") == "ValueError"


def test_retry_a_failed_job_keeps_its_id(ep: Endpoint) -> None:
    job = ep.run({"task": "fail"})
    with pytest.raises(JobFailed):
        job.wait(timeout=30)
    requeued = job.retry()  # a handle's methods return states; ep.retry(id) a handle
    assert (requeued.id, requeued.status) == (job.id, JobStatus.IN_QUEUE)
    assert job.last_state == requeued
    with pytest.raises(JobFailed):
        job.wait(timeout=30)
    assert ep.health().jobs.retried >= 1


def test_retry_of_a_completed_job_is_a_bad_request(ep: Endpoint) -> None:
    job = ep.run({"task": "echo"})
    job.wait(timeout=30)
    with pytest.raises(BadRequestError) as info:
        job.retry()
    assert info.value.job_id == job.id


def test_cancel_a_running_job(ep: Endpoint) -> None:
    job = ep.run({"task": "sleep", "seconds": 20})
    time.sleep(0.2)
    state = job.cancel()
    assert state.status is JobStatus.CANCELLED
    with pytest.raises(JobCancelled):
        job.wait(timeout=10)


def test_wait_timeout_then_cancel_on_timeout(ep: Endpoint) -> None:
    job = ep.run({"task": "sleep", "seconds": 20})
    started = time.monotonic()
    with pytest.raises(WaitTimeout) as info:
        job.wait(timeout=1.5, cancel_on_timeout=True)
    assert time.monotonic() - started < 8
    assert info.value.cancelled
    assert info.value.job_id == job.id
    assert ep.status(job.id).status is JobStatus.CANCELLED


def test_status_of_unknown_job_is_not_found(ep: Endpoint) -> None:
    with pytest.raises(NotFoundError) as info:
        ep.status("no-such-job")
    assert info.value.job_id == "no-such-job"


def test_reattach_by_id_from_another_client(ep: Endpoint, local: LocalEndpoint) -> None:
    job = ep.run({"task": "echo", "v": 3})
    with connect(local) as other:
        assert other.job(job.id).wait(timeout=30).output == {"task": "echo", "v": 3}


def test_health_and_purge_queue(runpod_endpoint: EndpointFactory) -> None:
    ep = runpod_endpoint(dispatch, workers=1)
    blocker = ep.run({"task": "sleep", "seconds": 3})
    queued = [ep.run({"task": "echo", "i": i}) for i in range(4)]
    time.sleep(0.3)
    health = ep.health()
    assert health.jobs.in_queue == 4
    assert health.jobs.in_progress == 1
    result = ep.purge_queue()
    assert result.removed == 4
    assert ep.health().jobs.in_queue == 0
    # What the real API reports for a purged job is undocumented; the local endpoint ends
    # it CANCELLED so that anyone waiting on it is told instead of waiting forever.
    with pytest.raises(JobCancelled):
        queued[0].wait(timeout=10)
    blocker.cancel()


def test_wrong_api_key_is_an_authentication_error(local: LocalEndpoint) -> None:
    ep = Endpoint(local.endpoint_id, base_url=local.base_url, api_key="rp_wrong_key_value")
    with ep, pytest.raises(AuthenticationError) as info:
        ep.health()
    assert info.value.status_code == 401


def test_stream_generator_handler(runpod_endpoint: EndpointFactory) -> None:
    ep = runpod_endpoint(streamer, workers=4)
    job = ep.run({"count": 6, "delay": 0.05})
    stream = job.stream(timeout=30)
    assert list(stream) == [{"i": i} for i in range(6)]
    assert stream.status is JobStatus.COMPLETED


def test_stream_failure_raises_after_partial_output(runpod_endpoint: EndpointFactory) -> None:
    ep = runpod_endpoint(streamer, workers=4)
    job = ep.run({"task": "fail"})
    got: list[object] = []
    with pytest.raises(JobFailed) as info:
        for chunk in job.stream(timeout=30):
            got.append(chunk)
    assert got == ["partial"]
    assert "stream broke" in (info.value.error or "")


def test_stream_ends_when_cancelled(runpod_endpoint: EndpointFactory) -> None:
    ep = runpod_endpoint(streamer, workers=4)
    job = ep.run({"count": 1000, "delay": 0.05})
    stream = job.stream(timeout=30)
    got = []
    for chunk in stream:
        got.append(chunk)
        if len(got) == 3:
            ep.cancel(job.id)
    assert stream.status is JobStatus.CANCELLED
    assert 3 <= len(got) < 1000


def test_stream_idle_timeout_over_loopback(ep: Endpoint) -> None:
    from runpod_facade import StreamIdleTimeout

    job = ep.run({"task": "sleep", "seconds": 10})
    with pytest.raises(StreamIdleTimeout):
        list(job.stream(idle_timeout=1.5))
    job.cancel()


def test_retry_failed_over_loopback_keeps_the_history(ep: Endpoint) -> None:
    job = ep.run({"task": "fail", "message": "always"})
    with pytest.raises(JobFailed) as info:
        job.wait(timeout=30, retry_failed=2)
    assert len(info.value.attempts) == 3
    assert all("always" in (a.error or "") for a in info.value.attempts)


@pytest.mark.parametrize(
    ("timeout_status", "error"), [("TIMED_OUT", JobTimedOut), ("FAILED", JobFailed)]
)
def test_an_execution_timeout_in_either_live_form_is_a_timeout(
    timeout_status: str, error: type[Exception]
) -> None:
    async def slow(job: dict[str, object]) -> None:
        await asyncio.sleep(5)

    local = LocalEndpoint(slow, execution_timeout_s=0.2, timeout_status=timeout_status)  # type: ignore[arg-type]
    with local, connect(local) as ep, pytest.raises(error) as caught:
        ep.run_sync({}, timeout=30, retry_failed=1)
    # retry_failed requeues either form once; both attempts are kept, each a timeout.
    attempts = caught.value.attempts  # type: ignore[attr-defined]
    assert len(attempts) == 2
    assert all(state.is_timeout for state in attempts)
    if timeout_status == "FAILED":
        assert attempts[0].error == "job timed out after 1 retries"
        assert attempts[0].retries == 1
