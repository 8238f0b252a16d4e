"""``_streaming.stream``: ``/stream`` long-polls under the total and idle deadlines — the hold
fitted to whichever ends first, the idle timer reset by every chunk, ``raw=``, the final state
from ``/status``, backoff on unheld empty polls, and unlimited deadlines capping nothing."""

from __future__ import annotations

import logging

import pytest

from runpod_facade._core.engine import EndpointCore
from runpod_facade._core.streaming import STREAM_HOLD, StreamProgress, stream
from runpod_facade._exceptions import (
    APIConnectionError,
    APITimeoutError,
    JobFailed,
    JobTimedOut,
    StreamIdleTimeout,
    WaitTimeout,
)
from runpod_facade._status import JobStatus
from tests._support.replies import body, chunks, error, job, lost, not_sent, timed_out
from tests._support.scripted import HOLD, READ_TIMEOUT, FakeClock, Reply, ScriptedDriver


def run_stream(
    driver: ScriptedDriver,
    core: EndpointCore,
    *,
    timeout: float | None = None,
    idle_timeout: float | None = None,
    raw: bool = False,
) -> StreamProgress:
    progress = StreamProgress("job-1")
    driver.run(
        stream(
            core, "job-1", timeout=timeout, idle_timeout=idle_timeout, progress=progress, raw=raw
        )
    )
    return progress


def test_stream_hold() -> None:
    assert STREAM_HOLD == 10.0


def test_chunks_are_emitted_and_the_final_state_comes_from_status(
    core: EndpointCore, clock: FakeClock
) -> None:
    script = [
        Reply(chunks("IN_PROGRESS", "a", "b"), after=1.0),
        Reply(chunks("COMPLETED", "c"), after=1.0),
        job("COMPLETED", output="abc", executionTime=1500),
    ]
    driver = ScriptedDriver(clock, script)
    progress = run_stream(driver, core)
    assert driver.emitted == ["a", "b", "c"]
    assert driver.ops == ["stream", "stream", "status"]
    assert driver.sent[0].path == "/ep-1/stream/job-1"
    assert (progress.chunks, progress.status) == (3, JobStatus.COMPLETED)
    assert progress.state is not None
    assert (progress.state.output, progress.state.execution_time.total_seconds()) == ("abc", 1.5)  # type: ignore[union-attr]


def test_unlimited_deadlines_never_cap_a_request(core: EndpointCore, clock: FakeClock) -> None:
    # Pins the fix of a bug where a timeout=None stream's requests were capped at 50 ms.
    driver = ScriptedDriver(clock, [chunks("COMPLETED", 1), job("COMPLETED")])
    run_stream(driver, core, timeout=None, idle_timeout=None)
    first = driver.sent[0]
    assert (first.wait, first.cap) == (9_500, None)
    assert (first.timeouts.connect, first.read, first.timeouts.write, first.timeouts.pool) == (
        5.0, 19.5, 30.0, None,
    )  # fmt: skip
    assert driver.sent[1].cap is None  # the final /status too


def test_the_hold_fits_the_total_deadline(core: EndpointCore, clock: FakeClock) -> None:
    script = [Reply(chunks("IN_PROGRESS", 1), after=HOLD)] * 3 + [
        chunks("COMPLETED"),
        job("COMPLETED"),
    ]
    driver = ScriptedDriver(clock, script)
    run_stream(driver, core, timeout=25.0)
    assert driver.waits == [9_500, 9_500, 5_500, 1000, None]
    assert [s.cap for s in driver.sent] == [25.0, 15.5, 6.0, 0.5, None]
    assert [s.read for s in driver.sent][:4] == [19.5, 15.5, 6.0, 0.5]


def test_the_idle_timer_restarts_after_each_chunk(core: EndpointCore, clock: FakeClock) -> None:
    # A chunk every 2 s against a 3 s idle timeout: the stream never goes idle.
    script = [Reply(chunks("IN_PROGRESS", i), after=2.0) for i in range(4)]
    driver = ScriptedDriver(clock, [*script, chunks("COMPLETED"), job("COMPLETED")])
    run_stream(driver, core, idle_timeout=3.0)
    assert driver.emitted == [0, 1, 2, 3]
    # Each request's hold and cap fit a full idle window again.
    assert driver.waits == [2_500] * 5 + [None]
    assert [s.cap for s in driver.sent][:5] == [3.0] * 5
    assert clock.elapsed == 8.0


def test_an_empty_poll_does_not_restart_the_idle_timer(
    core: EndpointCore, clock: FakeClock
) -> None:
    script = [Reply(chunks("IN_PROGRESS"), after=2.0), Reply(chunks("IN_PROGRESS", "x"), after=0.5)]
    driver = ScriptedDriver(clock, [*script, chunks("COMPLETED"), job("COMPLETED")])
    run_stream(driver, core, idle_timeout=3.0)
    assert driver.waits == [2_500, 1000, 2_500, None]
    assert [s.cap for s in driver.sent][:3] == [3.0, 1.0, 3.0]


def test_no_chunk_within_the_idle_timeout_raises_stream_idle_timeout(
    core: EndpointCore, clock: FakeClock
) -> None:
    script = [Reply(chunks("IN_PROGRESS"), after=HOLD), Reply(timed_out(), after=READ_TIMEOUT)]
    driver = ScriptedDriver(clock, script)
    with pytest.raises(StreamIdleTimeout) as info:
        run_stream(driver, core, timeout=60.0, idle_timeout=3.0)
    assert str(info.value) == "job job-1 sent no chunk within 3s (last status IN_PROGRESS)"
    assert isinstance(info.value.__cause__, APITimeoutError)
    assert driver.waits == [2_500, 1000]
    assert driver.sent[1].read == 0.5  # the read is cut at the idle deadline
    assert clock.elapsed == 3.0


def test_the_total_timeout_raises_wait_timeout(core: EndpointCore, clock: FakeClock) -> None:
    script = [Reply(chunks("IN_PROGRESS", 1), after=HOLD), Reply(timed_out(), after=READ_TIMEOUT)]
    driver = ScriptedDriver(clock, script)
    with pytest.raises(WaitTimeout) as info:
        run_stream(driver, core, timeout=2.0)
    assert type(info.value) is WaitTimeout
    assert str(info.value) == "job job-1 did not end within 2s (last status IN_PROGRESS)"
    assert driver.emitted == [1]
    assert clock.elapsed == 2.0


def test_an_expired_deadline_after_a_reply_ends_the_stream(
    core: EndpointCore, clock: FakeClock
) -> None:
    driver = ScriptedDriver(clock, [Reply(chunks("IN_PROGRESS", 1), after=2.5)])
    with pytest.raises(WaitTimeout) as info:
        run_stream(driver, core, timeout=2.0)
    assert info.value.__cause__ is None
    assert driver.emitted == [1]  # the chunks that came are handed out first


@pytest.mark.parametrize("left", [0.049, 0.01])
def test_no_request_is_sent_too_late_to_come_back(
    core: EndpointCore, clock: FakeClock, left: float
) -> None:
    # A /stream sent with less than MIN_REQUEST_TIMEOUT left would be cut past the deadline and
    # drain chunks that are then lost: the stream sleeps out the deadline instead.
    driver = ScriptedDriver(clock, [Reply(chunks("IN_PROGRESS", 1), after=2.0 - left)])
    with pytest.raises(WaitTimeout) as info:
        run_stream(driver, core, timeout=2.0)
    assert type(info.value) is WaitTimeout and info.value.__cause__ is None
    assert driver.ops == ["stream"] and driver.emitted == [1]
    assert driver.sleeps == [pytest.approx(left)]
    assert clock.elapsed == pytest.approx(2.0)


def test_a_request_with_just_enough_time_left_is_sent(core: EndpointCore, clock: FakeClock) -> None:
    script = [Reply(chunks("IN_PROGRESS", 1), after=1.9), Reply(chunks("COMPLETED", 2), after=0.01)]
    driver = ScriptedDriver(clock, [*script, job("COMPLETED")])
    run_stream(driver, core, timeout=2.0, idle_timeout=0.5)
    assert driver.ops == ["stream", "stream", "status"] and driver.emitted == [1, 2]
    assert driver.sleeps == []
    assert driver.sent[1].cap == pytest.approx(0.1)


def test_idle_wins_over_total_when_both_expire(core: EndpointCore, clock: FakeClock) -> None:
    driver = ScriptedDriver(clock, [Reply(chunks("IN_PROGRESS"), after=2.5)])
    with pytest.raises(StreamIdleTimeout):
        run_stream(driver, core, timeout=2.0, idle_timeout=2.0)


def test_raw_emits_whole_chunk_objects(core: EndpointCore, clock: FakeClock) -> None:
    reply = body(200, {"status": "COMPLETED", "stream": [{"output": 1, "metrics": {"t": 2}}]})
    driver = ScriptedDriver(clock, [reply, job("COMPLETED")])
    run_stream(driver, core, raw=True)
    assert driver.emitted == [{"output": 1, "metrics": {"t": 2}}]


def test_a_chunk_without_output_emits_none(core: EndpointCore, clock: FakeClock) -> None:
    reply = body(200, {"status": "COMPLETED", "stream": [{"metrics": {}}]})
    driver = ScriptedDriver(clock, [reply, job("COMPLETED")])
    run_stream(driver, core)
    assert driver.emitted == [None]


def test_unheld_empty_polls_back_off_and_a_chunk_resets_the_backoff(
    core: EndpointCore, clock: FakeClock
) -> None:
    empty = chunks("IN_QUEUE")
    script = [empty, empty, empty, chunks("IN_PROGRESS", 1), empty, chunks("COMPLETED")]
    driver = ScriptedDriver(clock, [*script, job("COMPLETED")])
    run_stream(driver, core)
    assert driver.sleeps == [0.1875, 0.375, 0.75, 0.1875]


def test_a_held_empty_poll_is_not_followed_by_a_sleep(core: EndpointCore, clock: FakeClock) -> None:
    script = [Reply(chunks("IN_QUEUE"), after=0.5), chunks("COMPLETED"), job("COMPLETED")]
    driver = ScriptedDriver(clock, script)
    run_stream(driver, core)
    assert driver.sleeps == []


def test_a_backoff_sleep_never_passes_the_deadline(core: EndpointCore, clock: FakeClock) -> None:
    driver = ScriptedDriver(
        clock, [Reply(chunks("IN_QUEUE"), after=1.875)] + [chunks("IN_QUEUE")] * 2
    )
    with pytest.raises(WaitTimeout):
        run_stream(driver, core, timeout=2.0)
    assert driver.sleeps == [0.125]
    assert clock.elapsed == 2.0


def test_a_failed_job_ends_the_stream_with_job_failed(core: EndpointCore, clock: FakeClock) -> None:
    script = [chunks("FAILED", "partial"), job("FAILED", error="crash")]
    driver = ScriptedDriver(clock, script)
    with pytest.raises(JobFailed) as info:
        run_stream(driver, core)
    assert driver.emitted == ["partial"]
    assert (info.value.job_id, info.value.error) == ("job-1", "crash")


def test_a_cancelled_job_ends_the_stream_quietly(core: EndpointCore, clock: FakeClock) -> None:
    driver = ScriptedDriver(clock, [chunks("CANCELLED"), job("CANCELLED")])
    progress = run_stream(driver, core)
    assert progress.state is not None
    assert progress.state.status is JobStatus.CANCELLED


def test_without_status_the_last_stream_reply_is_the_final_state(
    core: EndpointCore, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="runpod_facade")
    driver = ScriptedDriver(clock, [chunks("TIMED_OUT", error="too slow"), error(404, "expired")])
    with pytest.raises(JobTimedOut) as info:
        run_stream(driver, core)
    state = info.value.state
    assert (state.id, state.status, state.error) == ("job-1", JobStatus.TIMED_OUT, "too slow")
    assert state.to_dict() == {"status": "TIMED_OUT", "stream": [], "error": "too slow"}
    assert caplog.messages == [
        "stream of job job-1 ended; /status for its result failed: "
        "status failed with HTTP 404 (job job-1): expired"
    ]


def test_a_status_not_yet_terminal_yields_to_the_stream_reply(
    core: EndpointCore, clock: FakeClock
) -> None:
    driver = ScriptedDriver(clock, [chunks("COMPLETED", 1), job("IN_PROGRESS", output="stale")])
    progress = run_stream(driver, core)
    assert progress.state is not None
    assert (progress.state.status, progress.state.output) == (JobStatus.COMPLETED, None)


def test_a_lost_stream_reply_is_re_read_and_its_chunks_are_gone(
    core: EndpointCore, clock: FakeClock
) -> None:
    driver = ScriptedDriver(clock, [lost(), chunks("COMPLETED"), job("COMPLETED")])
    run_stream(driver, core)
    assert driver.ops == ["stream", "stream", "status"]
    assert driver.emitted == []


def test_a_connection_error_before_the_deadline_is_raised(
    core: EndpointCore, clock: FakeClock
) -> None:
    driver = ScriptedDriver(clock, [not_sent()] * 4)
    with pytest.raises(APIConnectionError) as info:
        run_stream(driver, core, timeout=60.0)
    assert info.value.request_sent is False
    assert info.value.__cause__ is None


def test_an_error_past_the_deadline_is_the_timeouts_cause(
    core: EndpointCore, clock: FakeClock
) -> None:
    driver = ScriptedDriver(clock, [Reply(error(503), after=2.0)])
    with pytest.raises(WaitTimeout) as info:
        run_stream(driver, core, timeout=2.0)
    assert getattr(info.value.__cause__, "status_code", None) == 503


def test_a_retry_that_would_outlast_the_deadline_ends_as_the_deadline(
    core: EndpointCore, clock: FakeClock
) -> None:
    # Retry-After longer than what remains: as for wait, the deadline's error, the 429 its cause.
    driver = ScriptedDriver(clock, [error(429, retry_after="30")])
    with pytest.raises(WaitTimeout) as info:
        run_stream(driver, core, timeout=20.0)
    assert not isinstance(info.value, StreamIdleTimeout)
    assert getattr(info.value.__cause__, "status_code", None) == 429
    assert driver.ops == ["stream"]


def test_progress_tracks_status_and_count(core: EndpointCore, clock: FakeClock) -> None:
    progress = StreamProgress("job-1")
    assert (progress.status, progress.chunks, progress.state) == (None, 0, None)
    script = [
        Reply(chunks("IN_PROGRESS", 1, 2), after=1.0),
        chunks("COMPLETED", 3),
        job("COMPLETED"),
    ]
    driver = ScriptedDriver(clock, script)
    driver.run(stream(core, "job-1", timeout=None, idle_timeout=None, progress=progress))
    assert (progress.status, progress.chunks) == (JobStatus.COMPLETED, 3)


def test_an_empty_poll_held_exactly_the_not_held_threshold_counts_as_held() -> None:
    from tests._support.scripted import make_core

    clock = FakeClock(start=0.0)  # 0.0 + 0.05 - 0.0 is exactly 0.05 in binary floating point
    core = make_core(clock)
    driver = ScriptedDriver(
        clock, [Reply(chunks("IN_QUEUE"), after=0.05), chunks("COMPLETED"), job("COMPLETED")]
    )
    run_stream(driver, core)
    assert driver.sleeps == []
