"""Waiting: long-poll first, /status fallback, one deadline, terminal states, cancel on expiry."""

from __future__ import annotations

import httpx
import pytest

from runpod_facade import (
    JobCancelled,
    JobFailed,
    JobState,
    JobStatus,
    JobTimedOut,
    NotFoundError,
    WaitTimeout,
)
from runpod_facade._core.waiting import LOOK_FLOOR
from tests._support.fakeapi import FakeApi, job


def test_wait_uses_long_poll_with_read_timeout_beyond_the_hold() -> None:
    api = FakeApi().on("status-sync", job("COMPLETED", output={"ok": True}))
    state = api.endpoint().job("job-1").wait(timeout=120)
    assert state.output == {"ok": True} and state.status is JobStatus.COMPLETED
    (request,) = api.requests
    assert request.url.path == "/v2/ep-1/status-sync/job-1"
    wait_s = int(request.url.params["wait"]) / 1000
    assert 1 <= wait_s <= 90
    assert request.extensions["timeout"]["read"] > wait_s


def test_wait_falls_back_to_status_polling_when_long_poll_is_missing() -> None:
    api = FakeApi().on("status-sync", httpx.Response(404, text="Not Found"))
    api.on("status", job("IN_QUEUE"), job("IN_PROGRESS"), job("COMPLETED", output=3))
    ep = api.endpoint()
    assert ep.job("job-1").wait(timeout=30).output == 3
    assert api.ops() == ["status-sync", "status", "status", "status"]
    # Remembered: the next wait goes straight to /status.
    api.requests.clear()
    api.routes["status"] = [job("COMPLETED", output=4)]
    assert ep.job("job-1").wait(timeout=30).output == 4
    assert api.ops() == ["status"]


def test_wait_on_405_also_falls_back() -> None:
    api = FakeApi().on("status-sync", httpx.Response(405))
    api.on("status", job("COMPLETED", output=1))
    assert api.endpoint().job("job-1").wait(timeout=30).output == 1


def test_wait_for_an_unknown_job_raises_not_found_with_the_id() -> None:
    api = FakeApi().on("status-sync", httpx.Response(404, json={"error": "job not found"}))
    api.on("status", httpx.Response(404, json={"error": "job not found"}))
    with pytest.raises(NotFoundError) as info:
        api.endpoint().job("gone-1").wait(timeout=30)
    assert info.value.job_id == "gone-1"
    assert info.value.status_code == 404
    assert "job not found" in str(info.value)


@pytest.mark.parametrize(
    ("status", "error"),
    [("FAILED", JobFailed), ("CANCELLED", JobCancelled), ("TIMED_OUT", JobTimedOut)],
)
def test_wait_raises_with_the_whole_snapshot(status: str, error: type) -> None:
    api = FakeApi().on(
        "status-sync", job(status, error="why", delayTime=10, executionTime=20, retries=1)
    )
    with pytest.raises(error) as info:
        api.endpoint().job("job-1").wait(timeout=30)
    state = info.value.state
    assert state.status == status
    assert state.error == "why"
    assert state.retries == 1
    assert state.raw["executionTime"] == 20


def test_wait_timeout_covers_the_whole_wait_and_keeps_last_state() -> None:
    api = FakeApi().on("status", job("IN_PROGRESS", output={"progress": 40}))
    ep = api.endpoint(long_poll=False, fake_time=True)
    handle = ep.job("job-1")
    with pytest.raises(WaitTimeout) as info:
        handle.wait(timeout=0.3)
    assert api.clock.elapsed == pytest.approx(0.3)  # polls until the deadline, not past it
    assert info.value.job_id == "job-1"
    assert info.value.cancelled is False
    assert info.value.last_state is not None
    assert info.value.last_state.output == {"progress": 40}
    assert isinstance(info.value, TimeoutError)
    assert handle.last_state is not None and handle.last_state.status is JobStatus.IN_PROGRESS
    assert "cancel" not in api.ops()


def test_cancel_on_timeout_cancels_the_remote_job() -> None:
    api = FakeApi().on("status", job("IN_QUEUE")).on("cancel", job("CANCELLED"))
    with pytest.raises(WaitTimeout) as info:
        api.endpoint(long_poll=False).job("job-1").wait(timeout=0.1, cancel_on_timeout=True)
    assert info.value.cancelled is True
    assert api.ops()[-1] == "cancel"
    assert api.requests[-1].url.path == "/v2/ep-1/cancel/job-1"


def test_unknown_status_is_not_terminal_and_reaches_the_caller() -> None:
    api = FakeApi().on("status", job("PAUSED"), job("COMPLETED", output="done"))
    seen: list[object] = []
    out = (
        api.endpoint(long_poll=False)
        .job("job-1")
        .wait(timeout=10, on_status=lambda s: seen.append(s.status))
    )
    assert out.output == "done"
    assert seen == ["PAUSED", JobStatus.COMPLETED]
    assert type(seen[0]) is str


def test_transient_errors_while_waiting_are_retried() -> None:
    api = FakeApi().on(
        "status-sync",
        httpx.Response(503, text="<html>unavailable</html>"),
        httpx.ReadTimeout("slow"),
        httpx.Response(520, text=""),
        job("COMPLETED", output=1),
    )
    assert api.endpoint().job("job-1").wait(timeout=30).output == 1
    assert api.ops() == ["status-sync"] * 4


def test_a_hung_server_ends_as_wait_timeout_not_a_read_error() -> None:
    api = FakeApi()

    def hang(request: httpx.Request) -> httpx.Response:
        timeout = request.extensions["timeout"]["read"]
        assert timeout is not None and timeout <= 1.0  # capped by the deadline
        api.clock.advance(timeout)  # what a real hung server costs
        raise httpx.ReadTimeout("hung")

    api.on("status-sync", hang).on("status", hang)
    with pytest.raises(WaitTimeout):
        api.endpoint(fake_time=True).job("job-1").wait(timeout=0.5)
    # The first look is one whole request (at least LOOK_FLOOR); nothing after it.
    assert api.clock.elapsed == pytest.approx(max(0.5, LOOK_FLOOR))


def test_ids_are_path_escaped() -> None:
    api = FakeApi().on("status", job("COMPLETED", "a/b?c"))
    state = api.endpoint().status("a/b?c")
    assert state.id == "a/b?c"
    assert api.requests[0].url.raw_path.decode() == "/v2/ep-1/status/a%2Fb%3Fc"


def test_status_ttl_is_sent_in_ms() -> None:
    api = FakeApi().on("status", job("COMPLETED"))
    api.endpoint().status("job-1", ttl=6)
    assert api.requests[0].url.params["ttl"] == "6000"


def test_retry_failed_requeues_and_succeeds() -> None:
    api = FakeApi().on(
        "status-sync", job("FAILED", error="flaky"), job("COMPLETED", output="second time")
    )
    api.on("retry", job("IN_QUEUE"))
    assert api.endpoint().job("job-1").wait(timeout=30, retry_failed=2).output == "second time"
    assert api.ops() == ["status-sync", "retry", "status-sync"]


def test_retry_failed_gives_up_with_every_attempt() -> None:
    api = FakeApi().on(
        "status-sync",
        job("FAILED", error="e1"),
        job("TIMED_OUT", error="e2"),
        job("FAILED", error="e3"),
    )
    api.on("retry", job("IN_QUEUE"))
    with pytest.raises(JobFailed) as info:
        api.endpoint().job("job-1").wait(timeout=30, retry_failed=2)
    assert [a.error for a in info.value.attempts] == ["e1", "e2", "e3"]
    assert api.ops().count("retry") == 2


def test_retry_failed_does_not_retry_cancelled() -> None:
    api = FakeApi().on("status-sync", job("CANCELLED")).on("retry", job("IN_QUEUE"))
    with pytest.raises(JobCancelled):
        api.endpoint().job("job-1").wait(timeout=30, retry_failed=3)
    assert "retry" not in api.ops()


def test_retry_failed_when_retry_is_refused_raises_the_job_error() -> None:
    api = FakeApi().on("status-sync", job("FAILED", error="e1"))
    api.on("retry", httpx.Response(400, json={"error": "expired"}))
    with pytest.raises(JobFailed) as info:
        api.endpoint().job("job-1").wait(timeout=30, retry_failed=1)
    assert "expired" in str(info.value.__cause__)


def test_run_sync_retry_failed() -> None:
    api = FakeApi().on("runsync", job("FAILED", "sync-9", error="first"))
    api.on("retry", job("IN_QUEUE", "sync-9")).on(
        "status-sync", job("COMPLETED", "sync-9", output=1)
    )
    assert api.endpoint().run_sync({}, retry_failed=1).output == 1
    assert api.ops() == ["runsync", "retry", "status-sync"]


@pytest.mark.parametrize(
    ("status", "error", "expected"),
    [
        ("TIMED_OUT", None, True),
        ("FAILED", "job timed out after 1 retries", True),
        ("FAILED", "Job timed out after 2 retries.", True),
        ("FAILED", "ValueError: bad input", False),
        ("FAILED", None, False),
        ("COMPLETED", None, False),
    ],
)
def test_is_timeout_reads_both_live_forms(status: str, error: str | None, expected: bool) -> None:
    assert JobState(id="j", status=status, error=error).is_timeout is expected


def test_keyboard_interrupt_can_cancel_the_remote_job() -> None:
    api = FakeApi().on("status", job("IN_PROGRESS")).on("cancel", job("CANCELLED"))

    def interrupt(_state: object) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        api.endpoint(long_poll=False).job("job-1").wait(
            on_status=interrupt, cancel_on_interrupt=True
        )
    assert api.ops() == ["status", "cancel"]
