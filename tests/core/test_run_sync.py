"""``_waiting.run_sync``: submit and wait under one deadline — ``/runsync`` with a hold that
fits the deadline, or ``/run`` when the id is needed at once or less than the server's minimum
hold fits; the submit's read never cut before its hold ends; a failed job in an error reply."""

from __future__ import annotations

import pytest

from runpod_facade._core.engine import EndpointCore
from runpod_facade._core.waiting import run_sync, submit_request
from runpod_facade._exceptions import (
    APIConnectionError,
    InternalServerError,
    InvalidInputError,
    JobFailed,
    RateLimitError,
    WaitTimeout,
)
from runpod_facade._status import JobStatus
from runpod_facade._wire.requests import encode_job
from tests._support.replies import error, job, lost
from tests._support.scripted import HOLD, FakeClock, Reply, ScriptedDriver

BODY = encode_job({"prompt": "hi"})


def test_a_default_run_sync_is_one_runsync_request(core: EndpointCore, clock: FakeClock) -> None:
    driver = ScriptedDriver(clock, [job("COMPLETED", output="hello")])
    state = driver.run(run_sync(core, BODY, timeout=90.0))
    assert (state.id, state.output) == ("job-1", "hello")
    (sent,) = driver.sent
    assert (sent.op, sent.path, sent.wait, sent.cap) == ("runsync", "/ep-1/runsync", 89_500, 90.0)
    assert sent.send.request.content == b'{"input":{"prompt":"hi"}}'
    # A submit's read may run 2 s past the deadline: its reply carries the job id.
    assert sent.read == 92.0


def test_an_unlimited_run_sync_holds_90_s_and_reads_10_s_longer(
    core: EndpointCore, clock: FakeClock
) -> None:
    driver = ScriptedDriver(clock, [job("COMPLETED")])
    driver.run(run_sync(core, BODY, timeout=None))
    (sent,) = driver.sent
    assert (sent.wait, sent.cap, sent.read) == (90_000, None, 100.0)


def test_a_job_outlasting_the_runsync_hold_is_waited_for(
    core: EndpointCore, clock: FakeClock
) -> None:
    script = [Reply(job("IN_PROGRESS"), after=HOLD), Reply(job("COMPLETED", output=1), after=3.0)]
    driver = ScriptedDriver(clock, script)
    assert driver.run(run_sync(core, BODY, timeout=None)).output == 1
    assert driver.ops == ["runsync", "status-sync"]
    assert driver.sent[1].path == "/ep-1/status-sync/job-1"
    assert driver.waits == [90_000, 90_000]
    assert clock.elapsed == 93.0


def test_the_wait_after_runsync_keeps_the_same_deadline(
    core: EndpointCore, clock: FakeClock
) -> None:
    script = [Reply(job("IN_QUEUE"), after=2.0), job("COMPLETED")]
    driver = ScriptedDriver(clock, script)
    driver.run(run_sync(core, BODY, timeout=10.0))
    assert driver.waits == [9_500, 7_500]
    assert [s.cap for s in driver.sent] == [10.0, 8.0]


def test_under_one_and_a_half_seconds_it_submits_with_run(
    core: EndpointCore, clock: FakeClock
) -> None:
    driver = ScriptedDriver(clock, [job("IN_QUEUE"), job("COMPLETED", output=5)])
    assert driver.run(run_sync(core, BODY, timeout=1.25)).output == 5
    assert driver.ops == ["run", "status"]
    assert driver.waits == [None, None]
    # The submit and the first look each get at least a whole second.
    assert [s.cap for s in driver.sent] == [1.25, 1.25]
    assert driver.sent[0].read == 3.25


def test_exactly_one_and_a_half_seconds_still_uses_runsync(
    core: EndpointCore, clock: FakeClock
) -> None:
    driver = ScriptedDriver(clock, [job("COMPLETED")])
    driver.run(run_sync(core, BODY, timeout=1.5))
    assert (driver.ops, driver.waits) == (["runsync"], [1000])


def test_cancel_on_interrupt_submits_with_run_to_know_the_id(
    core: EndpointCore, clock: FakeClock
) -> None:
    driver = ScriptedDriver(clock, [job("IN_QUEUE"), job("COMPLETED")])
    driver.run(run_sync(core, BODY, timeout=60.0, cancel_on_interrupt=True))
    assert driver.ops == ["run", "status-sync"]
    assert driver.waits == [None, 59_500]


def test_a_tiny_timeout_still_returns_the_job_id(core: EndpointCore, clock: FakeClock) -> None:
    # The submit takes 1.5 s against a 0.25 s deadline: its read is not cut (floor 1 s + 2 s
    # grace), and the deadline's error names the job.
    driver = ScriptedDriver(clock, [Reply(job("IN_QUEUE", job_id="late-1"), after=1.5)] * 2)
    with pytest.raises(WaitTimeout) as info:
        driver.run(run_sync(core, BODY, timeout=0.25))
    assert info.value.job_id == "late-1"
    assert driver.sent[0].read == 3.0
    assert driver.ops == ["run", "status"]  # one look, then the deadline


def test_timeout_zero_submits_and_looks_once(core: EndpointCore, clock: FakeClock) -> None:
    driver = ScriptedDriver(clock, [job("IN_QUEUE"), job("IN_PROGRESS")])
    with pytest.raises(WaitTimeout) as info:
        driver.run(run_sync(core, BODY, timeout=0))
    assert driver.ops == ["run", "status"]
    assert info.value.last_state is not None
    assert info.value.last_state.status is JobStatus.IN_PROGRESS


def test_a_submit_finished_at_once_is_returned_without_waiting(
    core: EndpointCore, clock: FakeClock
) -> None:
    driver = ScriptedDriver(clock, [job("COMPLETED", output=9)])
    assert driver.run(run_sync(core, BODY, timeout=0.5)).output == 9
    assert driver.ops == ["run"]


def test_runsync_400_with_a_failed_job_is_job_failed_with_its_id(
    core: EndpointCore, clock: FakeClock
) -> None:
    failed = job("FAILED", job_id="job-3", code=400, error='{"error_message": "boom"}')
    driver = ScriptedDriver(clock, [failed])
    with pytest.raises(JobFailed) as info:
        driver.run(run_sync(core, BODY, timeout=30.0))
    assert info.value.job_id == "job-3"
    assert str(info.value) == "job job-3 FAILED: boom"
    assert driver.ops == ["runsync"]


def test_retry_failed_requeues_the_submitted_job(core: EndpointCore, clock: FakeClock) -> None:
    script = [job("FAILED"), job("IN_QUEUE"), job("COMPLETED", output="second time")]
    driver = ScriptedDriver(clock, script)
    state = driver.run(run_sync(core, BODY, timeout=30.0, retry_failed=1))
    assert state.output == "second time"
    assert driver.ops == ["runsync", "retry", "status-sync"]


def test_on_state_sees_the_submit_and_every_look(core: EndpointCore, clock: FakeClock) -> None:
    seen: list[str] = []
    script = [job("IN_QUEUE"), Reply(job("IN_PROGRESS"), after=1.0), job("COMPLETED")]
    driver = ScriptedDriver(clock, script)
    driver.run(run_sync(core, BODY, timeout=None, on_state=lambda s: seen.append(s.status)))
    assert seen == ["IN_QUEUE", "IN_PROGRESS", "COMPLETED"]


def test_a_lost_submit_reply_is_not_re_sent(core: EndpointCore, clock: FakeClock) -> None:
    driver = ScriptedDriver(clock, [lost()])
    with pytest.raises(APIConnectionError) as info:
        driver.run(run_sync(core, BODY, timeout=30.0))
    assert info.value.request_sent is True
    assert driver.ops == ["runsync"]


@pytest.mark.parametrize("code", [500, 502, 503, 504])
def test_a_submit_5xx_is_raised_not_re_sent(
    code: int, core: EndpointCore, clock: FakeClock
) -> None:
    driver = ScriptedDriver(clock, [error(code)])
    with pytest.raises(InternalServerError):
        driver.run(run_sync(core, BODY, timeout=30.0))
    assert driver.ops == ["runsync"]


def test_a_submit_rate_limited_past_the_deadline_raises_the_rate_limit(
    core: EndpointCore, clock: FakeClock
) -> None:
    # No job exists yet, so there is no WaitTimeout to raise: the 429 itself is the answer.
    driver = ScriptedDriver(clock, [error(429, retry_after="5")])
    with pytest.raises(RateLimitError) as info:
        driver.run(run_sync(core, BODY, timeout=3.0))
    assert info.value.__cause__ is None
    assert info.value.__suppress_context__ is True
    assert driver.ops == ["runsync"]


def test_a_rate_limited_submit_is_re_sent_within_the_deadline(
    core: EndpointCore, clock: FakeClock
) -> None:
    driver = ScriptedDriver(clock, [error(429, retry_after="1"), job("COMPLETED")])
    driver.run(run_sync(core, BODY, timeout=30.0))
    assert driver.ops == ["runsync", "runsync"]
    assert driver.sleeps == [1.0]
    assert [s.cap for s in driver.sent] == [30.0, 29.0]


def test_cancel_on_timeout_cancels_the_submitted_job(core: EndpointCore, clock: FakeClock) -> None:
    driver = ScriptedDriver(clock, [job("IN_QUEUE"), job("IN_QUEUE"), job("CANCELLED")])
    with pytest.raises(WaitTimeout) as info:
        driver.run(run_sync(core, BODY, timeout=0, cancel_on_timeout=True))
    assert driver.ops == ["run", "status", "cancel"]
    assert info.value.cancelled is True


def test_a_wait_that_never_got_an_answer_reports_the_submits_state(
    core: EndpointCore, clock: FakeClock
) -> None:
    driver = ScriptedDriver(clock, [job("IN_QUEUE"), error(429, retry_after="5")])
    with pytest.raises(WaitTimeout) as info:
        driver.run(run_sync(core, BODY, timeout=1.25))
    assert info.value.last_state is not None
    assert info.value.last_state.status is JobStatus.IN_QUEUE
    assert isinstance(info.value.__cause__, RateLimitError)


# --- the one choice of route ---------------------------------------------------------------

ONE_MIB = 1024 * 1024
#: Between /run's 10 MiB limit and /runsync's 20 MiB one.
LARGE = encode_job("x" * (15 * ONE_MIB))

ROUTES = [
    # (id_at_once, deadline, longest hold, operation, wait ms)
    (False, 90.0, 90.0, "runsync", 89_500),
    (False, None, 90.0, "runsync", 90_000),
    (False, 30.0, 1.0, "runsync", 1_000),  # a batch: the server's minimum hold
    (False, 1.4, 90.0, "run", None),  # less than the minimum hold fits
    (False, 1.4, 1.0, "run", None),
    (True, 90.0, 90.0, "run", None),  # the id is needed at once
    (True, None, 1.0, "run", None),
]


@pytest.mark.parametrize(("id_at_once", "timeout", "longest", "operation", "wait"), ROUTES)
def test_submit_request_picks_the_route_once(
    core: EndpointCore,
    id_at_once: bool,
    timeout: float | None,
    longest: float,
    operation: str,
    wait: int | None,
) -> None:
    request = submit_request(
        core, BODY, core.deadline(timeout), id_at_once=id_at_once, longest=longest
    )
    assert (request.operation, request.params.get("wait")) == (operation, wait)
    assert request.content is BODY.content  # encoded once, sent as is


def test_a_body_over_the_run_limit_goes_only_by_runsync(core: EndpointCore) -> None:
    """The route's payload limit is checked when the route is chosen, before any I/O."""
    assert LARGE.size > 10 * ONE_MIB
    held = submit_request(core, LARGE, core.deadline(30.0), id_at_once=False)
    assert held.operation == "runsync"
    for id_at_once, timeout in ((True, 30.0), (False, 1.2)):
        with pytest.raises(InvalidInputError, match=r"^run payload is 15,728,652 bytes"):
            submit_request(core, LARGE, core.deadline(timeout), id_at_once=id_at_once)
