"""``_waiting.wait``: one deadline over long-polls and polls. The ``wait`` value, the HTTP
read timeout derived from it, the hold fitted to the deadline, the switch to ``/status``
polls below 1.5 s, poll sleeps never past the deadline, ``timeout=0`` and the first-look
floor, retries bounded by the deadline, the /status-sync fallback and ``retry_failed``."""

from __future__ import annotations

import logging

import pytest

from runpod_facade._constants import LONG_POLL_WAIT_MS, MIN_WAIT_MS
from runpod_facade._core.deadline import Deadline
from runpod_facade._core.engine import EndpointCore
from runpod_facade._core.waiting import (
    LOOK_FLOOR,
    REPLY_GRACE,
    check_terminal,
    hold_for,
    wait,
    wait_ms,
)
from runpod_facade._exceptions import (
    APIConnectionError,
    APITimeoutError,
    InternalServerError,
    JobCancelled,
    JobFailed,
    JobTimedOut,
    NotFoundError,
    RateLimitError,
    WaitTimeout,
)
from runpod_facade._status import JobStatus
from runpod_facade._types import JobState
from tests._support.replies import error, job, not_sent, timed_out
from tests._support.scripted import HOLD, READ_TIMEOUT, FakeClock, Reply, ScriptedDriver, make_core

# POLL's sleeps: 0.25 * 2**n (capped at 2) less 25 %.
POLLS = [0.1875, 0.375, 0.75, 1.5, 1.5]


def test_constants() -> None:
    assert (REPLY_GRACE, LOOK_FLOOR, MIN_WAIT_MS, LONG_POLL_WAIT_MS) == (0.5, 1.0, 1000, 90_000)


# --- the hold and the wait parameter ---------------------------------------------------------


def test_hold_for_fits_the_hold_before_the_deadline(clock: FakeClock) -> None:
    assert hold_for(Deadline(None, clock=clock)) == 90.0
    assert hold_for(Deadline(100.0, clock=clock)) == 90.0
    assert hold_for(Deadline(10.0, clock=clock)) == 9.5
    assert hold_for(Deadline(1.5, clock=clock)) == 1.0  # exactly the server's minimum
    assert hold_for(Deadline(1.4375, clock=clock)) is None
    assert hold_for(Deadline(0.0, clock=clock)) is None
    assert hold_for(Deadline(None, clock=clock), longest=2.0) == 2.0
    assert hold_for(Deadline(5.0, clock=clock), longest=2.0) == 2.0


def test_wait_ms_is_whole_milliseconds_never_below_the_minimum() -> None:
    assert wait_ms(9.5) == 9500
    assert wait_ms(2.0007) == 2000  # floored: never longer than the hold that fits
    assert wait_ms(1.0) == 1000
    assert wait_ms(0.5) == 1000
    assert wait_ms(0.0) == 1000


def test_an_unlimited_wait_long_polls_90_s_with_a_read_timeout_10_s_longer(
    core: EndpointCore, clock: FakeClock
) -> None:
    driver = ScriptedDriver(clock, [job("COMPLETED", output=7)])
    state = driver.run(wait(core, "job-1", timeout=None))
    assert state.output == 7
    (sent,) = driver.sent
    assert (sent.op, sent.path, sent.wait, sent.cap) == (
        "status-sync", "/ep-1/status-sync/job-1", 90_000, None,
    )  # fmt: skip
    assert (sent.send.request.hold, sent.send.timeouts.read) == (90.0, 100.0)
    # The read outlasts the hold; a long-poll may queue for a pooled connection.
    assert (sent.timeouts.connect, sent.read, sent.timeouts.write, sent.timeouts.pool) == (
        5.0, 100.0, 30.0, None,
    )  # fmt: skip


def test_a_deadline_fits_the_hold_and_caps_the_read(core: EndpointCore, clock: FakeClock) -> None:
    driver = ScriptedDriver(clock, [job("COMPLETED")])
    driver.run(wait(core, "job-1", timeout=30.0))
    (sent,) = driver.sent
    assert (sent.wait, sent.cap, sent.send.timeouts.read) == (29_500, 30.0, 30.0)
    assert (sent.timeouts.connect, sent.read, sent.timeouts.write, sent.timeouts.pool) == (
        5.0, 30.0, 30.0, 30.0,
    )  # fmt: skip


def test_long_polls_follow_the_shrinking_deadline(core: EndpointCore, clock: FakeClock) -> None:
    # The job changes state every 5 s, ending each hold early; each next hold fits what is left.
    script = [Reply(job("IN_PROGRESS"), after=5.0)] * 3 + [job("COMPLETED")]
    driver = ScriptedDriver(clock, script)
    driver.run(wait(core, "job-1", timeout=20.0))
    assert driver.ops == ["status-sync"] * 4
    assert driver.waits == [19_500, 14_500, 9_500, 4_500]
    assert [s.cap for s in driver.sent] == [20.0, 15.0, 10.0, 5.0]
    assert [s.at for s in driver.sent] == [0.0, 5.0, 10.0, 15.0]
    assert driver.sleeps == []


def test_a_long_poll_held_to_its_end_leaves_the_grace_for_status_polls(
    core: EndpointCore, clock: FakeClock
) -> None:
    driver = ScriptedDriver(clock, [Reply(job("IN_PROGRESS"), after=HOLD), job("COMPLETED")])
    driver.run(wait(core, "job-1", timeout=20.0))
    assert driver.ops == ["status-sync", "status"]
    assert [s.at for s in driver.sent] == [0.0, 19.5]
    assert driver.sent[1].cap == 0.5


def test_a_held_long_poll_is_followed_at_once_an_unheld_one_after_a_poll_sleep(
    core: EndpointCore, clock: FakeClock
) -> None:
    script = [
        Reply(job("IN_QUEUE"), after=0.5),  # held a while: no sleep
        job("IN_QUEUE"),  # answered at once: the server did not hold it
        job("IN_QUEUE"),
        job("COMPLETED"),
    ]
    driver = ScriptedDriver(clock, script)
    driver.run(wait(core, "job-1", timeout=None))
    assert driver.sleeps == [0.1875, 0.375]
    assert driver.ops == ["status-sync"] * 4


# --- below the long-poll minimum: /status polls ----------------------------------------------


def test_under_one_and_a_half_seconds_the_wait_polls_status(
    core: EndpointCore, clock: FakeClock
) -> None:
    driver = ScriptedDriver(
        clock, [job("IN_QUEUE"), job("IN_PROGRESS"), job("COMPLETED", output=1)]
    )
    assert driver.run(wait(core, "job-1", timeout=1.25)).output == 1
    assert driver.ops == ["status"] * 3
    assert driver.waits == [None, None, None]
    # The first look is whole (the floor); later ones are capped by what remains.
    assert [s.cap for s in driver.sent] == [1.25, 1.0625, 0.6875]
    assert driver.sleeps == [0.1875, 0.375]


def test_no_poll_sleep_is_longer_than_what_remains(core: EndpointCore, clock: FakeClock) -> None:
    driver = ScriptedDriver(clock, [job("IN_QUEUE")] * 2)
    with pytest.raises(WaitTimeout) as info:
        driver.run(wait(core, "job-1", timeout=0.5))
    # 0.1875, then 0.375 cut to the 0.3125 left: the wait ends exactly at its deadline.
    assert driver.sleeps == [0.1875, 0.3125]
    assert clock.elapsed == 0.5
    assert [s.cap for s in driver.sent] == [1.0, 0.3125]
    assert info.value.last_state is not None
    assert info.value.last_state.status is JobStatus.IN_QUEUE


def test_a_long_wait_ending_in_polls_sleeps_within_the_deadline(
    core: EndpointCore, clock: FakeClock
) -> None:
    script = [Reply(job("IN_PROGRESS"), after=HOLD)] + [job("IN_PROGRESS")] * 3
    driver = ScriptedDriver(clock, script)
    with pytest.raises(WaitTimeout):
        driver.run(wait(core, "job-1", timeout=2.0))
    # The long-poll leaves 0.5 s: polls, each sleep cut to the deadline.
    assert driver.ops == ["status-sync", "status", "status"]
    assert driver.waits == [1500, None, None]
    assert driver.sleeps == [0.1875, 0.3125]
    assert clock.elapsed == 2.0


def test_timeout_zero_looks_exactly_once(core: EndpointCore, clock: FakeClock) -> None:
    driver = ScriptedDriver(clock, [job("IN_PROGRESS")])
    with pytest.raises(WaitTimeout) as info:
        driver.run(wait(core, "job-1", timeout=0))
    assert driver.ops == ["status"]
    assert driver.sent[0].cap == LOOK_FLOOR
    assert driver.sleeps == [0.0]
    assert str(info.value) == "job job-1 did not finish within 0s (last status IN_PROGRESS)"
    assert (info.value.job_id, info.value.timeout, info.value.cancelled) == ("job-1", 0, False)


def test_timeout_zero_returns_a_finished_job(core: EndpointCore, clock: FakeClock) -> None:
    driver = ScriptedDriver(clock, [job("COMPLETED", output="done")])
    assert driver.run(wait(core, "job-1", timeout=0)).output == "done"


def test_the_first_look_is_not_cut_by_a_tiny_deadline(core: EndpointCore, clock: FakeClock) -> None:
    driver = ScriptedDriver(clock, [Reply(job("COMPLETED", output=1), after=0.75)])
    assert driver.run(wait(core, "job-1", timeout=0.25)).output == 1
    assert (driver.sent[0].cap, driver.sent[0].read) == (1.0, 1.0)


# --- errors under the deadline ------------------------------------------------------------------


def test_a_rate_limit_past_the_deadline_ends_as_wait_timeout_with_the_cause(
    core: EndpointCore, clock: FakeClock
) -> None:
    driver = ScriptedDriver(clock, [error(429, "slow down", retry_after="3")])
    with pytest.raises(WaitTimeout) as info:
        driver.run(wait(core, "job-1", timeout=2.0))
    cause = info.value.__cause__
    assert isinstance(cause, RateLimitError)
    assert cause.retry_after == 3.0
    assert info.value.last_state is None
    assert str(info.value) == "job job-1 did not finish within 2s (last status unknown)"
    assert driver.sleeps == []  # no pointless wait for an answer that cannot come in time


def test_a_hung_long_poll_ends_at_the_deadline(core: EndpointCore, clock: FakeClock) -> None:
    driver = ScriptedDriver(clock, [Reply(timed_out(), after=READ_TIMEOUT)])
    with pytest.raises(WaitTimeout) as info:
        driver.run(wait(core, "job-1", timeout=2.0))
    assert isinstance(info.value.__cause__, APITimeoutError)
    assert driver.sent[0].read == 2.0
    assert clock.elapsed == 2.0


def test_an_outage_within_the_deadline_is_retried_then_recovers(
    core: EndpointCore, clock: FakeClock
) -> None:
    driver = ScriptedDriver(clock, [error(503), not_sent(), job("COMPLETED")])
    driver.run(wait(core, "job-1", timeout=10.0))
    assert driver.sleeps == [0.4375, 0.875]
    assert [s.cap for s in driver.sent] == [10.0, 9.5625, 8.6875]


def test_a_connection_error_before_the_deadline_is_raised(clock: FakeClock) -> None:
    core = make_core(clock)
    driver = ScriptedDriver(clock, [not_sent()] * 4)
    with pytest.raises(APIConnectionError) as info:
        driver.run(wait(core, "job-1", timeout=None))
    assert info.value.request_sent is False
    assert info.value.job_id == "job-1"
    assert driver.sleeps == [0.4375, 0.875, 1.75]


def test_a_connection_error_at_the_deadline_is_the_timeouts_cause(clock: FakeClock) -> None:
    core = make_core(clock)
    # The last allowed retry is answered exactly as the deadline passes.
    script = [not_sent(), not_sent(), not_sent(), Reply(not_sent(), after=10.0)]
    driver = ScriptedDriver(clock, script)
    with pytest.raises(WaitTimeout) as info:
        driver.run(wait(core, "job-1", timeout=5.0))
    assert isinstance(info.value.__cause__, APIConnectionError)


def test_server_errors_that_outlast_the_retries_are_raised(
    core: EndpointCore, clock: FakeClock
) -> None:
    driver = ScriptedDriver(clock, [error(500)] * 4)
    with pytest.raises(InternalServerError) as info:
        driver.run(wait(core, "job-1", timeout=60.0))
    assert info.value.job_id == "job-1"


def test_cancel_on_timeout_cancels_and_says_so(core: EndpointCore, clock: FakeClock) -> None:
    driver = ScriptedDriver(clock, [job("IN_QUEUE"), job("CANCELLED")])
    with pytest.raises(WaitTimeout) as info:
        driver.run(wait(core, "job-1", timeout=0, cancel_on_timeout=True))
    assert driver.ops == ["status", "cancel"]
    assert driver.sent[1].cap == 10.0
    assert info.value.cancelled is True
    assert str(info.value) == (
        "job job-1 did not finish within 0s (last status IN_QUEUE); the job was cancelled"
    )


def test_a_failed_cancel_on_timeout_is_reported_as_not_cancelled(
    core: EndpointCore, clock: FakeClock
) -> None:
    driver = ScriptedDriver(clock, [job("IN_QUEUE"), error(404)])
    with pytest.raises(WaitTimeout) as info:
        driver.run(wait(core, "job-1", timeout=0, cancel_on_timeout=True))
    assert info.value.cancelled is False


# --- terminal states ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "cls"),
    [("FAILED", JobFailed), ("CANCELLED", JobCancelled), ("TIMED_OUT", JobTimedOut)],
)
def test_terminal_states_other_than_completed_raise(
    status: str, cls: type[Exception], core: EndpointCore, clock: FakeClock
) -> None:
    driver = ScriptedDriver(clock, [job(status, error="why")])
    with pytest.raises(cls) as info:
        driver.run(wait(core, "job-1", timeout=None))
    assert info.value.job_id == "job-1"  # type: ignore[attr-defined]
    assert info.value.state.status == status  # type: ignore[attr-defined]


def test_check_terminal_returns_completed_and_non_terminal_states() -> None:
    done = JobState(id="j", status=JobStatus.COMPLETED)
    queued = JobState(id="j", status=JobStatus.IN_QUEUE)
    assert check_terminal(done) is done
    assert check_terminal(queued) is queued


def test_an_unknown_status_is_waited_through(core: EndpointCore, clock: FakeClock) -> None:
    driver = ScriptedDriver(clock, [job("PAUSED"), job("COMPLETED")])
    assert driver.run(wait(core, "job-1", timeout=None)).status is JobStatus.COMPLETED
    assert driver.sleeps == [0.1875]


def test_on_state_sees_every_snapshot(core: EndpointCore, clock: FakeClock) -> None:
    seen: list[str] = []
    script = [Reply(job("IN_QUEUE"), after=1.0), Reply(job("IN_PROGRESS"), after=1.0)]
    driver = ScriptedDriver(clock, [*script, job("COMPLETED")])
    driver.run(wait(core, "job-1", timeout=None, on_state=lambda s: seen.append(s.status)))
    assert seen == ["IN_QUEUE", "IN_PROGRESS", "COMPLETED"]


# --- /status-sync missing ----------------------------------------------------------------------


@pytest.mark.parametrize("code", [404, 405])
def test_a_missing_status_sync_route_falls_back_to_status_for_good(
    code: int, core: EndpointCore, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="runpod_facade")
    driver = ScriptedDriver(clock, [error(code), job("IN_PROGRESS"), job("COMPLETED", output=2)])
    assert driver.run(wait(core, "job-1", timeout=None)).output == 2
    assert driver.ops == ["status-sync", "status", "status"]
    assert driver.sleeps == [0.1875]
    assert core.long_poll_unavailable is True
    assert f"/status-sync unavailable (HTTP {code}); polling /status" in caplog.messages
    # Remembered for the next wait.
    driver = ScriptedDriver(clock, [job("COMPLETED")])
    driver.run(wait(core, "job-1", timeout=None))
    assert driver.ops == ["status"]


def test_a_404_from_both_routes_is_not_found_with_the_id(
    core: EndpointCore, clock: FakeClock
) -> None:
    driver = ScriptedDriver(clock, [error(404, "job not found"), error(404, "job not found")])
    with pytest.raises(NotFoundError) as info:
        driver.run(wait(core, "gone-1", timeout=None))
    assert info.value.job_id == "gone-1"
    assert core.long_poll_unavailable is False  # the job is gone, not the route


def test_other_long_poll_errors_do_not_fall_back(core: EndpointCore, clock: FakeClock) -> None:
    driver = ScriptedDriver(clock, [error(401)])
    with pytest.raises(Exception) as info:
        driver.run(wait(core, "job-1", timeout=None))
    assert getattr(info.value, "status_code", None) == 401
    assert driver.ops == ["status-sync"]


def test_long_poll_off_polls_status(clock: FakeClock) -> None:
    core = make_core(clock, long_poll=False)
    driver = ScriptedDriver(clock, [job("IN_QUEUE"), job("COMPLETED")])
    driver.run(wait(core, "job-1", timeout=None))
    assert driver.ops == ["status", "status"]
    assert driver.sleeps == [0.1875]


# --- retry_failed ------------------------------------------------------------------------------


def test_retry_failed_requeues_a_failed_job(core: EndpointCore, clock: FakeClock) -> None:
    script = [job("FAILED", error="1st"), job("IN_QUEUE"), job("COMPLETED", output="ok")]
    driver = ScriptedDriver(clock, script)
    assert driver.run(wait(core, "job-1", timeout=None, retry_failed=1)).output == "ok"
    assert driver.ops == ["status-sync", "retry", "status-sync"]
    assert driver.sent[1].path == "/ep-1/retry/job-1"


def test_retry_failed_gives_up_with_every_attempt(core: EndpointCore, clock: FakeClock) -> None:
    script = [
        job("FAILED", error="1st"),
        job("IN_QUEUE"),
        job("TIMED_OUT"),
        job("IN_QUEUE"),
        job("FAILED", error="3rd"),
    ]
    driver = ScriptedDriver(clock, script)
    with pytest.raises(JobFailed) as info:
        driver.run(wait(core, "job-1", timeout=None, retry_failed=2))
    assert [a.status for a in info.value.attempts] == ["FAILED", "TIMED_OUT", "FAILED"]
    assert info.value.error == "3rd"
    assert driver.ops == ["status-sync", "retry", "status-sync", "retry", "status-sync"]


def test_without_retry_failed_a_failure_is_final(core: EndpointCore, clock: FakeClock) -> None:
    driver = ScriptedDriver(clock, [job("FAILED")])
    with pytest.raises(JobFailed) as info:
        driver.run(wait(core, "job-1", timeout=None))
    assert len(info.value.attempts) == 1
    assert driver.ops == ["status-sync"]


def test_a_cancelled_job_is_not_requeued(core: EndpointCore, clock: FakeClock) -> None:
    driver = ScriptedDriver(clock, [job("CANCELLED")])
    with pytest.raises(JobCancelled):
        driver.run(wait(core, "job-1", timeout=None, retry_failed=3))
    assert driver.ops == ["status-sync"]


def test_a_retry_that_ends_at_once_counts_as_an_attempt(
    core: EndpointCore, clock: FakeClock
) -> None:
    driver = ScriptedDriver(clock, [job("FAILED"), job("FAILED", error="again")])
    with pytest.raises(JobFailed) as info:
        driver.run(wait(core, "job-1", timeout=None, retry_failed=1))
    assert len(info.value.attempts) == 2
    assert driver.ops == ["status-sync", "retry"]


def test_no_requeue_once_the_deadline_passed(core: EndpointCore, clock: FakeClock) -> None:
    driver = ScriptedDriver(clock, [Reply(job("FAILED"), after=1.0)])
    with pytest.raises(JobFailed):
        driver.run(wait(core, "job-1", timeout=0, retry_failed=1))
    assert driver.ops == ["status"]


def test_a_refused_requeue_raises_the_failure_caused_by_the_refusal(
    core: EndpointCore, clock: FakeClock
) -> None:
    driver = ScriptedDriver(clock, [job("FAILED"), error(400, "not retryable")])
    with pytest.raises(JobFailed) as info:
        driver.run(wait(core, "job-1", timeout=None, retry_failed=1))
    assert getattr(info.value.__cause__, "message", None) == "not retryable"


def test_a_requeue_is_logged(
    core: EndpointCore, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="runpod_facade")
    driver = ScriptedDriver(clock, [job("TIMED_OUT"), job("IN_QUEUE"), job("COMPLETED")])
    driver.run(wait(core, "job-1", timeout=None, retry_failed=2))
    assert "job job-1 ended TIMED_OUT; requeueing it (retry 1 of 2)" in caplog.messages


def test_a_long_poll_answered_exactly_at_the_not_held_threshold_counts_as_held() -> None:
    clock = FakeClock(start=0.0)
    core = make_core(clock)
    driver = ScriptedDriver(clock, [Reply(job("IN_QUEUE"), after=0.05), job("COMPLETED")])
    driver.run(wait(core, "job-1", timeout=None))
    assert driver.sleeps == []


def test_the_fallback_status_is_capped_by_the_deadline(
    core: EndpointCore, clock: FakeClock
) -> None:
    driver = ScriptedDriver(clock, [Reply(error(404), after=1.0), job("COMPLETED")])
    driver.run(wait(core, "job-1", timeout=10.0))
    assert [(s.op, s.path, s.cap) for s in driver.sent] == [
        ("status-sync", "/ep-1/status-sync/job-1", 10.0),
        ("status", "/ep-1/status/job-1", 9.0),
    ]


def test_polls_name_the_job_and_back_off_further_each_time(clock: FakeClock) -> None:
    core = make_core(clock, long_poll=False)
    script = [job("IN_QUEUE", job_id="job-9")] * 5 + [job("COMPLETED", job_id="job-9")]
    driver = ScriptedDriver(clock, script)
    driver.run(wait(core, "job-9", timeout=None))
    assert {s.path for s in driver.sent} == {"/ep-1/status/job-9"}
    assert driver.sleeps == POLLS


def test_a_hold_just_under_one_second_is_not_a_long_poll(clock: FakeClock) -> None:
    assert hold_for(Deadline(1.4995, clock=clock)) is None


def test_a_retried_long_poll_asks_only_for_the_hold_that_still_fits(
    core: EndpointCore, clock: FakeClock
) -> None:
    # 20 s deadline: the first long-poll holds 19.5 s; a 503 comes back after 8 s, the retry
    # sleeps 0.4375 s, and the second long-poll must fit in the 11.5625 s left (less grace).
    script = [Reply(error(503), after=8.0), job("COMPLETED", output=1)]
    driver = ScriptedDriver(clock, script)
    assert driver.run(wait(core, "job-1", timeout=20.0)).output == 1
    assert driver.ops == ["status-sync", "status-sync"]
    assert driver.waits == [19_500, 11_062]
    assert driver.sleeps == [0.4375]


def test_a_retried_long_poll_falls_back_to_a_poll_when_no_hold_fits(
    core: EndpointCore, clock: FakeClock
) -> None:
    # 2 s deadline: the long-poll (1.5 s hold) fails after 1 s; 0.5625 s later no 1 s hold fits.
    script = [Reply(error(503), after=1.0), job("COMPLETED", output=2)]
    driver = ScriptedDriver(clock, script)
    assert driver.run(wait(core, "job-1", timeout=2.0)).output == 2
    assert driver.ops == ["status-sync", "status"]
