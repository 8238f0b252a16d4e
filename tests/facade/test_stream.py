"""Streaming: chunks in order across polls, every terminal status, deadlines, early exit."""

from __future__ import annotations

import httpx
import pytest

from runpod_facade import JobFailed, JobStatus, JobTimedOut, StreamIdleTimeout, WaitTimeout
from tests._support.fakeapi import FakeApi, chunks, job


def test_stream_yields_outputs_in_order_until_completed() -> None:
    api = FakeApi().on(
        "stream",
        chunks("IN_QUEUE"),
        chunks("IN_PROGRESS", "a", "b"),
        chunks("IN_PROGRESS", {"token": "c"}),
        chunks("COMPLETED"),
    )
    stream = api.endpoint().job("job-1").stream(timeout=30)
    assert list(stream) == ["a", "b", {"token": "c"}]
    assert stream.status is JobStatus.COMPLETED
    assert stream.progress.chunks == 3
    for request in (r for r in api.requests if "/stream/" in r.url.path):
        wait = int(request.url.params["wait"])
        assert 1000 <= wait <= 10_000
        assert request.extensions["timeout"]["read"] > wait / 1000


def test_stream_keeps_chunks_arriving_with_the_terminal_reply() -> None:
    api = FakeApi().on("stream", chunks("COMPLETED", 1, 2, 3))
    assert list(api.endpoint().stream("job-1")) == [1, 2, 3]


def test_stream_ends_on_cancelled_without_raising() -> None:
    api = FakeApi().on("stream", chunks("IN_PROGRESS", "x"), chunks("CANCELLED"))
    stream = api.endpoint().stream("job-1")
    assert list(stream) == ["x"]
    assert stream.status is JobStatus.CANCELLED


def test_stream_raises_job_failed_with_error_from_the_reply() -> None:
    api = FakeApi().on("stream", chunks("IN_PROGRESS", "x"), chunks("FAILED", error="kaboom"))
    got: list[object] = []
    with pytest.raises(JobFailed) as info:
        for item in api.endpoint().stream("job-1"):
            got.append(item)
    assert got == ["x"]
    # /status is asked for the whole final state; without an answer the reply's error stands.
    assert info.value.error == "kaboom"
    assert api.ops() == ["stream", "stream", "status"]


def test_stream_failure_without_error_fetches_status() -> None:
    api = FakeApi().on("stream", chunks("FAILED")).on("status", job("FAILED", error="from status"))
    with pytest.raises(JobFailed) as info:
        list(api.endpoint().stream("job-1"))
    assert info.value.error == "from status"


def test_stream_raises_on_timed_out() -> None:
    api = FakeApi().on("stream", chunks("TIMED_OUT", error="execution timeout"))
    with pytest.raises(JobTimedOut):
        list(api.endpoint().stream("job-1"))


def test_stream_total_timeout() -> None:
    api = FakeApi()

    def tick(request: httpx.Request) -> httpx.Response:
        api.clock.advance(0.05)  # each reply takes a little while
        return chunks("IN_PROGRESS", "tick")

    api.on("stream", tick)
    with pytest.raises(WaitTimeout) as info:
        for _ in api.endpoint(fake_time=True).stream("job-1", timeout=0.2):
            pass
    # It stops with the first reply past its deadline (each reply takes 0.05 s here).
    assert 0.2 <= api.clock.elapsed <= 0.25 + 1e-9
    assert not isinstance(info.value, StreamIdleTimeout)
    assert info.value.job_id == "job-1"


def test_stream_idle_timeout() -> None:
    api = FakeApi().on("stream", chunks("IN_PROGRESS", "first"), chunks("IN_PROGRESS"))
    got: list[object] = []
    with pytest.raises(StreamIdleTimeout) as info:
        for item in api.endpoint(fake_time=True).stream("job-1", idle_timeout=0.2):
            got.append(item)
    assert api.clock.elapsed == pytest.approx(0.2)
    assert got == ["first"]
    assert info.value.job_id == "job-1"


def test_breaking_out_early_stops_polling() -> None:
    api = FakeApi().on("stream", chunks("IN_PROGRESS", 1, 2, 3))
    with api.endpoint().stream("job-1") as stream:
        for item in stream:
            if item == 2:
                break
    count = len(api.requests)
    assert count == 1
    assert list(stream) == []  # closed: nothing more, no more requests
    assert len(api.requests) == count


def test_stream_retries_transient_errors() -> None:
    api = FakeApi().on(
        "stream", httpx.Response(502, text="bad gateway"), chunks("COMPLETED", "only")
    )
    assert list(api.endpoint().stream("job-1")) == ["only"]


def test_stream_tolerates_missing_stream_key_and_extra_chunk_fields() -> None:
    api = FakeApi().on(
        "stream",
        httpx.Response(200, json={"status": "IN_PROGRESS"}),
        httpx.Response(
            200, json={"status": "COMPLETED", "stream": [{"output": "x", "metrics": {"t": 1}}]}
        ),
    )
    assert list(api.endpoint().stream("job-1")) == ["x"]
