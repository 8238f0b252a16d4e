"""The notes of a stopped batch name what really stopped it: the caller leaving the loop, the
input iterator failing, an interrupt, a task cancellation, the batch's deadline — never
"interrupted" when nothing was. One table, run by the blocking and by the asyncio map.

Every row stops the batch with j0 and j1 running and j2's submit in flight (its reply held),
except the deadline's, which cuts the submit itself short: only jobs are left then."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from runpod_facade import BatchTimeout

from .mapfake import FakeJobs

SIGNAL = pytest.mark.misuse("signal")


@dataclass(frozen=True)
class Stop:
    """How a row stops the batch, and what its notes must say."""

    how: str  # "break", "raise" (the input iterator raises `error`), "cancel", "timeout"
    says: str  # the cause, as the note about the submit in flight words it
    error: type[BaseException] | None = None
    interrupt: bool = False


BREAK = Stop("break", "the caller stopped iterating")
INPUTS_FAIL = Stop("raise", "the input iterator raised ValueError", ValueError)
CTRL_C = Stop("raise", "interrupted by KeyboardInterrupt (Ctrl-C)", KeyboardInterrupt, True)
EXIT = Stop("raise", "interrupted by SystemExit", SystemExit, True)
CANCEL = Stop("cancel", "the task iterating the batch was cancelled", interrupt=True)
DEADLINE = Stop("timeout", "the batch's deadline passed")

BOTH = [
    pytest.param(BREAK, id="break"),
    pytest.param(INPUTS_FAIL, id="input-iterator-raises"),
    pytest.param(DEADLINE, id="batch-timeout"),
]
# A KeyboardInterrupt or SystemExit raised in a task stops the event loop itself (asyncio
# re-raises them out of run_until_complete): under asyncio, Ctrl-C reaches a batch as the
# cancellation of its task (asyncio.run's own handler), which test_map_signals sends for real.
SYNC = [
    *BOTH,
    pytest.param(CTRL_C, id="keyboard-interrupt", marks=SIGNAL),
    pytest.param(EXIT, id="system-exit", marks=SIGNAL),
]
ASYNC = [*BOTH, pytest.param(CANCEL, id="task-cancel", marks=SIGNAL)]


def inputs(stop: Stop) -> Iterator[dict[str, int]]:
    """Three inputs, then — for a "raise" row — the error, read once j0 freed its slot."""
    yield from ({"n": n} for n in range(3))
    if stop.error is not None:
        raise stop.error("from the input iterator")
    yield from ({"n": n} for n in range(3, 50))


def stage(stop: Stop) -> tuple[FakeJobs, threading.Event]:
    """A fake that holds j2's submit reply (not for the deadline's row) and ends j0 once
    j0 and j1 are waited for, so that an item comes and a slot frees up."""
    fake = FakeJobs()
    gate = threading.Event()
    if stop.how != "timeout":
        fake.gates[2] = gate

    def end_j0() -> None:
        fake.wait_until(lambda f: f.waiting_on("j0", "j1") and len(f.jobs) == 3)
        if stop.how in ("break", "raise"):
            fake.finish(0)

    threading.Thread(target=end_j0, daemon=True).start()
    return fake, gate


def notes_of(exc: BaseException) -> str:
    return "\n".join(getattr(exc, "__notes__", []))


def check(stop: Stop, notes: str) -> None:
    assert "j1" in notes and "left running on the endpoint" in notes
    if stop.how == "timeout":
        assert "in flight" not in notes
    else:
        assert f"{stop.says} while a submit was in flight" in notes
    if not stop.interrupt:
        assert "interrupt" not in notes.replace("cancel_on_interrupt", "")


@pytest.mark.parametrize("stop", SYNC)
def test_sync_notes_name_the_cause(stop: Stop, caplog: pytest.LogCaptureFixture) -> None:
    fake, gate = stage(stop)
    try:
        with fake.endpoint() as ep:
            results = ep.map(
                inputs(stop), concurrency=3, timeout=0.6 if stop.how == "timeout" else None
            )
            if stop.how == "break":
                with caplog.at_level(logging.WARNING, "runpod_facade"), results:
                    for _item in results:
                        break
                notes = caplog.text
                assert "batch closed early (the caller stopped iterating)" in notes
            else:
                expected = BatchTimeout if stop.error is None else stop.error
                with pytest.raises(expected) as info:
                    for _item in results:
                        pass
                notes = notes_of(info.value)
    finally:
        gate.set()
    check(stop, notes)


@pytest.mark.parametrize("stop", ASYNC)
async def test_async_notes_name_the_cause(stop: Stop, caplog: pytest.LogCaptureFixture) -> None:
    fake, gate = stage(stop)
    caught: list[BaseException] = []

    async def consume() -> None:
        async with fake.async_endpoint() as ep:
            timeout = 0.6 if stop.how == "timeout" else None
            async with ep.map(inputs(stop), concurrency=3, timeout=timeout) as results:
                try:
                    async for _item in results:
                        if stop.how == "break":
                            break
                except BaseException as exc:
                    caught.append(exc)
                    raise

    try:
        with caplog.at_level(logging.WARNING, "runpod_facade"):
            task = asyncio.ensure_future(consume())
            if stop.how == "cancel":
                await asyncio.to_thread(
                    fake.wait_until, lambda f: f.waiting_on("j0", "j1") and len(f.jobs) == 3
                )
                task.cancel()
            if stop.how == "break":
                await task
                notes = caplog.text
                assert "batch closed early (the caller stopped iterating)" in notes
            else:
                expected = {"cancel": asyncio.CancelledError, "timeout": BatchTimeout}
                with pytest.raises(expected.get(stop.how) or stop.error or Exception):
                    await task
                notes = notes_of(caught[0])
    finally:
        gate.set()
    check(stop, notes)


DROPPED_HEADLINE = "runpod-facade: batch stopped early: the caller stopped iterating and dropped"


def test_a_dropped_batch_tells_what_it_left(caplog: pytest.LogCaptureFixture) -> None:
    """``break`` without ``with``: no exception, no report — only the log tells the ids (on
    stderr when logging is not configured: see test_tell_stderr)."""
    fake = FakeJobs()
    threading.Thread(
        target=lambda: (fake.wait_until(lambda f: f.waiting_on("j0", "j1", "j2")), fake.finish(0)),
        daemon=True,
    ).start()
    with caplog.at_level(logging.WARNING, "runpod_facade"), fake.endpoint() as ep:
        for _item in ep.map(({"n": n} for n in range(50)), concurrency=3):
            break
        told = [record.getMessage() for record in caplog.records]
    assert told[0].startswith(DROPPED_HEADLINE)
    assert "jobs j1, j2 left running on the endpoint" in told[1]
    assert fake.submitted() == 3


async def test_an_async_batch_dropped_tells_what_it_left(caplog: pytest.LogCaptureFixture) -> None:
    fake = FakeJobs()
    threading.Thread(
        target=lambda: (fake.wait_until(lambda f: f.waiting_on("j0", "j1", "j2")), fake.finish(0)),
        daemon=True,
    ).start()
    with caplog.at_level(logging.WARNING, "runpod_facade"):
        async with fake.async_endpoint() as ep:
            async for _item in ep.map(({"n": n} for n in range(50)), concurrency=3):
                break
            for _ in range(100):  # the loop finalizes the dropped generator in a task of its own
                if len(caplog.records) >= 2:
                    break
                await asyncio.sleep(0.01)
        told = [record.getMessage() for record in caplog.records]
    assert told[0].startswith(DROPPED_HEADLINE)
    assert "jobs j1, j2 left running on the endpoint" in told[1]


@SIGNAL
async def test_a_second_cancellation_still_tells_what_is_known(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Cancelled while the first cancellation's stop waits for a submit reply (to cancel
    its job): the stop is cut short, and the notes still name what was known."""
    fake = FakeJobs()
    gate = threading.Event()
    fake.gates[2] = gate  # j2's reply never comes while the batch runs
    caught: list[BaseException] = []

    async def consume() -> None:
        async with fake.async_endpoint() as ep:
            try:
                async for _item in ep.map(
                    ({"n": n} for n in range(50)), concurrency=3, cancel_on_interrupt=True
                ):
                    pass
            except asyncio.CancelledError as exc:
                caught.append(exc)
                raise

    try:
        with caplog.at_level(logging.WARNING, "runpod_facade"):
            task = asyncio.ensure_future(consume())
            await asyncio.to_thread(
                fake.wait_until, lambda f: f.waiting_on("j0", "j1") and len(f.jobs) == 3
            )
            task.cancel()
            await asyncio.to_thread(fake.wait_until, lambda f: len(f.ops("cancel")) == 2)
            task.cancel()  # the stop is waiting for j2's id
            with pytest.raises(asyncio.CancelledError):
                await task
    finally:
        gate.set()
    notes = notes_of(caught[0])
    assert "jobs j0, j1 cancelled on interrupt" in notes
    assert "while a submit was in flight" in notes
    assert any("while a submit was in flight" in r.getMessage() for r in caplog.records)
