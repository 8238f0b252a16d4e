"""run_many: bounded concurrency, input order, fail-fast with remote cancel, return_exceptions."""

from __future__ import annotations

import itertools
import json

import httpx
import pytest

from runpod_facade import InvalidInputError, JobFailed, JobState

from .fakeapi import FakeApi, job


def numbered_api(fail_on: int | None = None) -> FakeApi:
    """/run issues ids j0, j1, …; job jN completes with output N (or FAILS when N == fail_on)."""
    counter = itertools.count()

    def run(request: httpx.Request) -> httpx.Response:
        n = next(counter)
        assert json.loads(request.content)["input"] == {"n": n}
        return job("IN_QUEUE", f"j{n}")

    def settle(request: httpx.Request) -> httpx.Response:
        job_id = request.url.path.rsplit("/", 1)[1]
        n = int(job_id[1:])
        if n == fail_on:
            return job("FAILED", job_id, error=f"bad {n}")
        return job("COMPLETED", job_id, output=n)

    return (
        FakeApi().on("run", run).on("status-sync", settle).on("cancel", lambda r: job("CANCELLED", r.url.path.rsplit("/", 1)[1]))
    )


def test_sync_run_many_keeps_input_order_and_bounds_the_window() -> None:
    api = numbered_api()
    states = api.endpoint().run_many([{"n": i} for i in range(10)], concurrency=3)
    assert [s.output for s in states] == list(range(10))
    # With a window of 3 the first wait happens after exactly 3 submits.
    assert api.ops()[:4] == ["run", "run", "run", "status-sync"]


def test_sync_run_many_fail_fast_cancels_jobs_in_flight() -> None:
    api = numbered_api(fail_on=1)
    with pytest.raises(JobFailed) as info:
        api.endpoint().run_many([{"n": i} for i in range(6)], concurrency=3)
    assert info.value.job_id == "j1"
    cancelled = [r.url.path.rsplit("/", 1)[1] for r in api.requests if "/cancel/" in r.url.path]
    assert sorted(cancelled) == ["j1", "j2", "j3"]
    assert api.ops().count("run") == 4  # nothing submitted after the failure


def test_sync_run_many_return_exceptions() -> None:
    api = numbered_api(fail_on=2)
    results = api.endpoint().run_many([{"n": i} for i in range(4)], return_exceptions=True)
    assert [type(r).__name__ for r in results] == ["JobState", "JobState", "JobFailed", "JobState"]
    assert "cancel" not in api.ops()


def test_run_many_checks_every_input_before_sending() -> None:
    api = numbered_api()
    with pytest.raises(InvalidInputError):
        api.endpoint().run_many([{"n": 0}, {"n": {1, 2}}])
    assert api.requests == []
    with pytest.raises(InvalidInputError, match="concurrency"):
        api.endpoint().run_many([{"n": 0}], concurrency=0)
    with pytest.raises(InvalidInputError, match="iterable of inputs"):
        api.endpoint().run_many({"n": 0})


async def test_async_run_many_order_and_concurrency() -> None:
    api = numbered_api()
    async with api.async_endpoint() as ep:
        states = await ep.run_many([{"n": i} for i in range(50)], concurrency=8)
    assert all(isinstance(s, JobState) for s in states)
    assert sorted(s.output for s in states) == list(range(50))
    assert len(states) == 50


async def test_async_run_many_fail_fast_and_return_exceptions() -> None:
    api = numbered_api(fail_on=3)
    async with api.async_endpoint() as ep:
        with pytest.raises(JobFailed):
            await ep.run_many([{"n": i} for i in range(5)], concurrency=5)
        results = await ep.run_many([{"n": i} for i in range(5, 10)], return_exceptions=True)
    assert all(isinstance(r, JobState) for r in results)
