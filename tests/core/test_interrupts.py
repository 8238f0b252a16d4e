"""Interrupts thrown into an operation where it stands: the notes naming what was left
running, ``cancel_on_interrupt`` sending exactly the cancels, and the note for a submit whose
id has not arrived."""

from __future__ import annotations

import asyncio
from collections.abc import Generator
from typing import Any

import pytest

from runpod_facade._core.effects import Sleep
from runpod_facade._core.engine import EndpointCore
from runpod_facade._core.interrupts import NOTE_PREFIX, JobTracker, interruptible, is_interrupt
from runpod_facade._core.streaming import StreamProgress, stream
from runpod_facade._core.waiting import run_sync, wait
from runpod_facade._wire.requests import encode_job
from tests._support.replies import chunks, error, job
from tests._support.scripted import FakeClock, ScriptedDriver

BODY = encode_job(1)
AWAITING = (
    "runpod-facade: interrupted while a submit was in flight: the server sends the job id only "
    "with its reply, so a job may be running that cannot be named or cancelled "
    "(run_sync(..., cancel_on_interrupt=True) submits with /run, which returns the id at once)"
)


def left_running(*ids: str, failed: bool = False) -> str:
    noun = "job" if len(ids) == 1 else "jobs"
    why = " (cancelling failed)" if failed else ""
    return (
        f"runpod-facade: {noun} {', '.join(ids)} left running on the endpoint{why}; resume with "
        f"ep.job({ids[0]!r}).wait() or cancel with ep.cancel({ids[0]!r})"
    )


def test_is_interrupt() -> None:
    assert is_interrupt(KeyboardInterrupt()) is True
    assert is_interrupt(asyncio.CancelledError()) is True
    assert is_interrupt(SystemExit(1)) is True
    assert is_interrupt(GeneratorExit()) is False
    assert is_interrupt(ValueError()) is False
    assert NOTE_PREFIX == "runpod-facade: "


def test_an_interrupted_wait_names_the_job_and_sends_nothing_more(
    core: EndpointCore, clock: FakeClock
) -> None:
    driver = ScriptedDriver(clock, [], interrupt_at=0)
    with pytest.raises(KeyboardInterrupt) as info:
        driver.run(wait(core, "job-1", timeout=None))
    assert info.value.__notes__ == [left_running("job-1")]
    assert driver.ops == ["status-sync"]


def test_cancel_on_interrupt_cancels_exactly_the_waited_job(
    core: EndpointCore, clock: FakeClock
) -> None:
    driver = ScriptedDriver(clock, [job("CANCELLED")], interrupt_at=0)
    with pytest.raises(KeyboardInterrupt) as info:
        driver.run(wait(core, "job-1", timeout=None, cancel_on_interrupt=True))
    assert driver.ops == ["status-sync", "cancel"]
    assert driver.sent[1].path == "/ep-1/cancel/job-1"
    assert driver.sent[1].cap == 10.0
    assert info.value.__notes__ == [
        "runpod-facade: job job-1 cancelled on interrupt (cancel_on_interrupt=True)"
    ]


def test_an_interrupt_during_a_poll_sleep(core: EndpointCore, clock: FakeClock) -> None:
    driver = ScriptedDriver(clock, [job("IN_QUEUE"), job("CANCELLED")], interrupt_at=1)
    with pytest.raises(KeyboardInterrupt):
        driver.run(wait(core, "job-1", timeout=1.0, cancel_on_interrupt=True))
    assert isinstance(driver.effects[1][1], Sleep)
    assert driver.ops == ["status", "cancel"]
    assert driver.sleeps == []


def test_a_failed_cancel_is_said(core: EndpointCore, clock: FakeClock) -> None:
    driver = ScriptedDriver(clock, [error(404)], interrupt_at=0)
    with pytest.raises(KeyboardInterrupt) as info:
        driver.run(wait(core, "job-1", timeout=None, cancel_on_interrupt=True))
    assert info.value.__notes__ == [left_running("job-1", failed=True)]


def test_a_task_cancellation_is_handled_like_ctrl_c(core: EndpointCore, clock: FakeClock) -> None:
    driver = ScriptedDriver(
        clock, [job("CANCELLED")], interrupt_at=0, interrupt=asyncio.CancelledError
    )
    with pytest.raises(asyncio.CancelledError):
        driver.run(wait(core, "job-1", timeout=None, cancel_on_interrupt=True))
    assert driver.ops == ["status-sync", "cancel"]


def test_an_interrupted_runsync_says_the_id_never_came(
    core: EndpointCore, clock: FakeClock
) -> None:
    driver = ScriptedDriver(clock, [], interrupt_at=0)
    with pytest.raises(KeyboardInterrupt) as info:
        driver.run(run_sync(core, BODY, timeout=30.0))
    assert info.value.__notes__ == [AWAITING]
    assert driver.ops == ["runsync"]


def test_run_sync_with_cancel_on_interrupt_cancels_the_job_it_submitted(
    core: EndpointCore, clock: FakeClock
) -> None:
    driver = ScriptedDriver(
        clock, [job("IN_QUEUE", job_id="new-1"), job("CANCELLED", job_id="new-1")], interrupt_at=1
    )
    with pytest.raises(KeyboardInterrupt) as info:
        driver.run(run_sync(core, BODY, timeout=30.0, cancel_on_interrupt=True))
    assert driver.ops == ["run", "status-sync", "cancel"]
    assert driver.sent[2].path == "/ep-1/cancel/new-1"
    assert info.value.__notes__ == [
        "runpod-facade: job new-1 cancelled on interrupt (cancel_on_interrupt=True)"
    ]


def test_run_sync_interrupted_after_the_submit_names_the_job(
    core: EndpointCore, clock: FakeClock
) -> None:
    driver = ScriptedDriver(clock, [job("IN_QUEUE", job_id="new-2")], interrupt_at=1)
    with pytest.raises(KeyboardInterrupt) as info:
        driver.run(run_sync(core, BODY, timeout=30.0, cancel_on_interrupt=False))
    assert info.value.__notes__ == [left_running("new-2")]


def test_an_interrupted_stream_names_the_job_and_never_cancels(
    core: EndpointCore, clock: FakeClock
) -> None:
    driver = ScriptedDriver(clock, [chunks("IN_PROGRESS", 1)], interrupt_at=1)
    progress = StreamProgress("job-1")
    with pytest.raises(KeyboardInterrupt) as info:
        driver.run(stream(core, "job-1", timeout=None, idle_timeout=None, progress=progress))
    assert driver.emitted == [1]
    assert driver.ops == ["stream", "stream"]
    assert info.value.__notes__ == [left_running("job-1")]


def _interrupted(tracker: JobTracker) -> Generator[Any, Any, None]:
    yield Sleep(1.0)


def test_several_jobs_are_cancelled_in_order_and_failures_listed(clock: FakeClock) -> None:
    from tests._support.scripted import make_core

    core = make_core(clock)
    tracker = JobTracker()
    for job_id in ("a", "b", "c"):
        tracker.started(job_id)
    script = [
        job("CANCELLED", job_id="a"),
        error(500),
        error(500),
        error(500),
        error(500),
        job("CANCELLED", job_id="c"),
    ]
    driver = ScriptedDriver(clock, script, interrupt_at=0)
    with pytest.raises(KeyboardInterrupt) as info:
        driver.run(interruptible(core, _interrupted(tracker), tracker, cancel=True))
    assert [s.path for s in driver.sent] == ["/ep-1/cancel/a"] + ["/ep-1/cancel/b"] * 4 + [
        "/ep-1/cancel/c"
    ]
    assert info.value.__notes__ == [
        "runpod-facade: jobs a, c cancelled on interrupt (cancel_on_interrupt=True)",
        left_running("b", failed=True),
    ]


def test_a_job_that_ended_before_its_cancel_is_said_alone_or_first(clock: FakeClock) -> None:
    from tests._support.scripted import make_core

    core = make_core(clock)
    tracker = JobTracker()
    tracker.started("a")
    driver = ScriptedDriver(clock, [job("COMPLETED", job_id="a")], interrupt_at=0)
    with pytest.raises(KeyboardInterrupt) as info:
        driver.run(interruptible(core, _interrupted(tracker), tracker, cancel=True))
    # Not also "no job was left running": the one note says what happened to the job.
    assert info.value.__notes__ == ["runpod-facade: job a had already ended COMPLETED"]

    tracker = JobTracker()
    tracker.started("a")
    tracker.started("b")
    script = [job("FAILED", job_id="a"), job("CANCELLED", job_id="b")]
    driver = ScriptedDriver(clock, script, interrupt_at=0)
    with pytest.raises(KeyboardInterrupt) as info:
        driver.run(interruptible(core, _interrupted(tracker), tracker, cancel=True))
    assert info.value.__notes__ == [
        "runpod-facade: job a had already ended FAILED",
        "runpod-facade: job b cancelled on interrupt (cancel_on_interrupt=True)",
    ]


def test_several_jobs_left_running(core: EndpointCore, clock: FakeClock) -> None:
    tracker = JobTracker()
    tracker.started("a")
    tracker.started("b")
    tracker.awaiting_id = 1
    driver = ScriptedDriver(clock, [], interrupt_at=0)
    with pytest.raises(KeyboardInterrupt) as info:
        driver.run(interruptible(core, _interrupted(tracker), tracker, cancel=False))
    assert info.value.__notes__ == [left_running("a", "b"), AWAITING]


def test_nothing_left_running_is_said_too(core: EndpointCore, clock: FakeClock) -> None:
    tracker = JobTracker()
    tracker.started("a")
    tracker.ended("a")
    tracker.ended("never-started")
    driver = ScriptedDriver(clock, [], interrupt_at=0)
    with pytest.raises(KeyboardInterrupt) as info:
        driver.run(interruptible(core, _interrupted(tracker), tracker, cancel=True))
    assert info.value.__notes__ == ["runpod-facade: no job was left running"]
    assert driver.sent == []


def test_errors_that_are_not_interrupts_pass_through_without_notes(
    core: EndpointCore, clock: FakeClock
) -> None:
    tracker = JobTracker()
    tracker.started("a")

    def failing() -> Generator[Any, Any, None]:
        yield Sleep(0.5)
        raise ValueError("bug")

    driver = ScriptedDriver(clock, [])
    with pytest.raises(ValueError, match="bug") as info:
        driver.run(interruptible(core, failing(), tracker, cancel=True))
    assert not hasattr(info.value, "__notes__")
    assert driver.sent == []


def test_the_value_passes_through_when_nothing_interrupts(
    core: EndpointCore, clock: FakeClock
) -> None:
    def op() -> Generator[Any, Any, int]:
        yield Sleep(0.25)
        return 42

    driver = ScriptedDriver(clock, [])
    assert driver.run(interruptible(core, op(), JobTracker(), cancel=True)) == 42
    assert driver.sleeps == [0.25]


def test_tracker_defaults() -> None:
    tracker = JobTracker()
    assert (tracker.running, tracker.awaiting_id) == ({}, 0)
    tracker.started("x")
    tracker.started("y")
    tracker.started("x")
    assert tracker.running == {"x": None, "y": None}
    assert list(tracker.running) == ["x", "y"]
