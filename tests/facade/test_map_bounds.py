"""A batch holds no more threads, tasks or inputs than the client can really have in flight
(``MAX_CONCURRENCY``), whatever ``concurrency`` the caller asks for — and still yields every
item."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from runpod_facade import AsyncEndpoint, BatchItem, Endpoint, PollPolicy
from runpod_facade._constants import MAX_CONCURRENCY
from runpod_facade.local import LocalEndpoint

from .mapfake import FakeJobs, completes

COUNT = 500
HUGE = 100_000


#: Batch workers of earlier tests may still be alive (daemon threads blocked in a long-poll
#: until their request ends): only threads started since the test began are counted.
_before: set[int] = set()


@pytest.fixture(autouse=True)
def _older_threads() -> None:
    _before.clear()
    _before.update(thread.ident or 0 for thread in threading.enumerate())


def batch_threads() -> int:
    """The batch worker threads started during this test and alive now."""
    return sum(
        thread.name == "runpod-batch" and thread.ident not in _before
        for thread in threading.enumerate()
    )


def counted(count: int, read: list[int]) -> Iterator[dict[str, int]]:
    for n in range(count):
        read.append(n)
        yield {"n": n}


def watched(measure: Callable[[], int]) -> tuple[FakeJobs, list[int]]:
    """A fake whose every request records ``measure()`` as the server sees it: the jobs
    complete at once, so the batch's threads or tasks are counted while they are busy."""
    fake = FakeJobs(auto=completes)
    seen: list[int] = []
    sync_handler, async_handler = fake._sync_handler, fake._async_handler

    def on_sync(request: httpx.Request) -> httpx.Response:
        seen.append(measure())
        return sync_handler(request)

    def on_async(request: httpx.Request) -> Any:
        seen.append(measure())
        return async_handler(request)

    fake._sync_handler, fake._async_handler = on_sync, on_async  # type: ignore[method-assign]
    return fake, seen


def test_threads_stay_at_the_in_flight_limit() -> None:
    fake, seen = watched(batch_threads)
    read: list[int] = []
    most_ahead = 0
    outputs: list[Any] = []
    with fake.endpoint() as ep:
        for item in ep.map(counted(COUNT, read), concurrency=HUGE):
            most_ahead = max(most_ahead, len(read) - len(outputs))
            outputs.append(item.output)
    assert sorted(outputs) == list(range(COUNT))
    assert 0 < max(seen) <= MAX_CONCURRENCY
    assert most_ahead <= MAX_CONCURRENCY  # inputs are read no faster than slots free up


async def test_async_tasks_stay_at_the_in_flight_limit() -> None:
    baseline = len(asyncio.all_tasks())  # this test's own task
    fake, seen = watched(lambda: len(asyncio.all_tasks()) - baseline)
    read: list[int] = []
    most_ahead = 0
    outputs: list[Any] = []
    async with fake.async_endpoint() as ep:
        async for item in ep.map(counted(COUNT, read), concurrency=HUGE):
            most_ahead = max(most_ahead, len(read) - len(outputs))
            outputs.append(item.output)
    assert sorted(outputs) == list(range(COUNT))
    assert 0 < max(seen) <= MAX_CONCURRENCY
    assert most_ahead <= MAX_CONCURRENCY


@pytest.fixture(scope="module")
def quick() -> Iterator[LocalEndpoint]:
    with LocalEndpoint(lambda job: job["input"]["n"], workers=8) as local:
        yield local


def check_items(items: list[BatchItem]) -> None:
    """Every input yielded once, and every item completed with its own output.

    Over loopback nothing may fail, however loaded the machine: the local server keeps an
    idle connection longer than the client's pool does (``KEEP_ALIVE_S``, checked by
    tests/local/test_keep_alive.py), so it never closes one a client is about to reuse. At
    uvicorn's 5 s it did: a /runsync written into a connection the server had just closed
    came back "connection reset by peer", and as a submit that may have reached the server
    it is rightly not re-sent, so its item failed.
    """
    assert sorted(item.index for item in items) == list(range(COUNT))
    failed = {item.index: repr(item.error) for item in items if not item.ok}
    assert not failed, f"{len(failed)} items failed: {list(failed.items())[:3]}"
    assert all(item.output == item.index for item in items)


def test_loopback_huge_concurrency_is_bounded(quick: LocalEndpoint) -> None:
    poll = PollPolicy(initial=0.02, maximum=0.1)
    most = 0
    items: list[BatchItem] = []
    with Endpoint(
        quick.endpoint_id, base_url=quick.base_url, api_key=quick.api_key, poll_policy=poll
    ) as ep:
        for item in ep.map(({"n": n} for n in range(COUNT)), concurrency=HUGE):
            most = max(most, batch_threads())
            items.append(item)
    check_items(items)
    assert 0 < most <= MAX_CONCURRENCY


async def test_async_loopback_huge_concurrency_is_bounded(quick: LocalEndpoint) -> None:
    poll = PollPolicy(initial=0.02, maximum=0.1)
    most = 0
    items: list[BatchItem] = []
    async with AsyncEndpoint(
        quick.endpoint_id, base_url=quick.base_url, api_key=quick.api_key, poll_policy=poll
    ) as ep:
        baseline = len(asyncio.all_tasks())
        async for item in ep.map(({"n": n} for n in range(COUNT)), concurrency=HUGE):
            most = max(most, len(asyncio.all_tasks()) - baseline)
            items.append(item)
    check_items(items)
    assert 0 < most <= MAX_CONCURRENCY
