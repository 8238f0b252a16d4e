"""run_many: map's items in input order; fail-fast with remote cancel (also of jobs whose
submit reply had not arrived when the failure came), return_exceptions, the deadline."""

from __future__ import annotations

import threading

import pytest

from runpod_facade import (
    BatchTimeout,
    InvalidInputError,
    JobFailed,
    JobState,
    StopReport,
    WaitTimeout,
)
from runpod_facade._batches.run import BatchRun
from runpod_facade._batches.tasks import AsyncBatchResults

from .mapfake import FakeJobs, completes


def inputs(count: int, start: int = 0) -> list[dict[str, int]]:
    return [{"n": n} for n in range(start, start + count)]


def test_run_many_returns_states_in_input_order() -> None:
    fake = FakeJobs()

    # Jobs end in reverse order; the list is still in input order.
    def finish_backwards() -> None:
        fake.wait_submitted(5)
        for n in reversed(range(5)):
            fake.finish(n, output=f"out{n}")

    threading.Thread(target=finish_backwards, daemon=True).start()
    with fake.endpoint() as ep:
        states = ep.run_many(inputs(5), concurrency=5)
    assert [s.output for s in states] == [f"out{n}" for n in range(5)]
    assert all(isinstance(s, JobState) for s in states)


def test_run_many_bounds_the_window() -> None:
    fake = FakeJobs(auto=completes)
    with fake.endpoint() as ep:
        states = ep.run_many(inputs(30), concurrency=3)
    assert [s.output for s in states] == list(range(30))
    assert fake.max_open <= 3


def test_run_many_checks_every_input_before_sending() -> None:
    fake = FakeJobs(auto=completes)
    with fake.endpoint() as ep:
        with pytest.raises(InvalidInputError):
            ep.run_many([{"n": 0}, {"n": {1, 2}}])
        with pytest.raises(InvalidInputError, match="concurrency"):
            ep.run_many([{"n": 0}], concurrency=0)
        with pytest.raises(InvalidInputError, match="iterable of inputs"):
            ep.run_many({"n": 0})
    assert fake.log == []


def fail_fast_fake(gated: tuple[int, ...]) -> tuple[FakeJobs, threading.Event]:
    """Input 1 FAILS at once; the submit replies of ``gated`` inputs are held back until the
    batch, having seen the failure, waits for them."""
    gate = threading.Event()
    fake = FakeJobs(auto=lambda n: ("FAILED", None) if n == 1 else None)
    fake.gates.update({n: gate for n in gated})
    return fake, gate


def hold_failure_until_all_submitted(fake: FakeJobs) -> None:
    """The failing job's reply (input 1) leaves only once all three jobs exist."""
    all_in = threading.Event()
    fake.gates[1] = all_in
    threading.Thread(target=lambda: (fake.wait_submitted(3), all_in.set()), daemon=True).start()


@pytest.fixture
def open_gate_when_stopping(monkeypatch: pytest.MonkeyPatch) -> threading.Event:
    """Open the gate once the batch waits for submit replies: the failure has been seen,
    so the held-back jobs get their ids only after it (the case to prove)."""
    gate = threading.Event()
    original = BatchRun.wait_for_submits

    def wait_for_submits(self: BatchRun) -> None:
        gate.set()
        original(self)

    monkeypatch.setattr(BatchRun, "wait_for_submits", wait_for_submits)
    return gate


def test_sync_fail_fast_cancels_jobs_whose_ids_arrive_after_the_failure(
    open_gate_when_stopping: threading.Event,
) -> None:
    fake, _ = fail_fast_fake(gated=(0, 2))
    fake.gates.update({0: open_gate_when_stopping, 2: open_gate_when_stopping})
    hold_failure_until_all_submitted(fake)
    with fake.endpoint() as ep, pytest.raises(JobFailed) as info:
        ep.run_many(inputs(3), concurrency=3)
    assert info.value.job_id == "j1"
    # The two slow jobs were named only after the failure, and cancelled as they were.
    assert sorted(fake.ops("cancel")) == ["j0", "j2"]
    assert fake.status_of("j0") == fake.status_of("j2") == "CANCELLED"
    notes = "\n".join(info.value.__notes__)
    assert "j0" in notes and "j2" in notes and "cancelled because run_many stops" in notes
    # Nothing was submitted after the failure, and no slow job was ever waited for.
    assert fake.submitted() == 3
    assert fake.count("status-sync") == 0


def test_sync_fail_fast_cancels_jobs_already_running() -> None:
    fake = FakeJobs(auto=lambda n: None)  # nothing ends on its own

    def fail_second() -> None:
        fake.wait_submitted(4)
        fake.finish(1, "FAILED", error="boom")

    threading.Thread(target=fail_second, daemon=True).start()
    with fake.endpoint() as ep, pytest.raises(JobFailed) as info:
        ep.run_many(inputs(10), concurrency=4)
    assert info.value.job_id == "j1"
    assert sorted(fake.ops("cancel")) == ["j0", "j2", "j3"]
    assert fake.submitted() == 4


async def test_async_fail_fast_cancels_jobs_whose_ids_arrive_after_the_failure(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The held-back submit replies are released once run_many, having seen the failure,
    # closes the batch with cancel=True.
    fake, gate = fail_fast_fake(gated=(0, 2))
    hold_failure_until_all_submitted(fake)
    original = AsyncBatchResults.aclose

    async def aclose(self: AsyncBatchResults, *, cancel: bool = False) -> StopReport:
        gate.set()
        return await original(self, cancel=cancel)

    monkeypatch.setattr(AsyncBatchResults, "aclose", aclose)
    async with fake.async_endpoint() as ep:
        with pytest.raises(JobFailed) as info:
            await ep.run_many(inputs(3), concurrency=3)
    assert info.value.job_id == "j1"
    assert sorted(fake.ops("cancel")) == ["j0", "j2"]
    assert fake.status_of("j0") == fake.status_of("j2") == "CANCELLED"
    assert "j0" in "\n".join(info.value.__notes__)
    assert fake.count("status-sync") == 0


def test_return_exceptions_cancels_nothing() -> None:
    fake = FakeJobs(auto=lambda n: ("FAILED", None) if n == 2 else ("COMPLETED", n))
    with fake.endpoint() as ep:
        results = ep.run_many(inputs(4), return_exceptions=True)
    assert [type(r).__name__ for r in results] == ["JobState", "JobState", "JobFailed", "JobState"]
    assert fake.count("cancel") == 0


async def test_async_run_many_order_and_return_exceptions() -> None:
    fake = FakeJobs(auto=lambda n: ("FAILED", None) if n == 3 else ("COMPLETED", n))
    async with fake.async_endpoint() as ep:
        states = await ep.run_many(inputs(3), concurrency=8)
        assert [s.output for s in states] == [0, 1, 2]
        with pytest.raises(JobFailed):
            await ep.run_many(inputs(5), concurrency=5)
        results = await ep.run_many(inputs(5, start=5), return_exceptions=True)
    assert all(isinstance(r, JobState) for r in results)


def test_deadline_with_return_exceptions_fills_unsubmitted_entries() -> None:
    fake = FakeJobs()  # nothing ends
    with fake.endpoint() as ep:
        results = ep.run_many(inputs(5), concurrency=2, timeout=0.3, return_exceptions=True)
    assert [type(r).__name__ for r in results[:2]] == ["WaitTimeout", "WaitTimeout"]
    assert all(isinstance(r, BatchTimeout) for r in results[2:])
    assert fake.submitted() == 2 and fake.count("cancel") == 0


def test_deadline_without_return_exceptions_raises_and_cancels() -> None:
    fake = FakeJobs()
    with fake.endpoint() as ep, pytest.raises(WaitTimeout):
        ep.run_many(inputs(5), concurrency=2, timeout=0.3)
    assert sorted(fake.ops("cancel")) == ["j0", "j1"]
