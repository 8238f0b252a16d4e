"""run / run_sync: what is sent, what comes back, and that a submit is never duplicated."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest

from runpod_facade import (
    APIConnectionError,
    APITimeoutError,
    ExecutionPolicy,
    Input,
    InternalServerError,
    InvalidInputError,
    JobCancelled,
    JobFailed,
    JobStatus,
    JobTimedOut,
    RateLimitError,
    S3Config,
    WaitTimeout,
)
from tests._support.fakeapi import API_KEY, FakeApi, job


def test_run_sends_body_policy_webhook_s3_and_auth() -> None:
    api = FakeApi().on("run", job("IN_QUEUE", "abc-u1"))
    with api.endpoint() as ep:
        handle = ep.run(
            {"prompt": "hi"},
            policy=ExecutionPolicy(
                execution_timeout=300, ttl=timedelta(hours=1), low_priority=True
            ),
            webhook="https://example.com/hook",
            s3_config=S3Config("id", "secret", "bucket", "https://s3.example.com", "out/"),
        )
    assert handle.id == "abc-u1"
    assert handle.last_state is not None and handle.last_state.status is JobStatus.IN_QUEUE
    (request,) = api.requests
    assert request.method == "POST"
    assert request.url.path == "/v2/ep-1/run"
    assert request.headers["authorization"] == f"Bearer {API_KEY}"
    assert request.headers["content-type"] == "application/json"
    assert api.bodies("run") == [
        {
            "input": {"prompt": "hi"},
            "webhook": "https://example.com/hook",
            "policy": {"executionTimeout": 300_000, "ttl": 3_600_000, "lowPriority": True},
            "s3Config": {
                "accessId": "id",
                "accessSecret": "secret",
                "bucketName": "bucket",
                "endpointUrl": "https://s3.example.com",
                "objectPath": "out/",
            },
        }
    ]


@pytest.mark.parametrize(
    "value", [None, 0, "text", [1, 2], {}, {"i": 1}, {"input": {}, "other": 1}]
)
def test_run_sends_input_verbatim_never_rewrapped(value: object) -> None:
    api = FakeApi().on("run", job("IN_QUEUE"))
    api.endpoint().run(value)
    assert api.bodies("run") == [{"input": value}]


@pytest.mark.parametrize("call", ["run", "run_sync"])
def test_an_already_wrapped_input_is_refused_before_sending(call: str) -> None:
    # The JS/Go SDKs take {"input": ...}; passing that here would send {"input": {"input": ...}}.
    api = FakeApi().on("run", job("IN_QUEUE")).on("runsync", job("COMPLETED"))
    with pytest.raises(InvalidInputError, match=r"runpod_facade\.Input"):
        getattr(api.endpoint(), call)({"input": {"prompt": "hi"}})
    assert api.requests == []


def test_input_wrapper_sends_a_single_input_key_on_purpose() -> None:
    api = FakeApi().on("run", job("IN_QUEUE"))
    api.endpoint().run(Input({"input": {"prompt": "hi"}}))
    assert api.bodies("run") == [{"input": {"input": {"prompt": "hi"}}}]


def test_run_is_not_resent_after_a_5xx() -> None:
    api = FakeApi().on("run", httpx.Response(500, json={"error": "boom"}))
    with pytest.raises(InternalServerError) as info:
        api.endpoint().run({})
    assert info.value.status_code == 500
    assert info.value.message == "boom"
    assert api.ops() == ["run"]


def test_run_is_resent_after_429_refusal() -> None:
    api = FakeApi().on(
        "run", httpx.Response(429, headers={"Retry-After": "0"}, text="slow down"), job("IN_QUEUE")
    )
    assert api.endpoint().run({}).id == "job-1"
    assert api.ops() == ["run", "run"]


def test_run_is_resent_after_connect_error_since_it_never_left() -> None:
    api = FakeApi().on("run", httpx.ConnectError("refused"), job("IN_QUEUE"))
    assert api.endpoint().run({}).id == "job-1"
    assert api.ops() == ["run", "run"]


@pytest.mark.parametrize(
    "failure",
    [httpx.ReadTimeout("slow"), httpx.RemoteProtocolError("dropped"), httpx.ReadError("reset")],
)
def test_run_is_not_resent_when_the_reply_was_lost(failure: Exception) -> None:
    api = FakeApi().on("run", failure, job("IN_QUEUE"))
    with pytest.raises(APIConnectionError) as info:
        api.endpoint().run({})
    assert info.value.request_sent is True
    assert "not re-sent" in str(info.value)
    assert isinstance(info.value, APITimeoutError) == isinstance(failure, httpx.TimeoutException)
    assert api.ops() == ["run"]


def test_run_429_with_long_retry_after_gives_up_with_the_hint() -> None:
    api = FakeApi().on("run", httpx.Response(429, headers={"Retry-After": "3600"}))
    with pytest.raises(RateLimitError) as info:
        api.endpoint().run({})
    assert info.value.retry_after == 3600
    assert api.ops() == ["run"]


def test_run_sync_terminal_reply_returns_state() -> None:
    api = FakeApi().on(
        "runsync",
        job("COMPLETED", "sync-1", output=[1, 2], delayTime=824, executionTime=3391, workerId="w1"),
    )
    state = api.endpoint().run_sync({"x": 1}, timeout=120)
    assert state.id == "sync-1"
    assert state.output == [1, 2]
    assert state.delay_time == timedelta(milliseconds=824)
    assert state.execution_time == timedelta(milliseconds=3391)
    assert state.worker_id == "w1"
    (request,) = api.requests
    wait = int(request.url.params["wait"])
    assert 1000 <= wait <= 90_000
    assert request.extensions["timeout"]["read"] > wait / 1000


def test_run_sync_short_timeout_sends_matching_wait() -> None:
    api = FakeApi().on("runsync", job("COMPLETED"))
    api.endpoint().run_sync({}, timeout=5)
    wait = int(api.requests[0].url.params["wait"])
    assert 1000 <= wait <= 5000


def test_run_sync_continues_with_long_poll_when_wait_elapses() -> None:
    api = FakeApi().on("runsync", job("IN_PROGRESS", "sync-2"))
    api.on("status-sync", job("IN_PROGRESS", "sync-2"), job("COMPLETED", "sync-2", output="ok"))
    state = api.endpoint().run_sync({}, timeout=60)
    assert state.output == "ok"
    assert api.ops() == ["runsync", "status-sync", "status-sync"]
    assert all("/sync-2" in str(r.url) for r in api.requests[1:])


@pytest.mark.parametrize(
    ("status", "error"),
    [("FAILED", JobFailed), ("CANCELLED", JobCancelled), ("TIMED_OUT", JobTimedOut)],
)
def test_run_sync_raises_for_unsuccessful_terminal_states(status: str, error: type) -> None:
    api = FakeApi().on("runsync", job(status, "sync-3", error="bad things"))
    with pytest.raises(error) as info:
        api.endpoint().run_sync({})
    assert info.value.job_id == "sync-3"
    assert info.value.state.status == status


def test_run_sync_wait_timeout_carries_the_job_id() -> None:
    api = FakeApi().on("runsync", job("IN_QUEUE", "sync-4")).on("status", job("IN_QUEUE", "sync-4"))
    with pytest.raises(WaitTimeout) as info:
        api.endpoint(long_poll=False, fake_time=True).run_sync({}, timeout=1.6)
    assert api.clock.elapsed >= 1.6
    assert info.value.job_id == "sync-4"
    assert info.value.last_state is not None
    assert info.value.last_state.status == "IN_QUEUE"


def test_failed_job_exposes_worker_error_details() -> None:
    error = '{"error_type": "ValueError", "error_message": "bad prompt", "error_traceback": "..."}'
    api = FakeApi().on("runsync", job("FAILED", error=error))
    with pytest.raises(JobFailed) as info:
        api.endpoint().run_sync({})
    assert info.value.error_details == {
        "error_type": "ValueError",
        "error_message": "bad prompt",
        "error_traceback": "...",
    }
    assert "ValueError: bad prompt" in str(info.value)


def test_run_sync_tiny_timeout_still_returns_the_job_id() -> None:
    api = FakeApi()

    def slow_submit(request: httpx.Request) -> httpx.Response:
        api.clock.advance(0.3)  # the reply comes after the deadline
        return job("IN_QUEUE", "sync-5")

    # Under the server's minimum hold, run_sync submits with /run: the id comes back at once,
    # and a slow submit is still read to the end (the id is in its reply).
    api.on("run", slow_submit).on("status", job("IN_QUEUE", "sync-5"))
    with pytest.raises(WaitTimeout) as info:
        api.endpoint(fake_time=True).run_sync({}, timeout=0.1)
    assert info.value.job_id == "sync-5"
    assert api.ops()[0] == "run"


def test_run_sync_submit_read_is_never_cut_below_the_server_hold() -> None:
    api = FakeApi().on("runsync", job("COMPLETED", "sync-6"))
    api.endpoint().run_sync({}, timeout=5)
    (request,) = api.requests
    hold_s = int(request.url.params["wait"]) / 1000
    assert 4.4 < hold_s <= 4.5  # the deadline less the reply grace
    assert request.extensions["timeout"]["read"] >= hold_s
