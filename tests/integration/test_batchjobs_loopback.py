"""``ep.batches`` (sync and async) against the local endpoint, through real loopback sockets:
the documented sequence create -> add -> finalize -> wait -> results, paging, cancel,
removal, the errors of the state machine and the limits."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from runpod_facade import (
    AsyncEndpoint,
    AuthenticationError,
    BatchStateError,
    Endpoint,
    InvalidInputError,
    NotFoundError,
    RateLimitError,
    WaitTimeout,
)
from runpod_facade._batchjobs import Batches
from runpod_facade._transports.wakeup import WAKE_EVERY
from runpod_facade.local import LocalEndpoint
from runpod_facade.local._batchjobs import BatchLimits
from tests._support.handlers import dispatch
from tests._support.lost_wakeup import seconds_to_act_on_ctrl_c


@pytest.fixture
def local() -> Iterator[LocalEndpoint]:
    with LocalEndpoint(dispatch, workers=2) as ep:
        yield ep


@pytest.fixture
def ep(local: LocalEndpoint) -> Iterator[Endpoint]:
    with Endpoint(local.endpoint_id, base_url=local.base_url, api_key=local.api_key) as client:
        yield client


def _creations(local: LocalEndpoint) -> tuple[int, int]:
    created = local.app.batches.store.created
    batches = sum(1 for c in created if c.request_id is None)
    return batches, len(created) - batches


def test_sync_sequence(ep: Endpoint, local: LocalEndpoint) -> None:
    created = ep.batches.create([{"n": 0}, {"task": "fail", "message": "bad row"}])
    assert created.status == "DRAFT"
    summary = ep.batches.add(created.id, [{"n": i} for i in range(2, 7)])
    assert (summary.status, summary.request_total) == ("DRAFT", 7)
    ep.batches.update(created.id, name="nightly")
    assert ep.batches.finalize(created.id).status == "FINALIZED"
    done = ep.batches.wait(created.id, timeout=10, interval=0.02)
    assert done.done and done.status == "FINALIZED"
    assert (done.request_completed, done.request_failed, done.name) == (6, 1, "nightly")

    results = list(ep.batches.results(created.id, page_size=2))  # four pages
    assert [r.output for r in results if r.status == "COMPLETED"] == [{"n": 0}] + [
        {"n": i} for i in range(2, 7)
    ]
    failed = [r for r in results if r.status == "FAILED"]
    assert len(failed) == 1 and "bad row" in (failed[0].error or "")
    assert len({r.id for r in results}) == 7
    assert [r.id for r in ep.batches.results(created.id, offset=6)] == [results[6].id]
    pages = [r for r in local.requests if r.operation == "batch-requests"]
    assert len(pages) == 5  # 4 pages of 2 + the one at offset 6
    assert [b.id for b in ep.batches.list(page_size=1)] == [created.id]
    assert _creations(local) == (1, 7)


def test_results_page_lazily(ep: Endpoint, local: LocalEndpoint) -> None:
    created = ep.batches.create(list(range(5)))
    iterator = ep.batches.results(created.id, page_size=2)
    assert not [r for r in local.requests if r.operation == "batch-requests"]
    first = next(iterator)
    assert first.status == "IN_QUEUE"  # a DRAFT batch lists its requests, none run
    assert len([r for r in local.requests if r.operation == "batch-requests"]) == 1


def test_remove_cancel_and_state_errors(ep: Endpoint) -> None:
    created = ep.batches.create([1, 2, 3])
    request_ids = [r.id for r in ep.batches.results(created.id)]
    assert ep.batches.remove(created.id, request_ids[0]).request_total == 2
    with pytest.raises(NotFoundError):
        ep.batches.remove(created.id, request_ids[0])
    with pytest.raises(InvalidInputError, match="finalize"):
        ep.batches.wait(created.id, timeout=1)  # a DRAFT never runs
    ep.batches.finalize(created.id)
    with pytest.raises(BatchStateError) as caught:
        ep.batches.add(created.id, [4])
    assert caught.value.job_id == created.id and caught.value.status_code == 409
    with pytest.raises(NotFoundError):
        ep.batches.get("batch_unknown")

    slow = ep.batches.create([{"task": "sleep", "seconds": 0.3}] * 2 + [{"n": 1}] * 4)
    ep.batches.finalize(slow.id)
    cancelled = ep.batches.cancel(slow.id)
    assert cancelled.status in ("FINALIZED", "CANCELLED")
    final = ep.batches.wait(slow.id, timeout=10, interval=0.02)
    assert final.status == "CANCELLED"
    statuses = [r.status for r in ep.batches.results(slow.id)]
    # Queued requests were cancelled at once; those already running finished.
    assert final.request_completed + statuses.count("CANCELLED") == 6


def test_wait_timeout_keeps_the_batch(ep: Endpoint) -> None:
    created = ep.batches.create([{"task": "sleep", "seconds": 1}])
    ep.batches.finalize(created.id)
    with pytest.raises(WaitTimeout) as caught:
        ep.batches.wait(created.id, timeout=0.1, interval=0.02)
    assert caught.value.job_id == created.id
    assert "0 of 1 requests done" in str(caught.value)
    assert ep.batches.get(created.id).status == "FINALIZED"


def test_limit_refusals_carry_the_server_message(ep: Endpoint, local: LocalEndpoint) -> None:
    local.app.batches.limits = BatchLimits(active_batches=1)
    ep.batches.create([])
    with pytest.raises(RateLimitError, match="active batches"):
        ep.batches.create([])
    assert _creations(local) == (1, 0)


async def test_async_sequence(local: LocalEndpoint) -> None:
    async with AsyncEndpoint(
        local.endpoint_id, base_url=local.base_url, api_key=local.api_key
    ) as aep:
        created = await aep.batches.create([{"n": 1}])
        await aep.batches.add(created.id, [{"n": 2}, {"task": "fail"}])
        await aep.batches.finalize(created.id)
        done = await aep.batches.wait(created.id, timeout=10, interval=0.02)
        assert (done.request_completed, done.request_failed) == (2, 1)
        seen: list[Any] = [r.output async for r in aep.batches.results(created.id, page_size=1)]
        assert seen[:2] == [{"n": 1}, {"n": 2}]
        assert [b.id for b in await aep.batches.list()] == [created.id]
        ids = [r.id async for r in aep.batches.results(created.id)]
        assert len(set(ids)) == 3
        other = await aep.batches.create([5])
        removed = await aep.batches.remove(other.id, await _first_id(aep, other.id))
        assert removed.request_total == 0
        assert (await aep.batches.cancel(other.id)).status == "CANCELLED"
        assert (await aep.batches.get(other.id)).status == "CANCELLED"
        assert (await aep.batches.update(other.id, name="x")).name == "x"
    assert _creations(local) == (2, 4)


def test_ctrl_c_under_asyncio_run_is_not_left_waiting_for_a_batch_reply(
    local: LocalEndpoint, monkeypatch: pytest.MonkeyPatch
) -> None:
    """asyncio.run acts on Ctrl-C in a Python handler, run once the main thread runs bytecode;
    a SIGINT whose C handler ran outside the selector's wait (here: on another thread) is
    seen at the loop's next event. ``aep.batches`` sends without the transport's gate: without
    a waker of its own, that event is the API's reply (held 4 s here)."""
    held: list[str] = []
    serve = local.app.batches.serve

    async def slow_gets(exchange: Any, authorized: bool, endpoint_id: str | None) -> None:
        if exchange.record.method == "GET":
            held.append(exchange.record.path)
            await asyncio.sleep(4)
        await serve(exchange, authorized, endpoint_id)

    monkeypatch.setattr(local.app.batches, "serve", slow_gets)

    async def main(press: Callable[[], None]) -> None:
        async with AsyncEndpoint(
            local.endpoint_id, base_url=local.base_url, api_key=local.api_key
        ) as aep:
            created = await aep.batches.create([])
            press()
            await aep.batches.get(created.id)

    late = seconds_to_act_on_ctrl_c(main, lambda: bool(held))
    assert late < WAKE_EVERY + 1.5, f"Ctrl-C acted on {late:.2f} s after it was pressed"


async def _first_id(aep: AsyncEndpoint, batch_id: str) -> str:
    async for result in aep.batches.results(batch_id):
        return result.id
    raise AssertionError("no request")


def test_a_failed_batch_ends_the_wait(ep: Endpoint, local: LocalEndpoint) -> None:
    created = ep.batches.create([{"task": "sleep", "seconds": 0.3}] * 2 + [{"n": 1}] * 3)
    ep.batches.finalize(created.id)
    local.app.batches.store.fail(created.id, "the batch failed on the platform")
    summary = ep.batches.wait(created.id, timeout=10, interval=0.02)
    assert summary.status == "FAILED" and summary.done
    assert summary.finished < summary.request_total  # done by status, not by the counts
    left = [r for r in ep.batches.results(created.id) if r.status == "CANCELLED"]
    assert left and all(r.error == "the batch failed on the platform" for r in left)


def test_wait_on_a_fake_clock(local: LocalEndpoint) -> None:
    # The deadline and the pauses run on a fake clock; only the batch itself takes real time.
    now = [1000.0]
    pauses: list[float] = []

    def sleep(seconds: float) -> None:
        pauses.append(seconds)
        now[0] += seconds
        time.sleep(0.01)

    ep = Endpoint(local.endpoint_id, base_url=local.base_url, api_key=local.api_key)
    batches = Batches(ep._settings, clock=lambda: now[0], sleep=sleep)
    created = batches.create([{"task": "sleep", "seconds": 30}])
    batches.finalize(created.id)
    with pytest.raises(WaitTimeout) as caught:
        batches.wait(created.id, timeout=2.0, interval=0.5)
    assert pauses[:4] == [0.05, 0.1, 0.2, 0.4]  # quick at first ...
    assert set(pauses[4:-1]) == {0.5}  # ... then every interval
    assert sum(pauses) == pytest.approx(2.0)  # never past the deadline
    assert caught.value.timeout == 2.0
    batches.cancel(created.id)


@pytest.mark.misuse("key")
@pytest.mark.parametrize("key", ["rp_wrong_key_0123456789", "rp_other_key_9876543210"])
def test_a_wrong_key_is_refused_and_never_shown(local: LocalEndpoint, key: str) -> None:
    with Endpoint(local.endpoint_id, base_url=local.base_url, api_key=key) as wrong:
        with pytest.raises(AuthenticationError) as caught:
            wrong.batches.create([1])
        shown = [str(caught.value), repr(caught.value), repr(wrong.batches), caught.value.body]
        assert all(key not in text for text in shown)
        with pytest.raises(AuthenticationError):
            list(wrong.map([1], via="batch-api"))
    assert local.app.batches.store.created == []


def test_wait_with_timeout_zero_looks_once(ep: Endpoint, local: LocalEndpoint) -> None:
    created = ep.batches.create([{"task": "sleep", "seconds": 1}])
    ep.batches.finalize(created.id)
    local.clear_requests()
    with pytest.raises(WaitTimeout):
        ep.batches.wait(created.id, timeout=0)
    looks = [r for r in local.requests if r.path.endswith(f"/batch/{created.id}")]
    assert len(looks) == 1
