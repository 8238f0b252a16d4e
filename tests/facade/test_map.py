"""Endpoint.map / AsyncEndpoint.map over a scripted job server: laziness, the in-flight bound,
completion order, per-item errors, the batch deadline, retry_failed, stopping early."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from runpod_facade import (
    APIConnectionError,
    BadRequestError,
    BatchItem,
    BatchTimeout,
    InvalidInputError,
    JobFailed,
    WaitTimeout,
)

from .mapfake import FakeJobs, completes


def threading_finish(fake: FakeJobs, n: int, after: int | None = None) -> None:
    """End job ``n`` from the server's side once ``after`` (default n+1) jobs exist."""
    threading.Thread(
        target=lambda: (fake.wait_submitted(after or n + 1), fake.finish(n)), daemon=True
    ).start()


def numbered(count: int, read: list[int] | None = None) -> Iterator[dict[str, int]]:
    for n in range(count):
        if read is not None:
            read.append(n)
        yield {"n": n}


# --- laziness, bound, order -------------------------------------------------------------------


def test_inputs_are_read_no_faster_than_the_window_allows() -> None:
    fake = FakeJobs(auto=completes)
    read: list[int] = []
    yielded = 0
    with fake.endpoint() as ep:
        for item in ep.map(numbered(200, read), concurrency=4):
            yielded += 1
            # Every input read and not yet yielded is a job in flight: at most 4.
            assert len(read) - yielded <= 4
            assert item.ok and item.output == item.index
    assert yielded == 200 and fake.submitted() == 200
    assert fake.max_open <= 4


async def test_async_inputs_are_read_no_faster_than_the_window_allows() -> None:
    fake = FakeJobs(auto=completes)
    read: list[int] = []
    seen: list[int] = []
    async with fake.async_endpoint() as ep:
        async for item in ep.map(numbered(200, read), concurrency=4):
            seen.append(item.index)
            assert len(read) - len(seen) <= 4
    assert sorted(seen) == list(range(200))
    assert fake.max_open <= 4


async def test_async_map_takes_an_async_iterable() -> None:
    async def inputs() -> Any:
        for n in range(20):
            await asyncio.sleep(0)
            yield {"n": n}

    fake = FakeJobs(auto=completes)
    async with fake.async_endpoint() as ep:
        items = [item async for item in ep.map(inputs(), concurrency=3)]
    assert sorted(i.output for i in items) == list(range(20))


def test_items_come_in_the_order_jobs_end() -> None:
    fake = FakeJobs()
    with fake.endpoint() as ep:
        results = ep.map(numbered(3), concurrency=3)
        threading_finish(fake, 2, after=3)
        assert next(results).index == 2
        fake.finish(0)
        assert next(results).index == 0
        fake.finish(1)
        assert next(results).index == 1
        with pytest.raises(StopIteration):
            next(results)


async def test_async_items_come_in_the_order_jobs_end() -> None:
    fake = FakeJobs()
    async with fake.async_endpoint() as ep:
        results = ep.map(numbered(3), concurrency=3)
        first = asyncio.ensure_future(anext(results))
        await fake.async_wait_submitted(3)
        fake.finish(1)
        assert (await first).index == 1
        fake.finish(2)
        assert (await anext(results)).index == 2
        fake.finish(0)
        assert (await anext(results)).index == 0
        with pytest.raises(StopAsyncIteration):
            await anext(results)


# --- per-item outcomes ------------------------------------------------------------------------


def per_item_fake() -> FakeJobs:
    return FakeJobs(auto=lambda n: ("FAILED", None) if n == 0 else ("COMPLETED", n))


def check_per_item(items: list[BatchItem]) -> None:
    by_index = {item.index: item for item in items}
    assert sorted(by_index) == [0, 1, 2, 3]
    failed, bad, fine, wrapped = by_index[0], by_index[1], by_index[2], by_index[3]
    assert isinstance(failed.error, JobFailed) and failed.final and failed.job_id == "j0"
    assert failed.state is not None and failed.status == "FAILED"
    assert failed.output is None
    with pytest.raises(JobFailed):
        failed.result()
    # A bad input is its item's error; nothing was sent for it.
    assert isinstance(bad.error, InvalidInputError) and bad.job_id is None and bad.final
    assert isinstance(wrapped.error, InvalidInputError) and "Input(" in str(wrapped.error)
    assert fine.ok and fine.output == 2 and fine.result().output == 2


PER_ITEM_INPUTS: list[Any] = [{"n": 0}, {"n": {1, 2}}, {"n": 2}, {"input": {"n": 3}}]


def test_errors_are_items_and_the_batch_goes_on() -> None:
    fake = per_item_fake()
    with fake.endpoint() as ep:
        check_per_item(list(ep.map(PER_ITEM_INPUTS)))
    assert fake.submitted() == 2


async def test_async_errors_are_items_and_the_batch_goes_on() -> None:
    fake = per_item_fake()
    async with fake.async_endpoint() as ep:
        check_per_item([item async for item in ep.map(PER_ITEM_INPUTS)])
    assert fake.submitted() == 2


def test_a_refused_submit_is_a_final_item_and_a_lost_reply_is_not() -> None:
    fake = FakeJobs(auto=completes)
    fake.submit_refusals[0] = 400
    fake.submit_failures[1] = httpx.ReadTimeout("reply lost")
    with fake.endpoint() as ep:
        items = {item.index: item for item in ep.map(numbered(3))}
    assert isinstance(items[0].error, BadRequestError) and items[0].final
    lost = items[1].error
    assert isinstance(lost, APIConnectionError) and lost.request_sent and not items[1].final
    assert items[2].ok


def test_retry_failed_requeues_a_failed_job() -> None:
    fake = FakeJobs(auto=completes, fail_once={1: ("COMPLETED", "second try")})
    with fake.endpoint() as ep:
        items = {item.index: item for item in ep.map(numbered(3), retry_failed=1)}
    assert all(item.ok for item in items.values())
    assert items[1].output == "second try" and items[1].job_id == "j1"
    assert fake.ops("retry") == ["j1"]


def test_without_retry_failed_a_failed_job_stays_failed() -> None:
    fake = FakeJobs(auto=completes, fail_once={1: ("COMPLETED", "second try")})
    with fake.endpoint() as ep:
        items = {item.index: item for item in ep.map(numbered(3))}
    assert isinstance(items[1].error, JobFailed)
    assert fake.count("retry") == 0


def test_short_jobs_cost_one_runsync_each_without_a_journal() -> None:
    fake = FakeJobs(auto=completes)
    with fake.endpoint() as ep:
        assert len(list(ep.map(numbered(10)))) == 10
    assert fake.ops() == ["runsync"] * 10


def test_cancel_on_interrupt_submits_with_run() -> None:
    fake = FakeJobs(auto=completes)
    with fake.endpoint() as ep:
        assert len(list(ep.map(numbered(3), cancel_on_interrupt=True))) == 3
    assert sorted(op for op in fake.ops() if op is not None) == ["run"] * 3 + ["status-sync"] * 3


# --- the deadline -----------------------------------------------------------------------------


def test_the_deadline_ends_waits_and_reading() -> None:
    fake = FakeJobs()  # no job ever ends
    read: list[int] = []
    items: list[BatchItem] = []
    with fake.endpoint() as ep, pytest.raises(BatchTimeout) as info:
        for item in ep.map(numbered(10, read), concurrency=2, timeout=0.3):
            items.append(item)
    assert sorted(item.index for item in items) == [0, 1]
    for item in items:
        assert isinstance(item.error, WaitTimeout) and not item.final
        assert item.job_id == f"j{item.index}" and item.error.job_id == item.job_id
    assert info.value.next_index == 2 and read == [0, 1] and fake.submitted() == 2
    # The jobs go on: the error says so by name.
    notes = "\n".join(info.value.__notes__)
    assert "j0" in notes and "j1" in notes and "left running" in notes


def test_timeout_zero_submits_nothing() -> None:
    fake = FakeJobs(auto=completes)
    with fake.endpoint() as ep, pytest.raises(BatchTimeout) as info:
        list(ep.map(numbered(3), timeout=0))
    assert info.value.next_index == 0 and fake.log == []


async def test_async_deadline() -> None:
    fake = FakeJobs()
    items: list[BatchItem] = []
    async with fake.async_endpoint() as ep:
        with pytest.raises(BatchTimeout) as info:
            async for item in ep.map(numbered(10), concurrency=3, timeout=0.25):
                items.append(item)
    assert sorted(i.index for i in items) == [0, 1, 2]
    assert all(isinstance(i.error, WaitTimeout) for i in items)
    assert info.value.next_index == 3


# --- stopping early ---------------------------------------------------------------------------


def test_breaking_out_leaves_jobs_running_and_submits_nothing_more(
    caplog: pytest.LogCaptureFixture,
) -> None:
    fake = FakeJobs()
    read: list[int] = []
    with fake.endpoint() as ep:
        with ep.map(numbered(100, read), concurrency=3) as results:
            threading_finish(fake, 0, after=3)
            first = next(results)
        assert first.index == 0
        report = results.close()
    assert set(report.left_running) == {"j1", "j2"} and report.cancelled == ()
    assert fake.count("cancel") == 0
    assert len(read) == 3 and fake.submitted() == 3
    assert "left running" in caplog.text


def test_close_with_cancel_cancels_what_is_running() -> None:
    fake = FakeJobs()
    with fake.endpoint() as ep:
        results = ep.map(numbered(100), concurrency=3)
        threading_finish(fake, 0, after=3)
        next(results)
        report = results.close(cancel=True)
    assert set(report.cancelled) >= {"j1", "j2"}
    assert {fake.status_of(j) for j in report.cancelled} == {"CANCELLED"}
    assert report.left_running == () and report.unnamed_submits == 0


def test_map_checks_its_arguments_before_reading_anything() -> None:
    fake = FakeJobs(auto=completes)
    read: list[int] = []
    with fake.endpoint() as ep:
        for bad in (
            {"concurrency": 0},
            {"concurrency": True},
            {"timeout": -1},
            {"retry_failed": -1},
            {"webhook": "not a url"},
            {"policy": {"ttl": 5}},
            {"journal": 42},
            {"replay": "yes"},
        ):
            with pytest.raises(InvalidInputError):
                ep.map(numbered(3, read), **bad)
        for inputs in ("abc", {"n": 1}, 42):
            with pytest.raises(InvalidInputError, match="iterable"):
                ep.map(inputs)  # type: ignore[arg-type]
    assert read == [] and fake.log == []
