"""Ctrl-C and task cancellation during map / run_many: nothing more is submitted, jobs are
cancelled only with cancel_on_interrupt=True, and the re-raised interrupt's notes name every
job left running (or say a submit was in flight, its id unknown)."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
from collections.abc import Iterator

import pytest

from runpod_facade._batches.run import BatchRun

from .mapfake import FakeJobs


def numbered(count: int) -> Iterator[dict[str, int]]:
    for n in range(count):
        yield {"n": n}


def ctrl_c_when(fake: FakeJobs, *job_ids: str, submits: int = 0) -> None:
    """Send SIGINT to this process once the client waits on ``job_ids`` (and ``submits``
    jobs exist): the interrupt lands wherever the consumer's thread is blocked."""

    def fire() -> None:
        fake.wait_until(lambda f: f.waiting_on(*job_ids) and len(f.jobs) >= submits)
        os.kill(os.getpid(), signal.SIGINT)

    threading.Thread(target=fire, daemon=True).start()


def notes_of(exc: BaseException) -> str:
    return "\n".join(getattr(exc, "__notes__", []))


def test_ctrl_c_leaves_jobs_running_and_names_them() -> None:
    fake = FakeJobs()  # no job ends
    with fake.endpoint() as ep:
        results = ep.map(numbered(50), concurrency=3)
        ctrl_c_when(fake, "j0", "j1", "j2")
        with pytest.raises(KeyboardInterrupt) as info:
            next(results)
        report = results.close()
    notes = notes_of(info.value)
    assert "jobs j0, j1, j2 left running on the endpoint" in notes
    assert fake.count("cancel") == 0 and fake.submitted() == 3
    assert set(report.left_running) == {"j0", "j1", "j2"}


def test_ctrl_c_with_cancel_on_interrupt_cancels_them() -> None:
    fake = FakeJobs()
    with fake.endpoint() as ep:
        results = ep.map(numbered(50), concurrency=3, cancel_on_interrupt=True)
        ctrl_c_when(fake, "j0", "j1", "j2")
        with pytest.raises(KeyboardInterrupt) as info:
            next(results)
    assert "jobs j0, j1, j2 cancelled on interrupt (cancel_on_interrupt=True)" in notes_of(
        info.value
    )
    assert sorted(fake.ops("cancel")) == ["j0", "j1", "j2"]
    assert {fake.status_of(j) for j in ("j0", "j1", "j2")} == {"CANCELLED"}
    assert fake.submitted() == 3
    # The ids were needed at once: /run, not /runsync.
    assert fake.count("runsync") == 0


def test_ctrl_c_during_a_submit_says_it_was_in_flight() -> None:
    fake = FakeJobs()
    gate = threading.Event()
    fake.gates[2] = gate  # j2's reply never comes while the batch runs
    try:
        with fake.endpoint() as ep:
            results = ep.map(numbered(50), concurrency=3)
            ctrl_c_when(fake, "j0", "j1", submits=3)
            with pytest.raises(KeyboardInterrupt) as info:
                next(results)
        notes = notes_of(info.value)
        assert "jobs j0, j1 left running on the endpoint" in notes
        assert "interrupted by KeyboardInterrupt (Ctrl-C) while a submit was in flight" in notes
        assert "cancel_on_interrupt=True" in notes
    finally:
        gate.set()


def test_ctrl_c_cancels_a_job_whose_id_arrives_after_it(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeJobs()
    gate = threading.Event()
    fake.gates[2] = gate
    original = BatchRun.wait_for_submits

    def wait_for_submits(self: BatchRun) -> None:
        gate.set()  # j2's id arrives only once the batch, interrupted, waits for it
        original(self)

    monkeypatch.setattr(BatchRun, "wait_for_submits", wait_for_submits)
    with fake.endpoint() as ep:
        results = ep.map(numbered(50), concurrency=3, cancel_on_interrupt=True)
        ctrl_c_when(fake, "j0", "j1", submits=3)
        with pytest.raises(KeyboardInterrupt) as info:
            next(results)
    notes = notes_of(info.value)
    assert "j2" in notes and "cancelled on interrupt" in notes
    assert "in flight" not in notes
    assert sorted(fake.ops("cancel")) == ["j0", "j1", "j2"]


def test_an_interrupt_raised_while_reading_inputs_stops_the_batch() -> None:
    fake = FakeJobs()

    def inputs() -> Iterator[dict[str, int]]:
        yield from ({"n": n} for n in range(3))
        raise KeyboardInterrupt  # read once j0 has ended and freed its slot

    threading.Thread(
        target=lambda: (fake.wait_until(lambda f: f.waiting_on("j0", "j1", "j2")), fake.finish(0)),
        daemon=True,
    ).start()
    with fake.endpoint() as ep:
        results = ep.map(inputs(), concurrency=3)
        first = next(results)
        with pytest.raises(KeyboardInterrupt) as info:
            next(results)
    assert first.index == 0
    assert "jobs j1, j2 left running" in notes_of(info.value)
    assert fake.submitted() == 3


def test_ctrl_c_in_the_loop_body_is_noted_by_the_with_block() -> None:
    fake = FakeJobs()
    with fake.endpoint() as ep:
        # j0 too: the three submits race, and finish(0) needs job 0 to exist.
        threading.Thread(
            target=lambda: (
                fake.wait_until(lambda f: f.waiting_on("j0", "j1", "j2")),
                fake.finish(0),
            ),
            daemon=True,
        ).start()
        with (
            pytest.raises(KeyboardInterrupt) as info,
            ep.map(numbered(50), concurrency=3, cancel_on_interrupt=True) as results,
        ):
            for _item in results:
                raise KeyboardInterrupt  # the user's code, between two items
    assert "cancelled on interrupt" in notes_of(info.value)
    assert set(fake.ops("cancel")) >= {"j1", "j2"}


def test_run_many_ctrl_c() -> None:
    fake = FakeJobs()
    with fake.endpoint() as ep:
        ctrl_c_when(fake, "j0", "j1")
        with pytest.raises(KeyboardInterrupt) as info:
            ep.run_many([{"n": 0}, {"n": 1}], cancel_on_interrupt=True)
    assert "jobs j0, j1 cancelled on interrupt" in notes_of(info.value)
    assert sorted(fake.ops("cancel")) == ["j0", "j1"]


@pytest.mark.parametrize("cancel", [False, True])
async def test_task_cancellation(cancel: bool) -> None:
    fake = FakeJobs()
    caught: list[BaseException] = []

    async def consume() -> None:
        async with fake.async_endpoint() as ep:
            try:
                async for _item in ep.map(numbered(50), concurrency=3, cancel_on_interrupt=cancel):
                    pass
            except asyncio.CancelledError as exc:
                caught.append(exc)
                raise

    task = asyncio.ensure_future(consume())
    await asyncio.to_thread(fake.wait_until, lambda f: f.waiting_on("j0", "j1", "j2"))
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    notes = notes_of(caught[0])
    assert fake.submitted() == 3
    if cancel:
        assert "jobs j0, j1, j2 cancelled on interrupt" in notes
        assert sorted(fake.ops("cancel")) == ["j0", "j1", "j2"]
    else:
        assert "jobs j0, j1, j2 left running on the endpoint" in notes
        assert fake.count("cancel") == 0


async def test_task_cancellation_during_a_submit() -> None:
    fake = FakeJobs()
    gate = threading.Event()
    fake.gates[2] = gate
    caught: list[BaseException] = []

    async def consume() -> None:
        async with fake.async_endpoint() as ep:
            try:
                async for _item in ep.map(numbered(50), concurrency=3):
                    pass
            except asyncio.CancelledError as exc:
                caught.append(exc)
                raise

    task = asyncio.ensure_future(consume())
    await asyncio.to_thread(
        fake.wait_until, lambda f: f.waiting_on("j0", "j1") and len(f.jobs) == 3
    )
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    gate.set()
    notes = notes_of(caught[0])
    assert "jobs j0, j1 left running" in notes
    assert "the task iterating the batch was cancelled while a submit was in flight" in notes
