"""``EndpointCore.call``: one request sent until it succeeds, with the retry rules per status,
transport failure and request safety, under an optional deadline — every request, sleep and
error checked exactly, in fake time."""

from __future__ import annotations

import logging
import types

import pytest

from runpod_facade._core.engine import CANCEL_TIMEOUT, DeadlineReached, EndpointCore
from runpod_facade._core.retry import RetryPolicy
from runpod_facade._exceptions import (
    APIConnectionError,
    APIError,
    APIResponseValidationError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    InternalServerError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    RateLimitError,
    UnprocessableEntityError,
)
from runpod_facade._status import JobStatus
from runpod_facade._types import JobState
from runpod_facade._wire import replies as _replies
from runpod_facade._wire.requests import encode_job
from tests._support.replies import body as reply_body
from tests._support.replies import error, health, html, job, lost, not_sent, purged, timed_out
from tests._support.scripted import FakeClock, Reply, ScriptedDriver, fixed, make_core

BACKOFF = [0.4375, 0.875, 1.75]  # RETRY's three delays: 0.5 * 2**n less 12.5 %
LOST_SUBMIT = (
    "RemoteProtocolError: Server disconnected; the request may have reached the server, so it "
    "was not re-sent (a job may have been created, but no job id came back)"
)


def status_call(core: EndpointCore, deadline: float | None = None, floor: float = 0.0):  # type: ignore[no-untyped-def]
    limit = None if deadline is None else core.deadline(deadline)
    return core.call(core.request("status", job_id="job-1"), limit, floor=floor)


def run_call(core: EndpointCore, deadline: float | None = None):  # type: ignore[no-untyped-def]
    limit = None if deadline is None else core.deadline(deadline)
    return core.call(core.request("run", body=encode_job({"n": 1})), limit)


# --- success ---------------------------------------------------------------------------------


def test_a_2xx_is_parsed_and_returned_after_one_request(
    core: EndpointCore, clock: FakeClock
) -> None:
    driver = ScriptedDriver(clock, [job("COMPLETED", output={"x": 1})])
    state = driver.run(status_call(core))
    assert state == JobState(id="job-1", status=JobStatus.COMPLETED, output={"x": 1})
    (sent,) = driver.sent
    assert (sent.op, sent.path, sent.cap, sent.send.attempt) == (
        "status",
        "/ep-1/status/job-1",
        None,
        0,
    )
    assert driver.sleeps == []


# --- retries per status ----------------------------------------------------------------------


@pytest.mark.parametrize("code", [408, 429, 500, 502, 503, 504, 499, 520, 524])
def test_reads_are_retried_on_retryable_statuses(
    code: int, core: EndpointCore, clock: FakeClock
) -> None:
    driver = ScriptedDriver(clock, [error(code), job("COMPLETED")])
    assert driver.run(status_call(core)).status is JobStatus.COMPLETED
    assert driver.ops == ["status", "status"]
    assert [s.send.attempt for s in driver.sent] == [0, 1]
    assert driver.sleeps == [0.4375]
    assert clock.elapsed == 0.4375


@pytest.mark.parametrize(
    ("code", "cls"),
    [
        (400, BadRequestError),
        (401, AuthenticationError),
        (403, PermissionDeniedError),
        (404, NotFoundError),
        (409, ConflictError),
        (413, PayloadTooLargeError),
        (422, UnprocessableEntityError),
    ],
)
def test_client_errors_raise_their_type_at_once(
    code: int, cls: type[APIError], core: EndpointCore, clock: FakeClock
) -> None:
    driver = ScriptedDriver(clock, [error(code, "nope")])
    with pytest.raises(APIError) as info:
        driver.run(status_call(core))
    assert type(info.value) is cls
    assert (info.value.status_code, info.value.message) == (code, "nope")
    assert (info.value.operation, info.value.job_id) == ("status", "job-1")
    assert driver.ops == ["status"]
    assert driver.sleeps == []


def test_retries_end_after_max_retries_with_the_last_error(
    core: EndpointCore, clock: FakeClock
) -> None:
    driver = ScriptedDriver(
        clock, [error(503, "a"), error(503, "b"), error(502, "c"), error(500, "d")]
    )
    with pytest.raises(InternalServerError) as info:
        driver.run(status_call(core))
    assert (info.value.status_code, info.value.message) == (500, "d")
    assert [s.send.attempt for s in driver.sent] == [0, 1, 2, 3]
    assert driver.sleeps == BACKOFF
    assert [s.at for s in driver.sent] == [0.0, 0.4375, 1.3125, 3.0625]


def test_max_retries_zero_sends_once(clock: FakeClock) -> None:
    core = make_core(clock, retry=RetryPolicy(max_retries=0, rng=fixed(0.5)))
    driver = ScriptedDriver(clock, [error(503)])
    with pytest.raises(InternalServerError):
        driver.run(status_call(core))
    assert driver.ops == ["status"]


def test_the_budget_stops_retries_before_it_is_overspent(clock: FakeClock) -> None:
    core = make_core(clock, retry=RetryPolicy(budget=1.5, rng=fixed(0.5)))
    driver = ScriptedDriver(clock, [error(503)] * 3)
    with pytest.raises(InternalServerError):
        driver.run(status_call(core))
    # 0.4375 + 0.875 = 1.3125 fits in 1.5; another 1.75 would not.
    assert driver.sleeps == [0.4375, 0.875]
    assert len(driver.sent) == 3


# --- Retry-After ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "slept"),
    [
        ({"retry_after": "2"}, 2.0),
        ({"retry_after": "0"}, 0.0),
        ({"retry_after_ms": "1500"}, 1.5),
        ({"retry_after_ms": "250", "retry_after": "9"}, 0.25),
    ],
)
def test_429_waits_what_retry_after_says(
    headers: dict[str, str], slept: float, core: EndpointCore, clock: FakeClock
) -> None:
    driver = ScriptedDriver(clock, [error(429, **headers), job("COMPLETED")])
    driver.run(status_call(core))
    assert driver.sleeps == [slept]
    assert driver.sent[1].at == slept


def test_retry_after_as_an_http_date(
    core: EndpointCore, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_replies, "time", types.SimpleNamespace(time=lambda: 1_700_000_000.0))
    date = "Tue, 14 Nov 2023 22:13:23 GMT"  # 3 s after the wall clock above
    driver = ScriptedDriver(clock, [error(503, retry_after=date), job("COMPLETED")])
    driver.run(status_call(core))
    assert driver.sleeps == [3.0]


def test_a_retry_after_longer_than_the_maximum_gives_up_at_once(
    core: EndpointCore, clock: FakeClock
) -> None:
    driver = ScriptedDriver(clock, [error(429, "slow down", retry_after="61")])
    with pytest.raises(RateLimitError) as info:
        driver.run(status_call(core))
    assert info.value.retry_after == 61.0
    assert driver.sleeps == []
    assert driver.ops == ["status"]


def test_a_retry_after_of_exactly_the_maximum_is_waited(
    core: EndpointCore, clock: FakeClock
) -> None:
    driver = ScriptedDriver(clock, [error(429, retry_after="60"), job("COMPLETED")])
    driver.run(status_call(core))
    assert driver.sleeps == [60.0]


# --- submits are never duplicated --------------------------------------------------------------


@pytest.mark.parametrize("code", [408, 500, 502, 503, 504, 520])
def test_a_submit_is_not_re_sent_after_a_status_that_may_follow_its_job(
    code: int, core: EndpointCore, clock: FakeClock
) -> None:
    driver = ScriptedDriver(clock, [error(code, retry_after="1")])
    with pytest.raises(APIError) as info:
        driver.run(run_call(core))
    assert info.value.status_code == code
    assert driver.ops == ["run"]
    assert driver.sleeps == []


def test_a_submit_is_not_re_sent_after_a_proxy_page(core: EndpointCore, clock: FakeClock) -> None:
    driver = ScriptedDriver(clock, [html(502)])
    with pytest.raises(InternalServerError):
        driver.run(run_call(core))
    assert driver.ops == ["run"]


def test_a_submit_is_re_sent_after_429(core: EndpointCore, clock: FakeClock) -> None:
    driver = ScriptedDriver(clock, [error(429), error(429, retry_after="2"), job("IN_QUEUE")])
    state = driver.run(run_call(core))
    assert (state.id, state.status) == ("job-1", JobStatus.IN_QUEUE)
    assert driver.ops == ["run", "run", "run"]
    assert driver.sleeps == [0.4375, 2.0]


def test_a_submit_is_re_sent_when_it_provably_never_left(
    core: EndpointCore, clock: FakeClock
) -> None:
    driver = ScriptedDriver(clock, [not_sent(), not_sent(), job("IN_QUEUE")])
    assert driver.run(run_call(core)).id == "job-1"
    assert driver.ops == ["run", "run", "run"]
    assert driver.sleeps == [0.4375, 0.875]


@pytest.mark.parametrize(
    ("failure", "cls"),
    [(lost(), APIConnectionError), (timed_out("ReadTimeout: timed out"), APITimeoutError)],
)
def test_a_submit_whose_reply_was_lost_is_not_re_sent_and_says_so(
    failure, cls: type[APIConnectionError], core: EndpointCore, clock: FakeClock
) -> None:  # type: ignore[no-untyped-def]
    driver = ScriptedDriver(clock, [failure])
    with pytest.raises(APIConnectionError) as info:
        driver.run(run_call(core))
    assert type(info.value) is cls
    assert info.value.request_sent is True
    assert info.value.job_id is None
    assert info.value.message == failure.message + LOST_SUBMIT[len(lost().message) :]
    assert str(info.value) == "run: " + info.value.message
    assert driver.ops == ["run"]


def test_runsync_is_a_submit_too(core: EndpointCore, clock: FakeClock) -> None:
    request = core.request("runsync", body=encode_job(1), wait_ms=5000)
    driver = ScriptedDriver(clock, [lost()])
    with pytest.raises(APIConnectionError) as info:
        driver.run(core.call(request))
    assert info.value.message == LOST_SUBMIT
    assert driver.ops == ["runsync"]


def test_a_lost_retry_reply_names_the_job_and_is_not_re_sent(
    core: EndpointCore, clock: FakeClock
) -> None:
    driver = ScriptedDriver(clock, [lost()])
    with pytest.raises(APIConnectionError) as info:
        driver.run(core.retry_job("job-7"))
    # The job already exists: nothing about a job being created without an id.
    assert info.value.message == "RemoteProtocolError: Server disconnected"
    assert (info.value.job_id, info.value.request_sent) == ("job-7", True)
    assert str(info.value) == "retry: RemoteProtocolError: Server disconnected (job job-7)"
    assert driver.ops == ["retry"]


def test_a_submit_that_never_left_says_so(clock: FakeClock) -> None:
    core = make_core(clock, retry=RetryPolicy(max_retries=1, rng=fixed(0.5)))
    driver = ScriptedDriver(clock, [not_sent("ConnectError: refused")] * 2)
    with pytest.raises(APIConnectionError) as info:
        driver.run(run_call(core))
    assert type(info.value) is APIConnectionError
    assert info.value.request_sent is False
    assert info.value.message == "ConnectError: refused"


def test_a_submit_2xx_with_an_unusable_body_is_not_re_sent(
    core: EndpointCore, clock: FakeClock
) -> None:
    driver = ScriptedDriver(clock, [html(200)])
    with pytest.raises(APIResponseValidationError) as info:
        driver.run(run_call(core))
    assert info.value.status_code == 200
    assert driver.ops == ["run"]


# --- reads: transport failures and unusable bodies --------------------------------------------


@pytest.mark.parametrize("failure", [not_sent(), lost(), timed_out()])
def test_reads_are_retried_after_any_transport_failure(
    failure, core: EndpointCore, clock: FakeClock
) -> None:  # type: ignore[no-untyped-def]
    driver = ScriptedDriver(clock, [failure, failure, job("COMPLETED")])
    driver.run(status_call(core))
    assert driver.ops == ["status"] * 3
    assert driver.sleeps == [0.4375, 0.875]


def test_a_read_gives_up_with_a_timeout_error_that_names_the_job(
    core: EndpointCore, clock: FakeClock
) -> None:
    driver = ScriptedDriver(clock, [timed_out()] * 4)
    with pytest.raises(APITimeoutError) as info:
        driver.run(status_call(core))
    assert isinstance(info.value, TimeoutError)
    assert (info.value.job_id, info.value.request_sent, info.value.operation) == (
        "job-1",
        True,
        "status",
    )
    assert info.value.message == "ReadTimeout: timed out"


@pytest.mark.parametrize(
    "reply",
    [
        html(200),
        reply_body(200, ["not", "an", "object"]),
        job("COMPLETED", job_id="job-2"),  # another job's reply
        reply_body(200, {"id": "job-1"}),  # no status
    ],
)
def test_a_read_2xx_with_an_unusable_body_is_re_read(
    reply, core: EndpointCore, clock: FakeClock
) -> None:  # type: ignore[no-untyped-def]
    driver = ScriptedDriver(clock, [reply, job("COMPLETED")])
    assert driver.run(status_call(core)).status is JobStatus.COMPLETED
    assert driver.sleeps == [0.4375]


def test_a_reply_for_another_job_is_rejected_with_both_ids(
    core: EndpointCore, clock: FakeClock
) -> None:
    driver = ScriptedDriver(clock, [job("COMPLETED", job_id="job-2")] * 4)
    with pytest.raises(APIResponseValidationError) as info:
        driver.run(status_call(core))
    assert info.value.message == (
        "unexpected reply: the body is for job 'job-2', not 'job-1'; body starts "
        '\'{"id": "job-2", "status": "COMPLETED"}\''
    )
    assert info.value.job_id == "job-1"
    assert len(driver.sent) == 4


# --- error replies that describe a job ---------------------------------------------------------


def test_runsync_400_with_the_failed_job_is_that_job(core: EndpointCore, clock: FakeClock) -> None:
    request = core.request("runsync", body=encode_job(1), wait_ms=5000)
    failed = job("FAILED", job_id="job-5", code=400, error="handler crashed")
    driver = ScriptedDriver(clock, [failed])
    state = driver.run(core.call(request))
    assert (state.id, state.status, state.error) == ("job-5", JobStatus.FAILED, "handler crashed")
    assert driver.ops == ["runsync"]


def test_an_error_whose_body_is_a_running_job_stays_an_error(
    core: EndpointCore, clock: FakeClock
) -> None:
    request = core.request("runsync", body=encode_job(1), wait_ms=5000)
    driver = ScriptedDriver(clock, [job("IN_PROGRESS", job_id="job-5", code=400)])
    with pytest.raises(BadRequestError) as info:
        driver.run(core.call(request))
    assert info.value.job_id == "job-5"  # named by the body


def test_an_error_body_naming_the_job_gives_the_error_its_id(
    core: EndpointCore, clock: FakeClock
) -> None:
    driver = ScriptedDriver(clock, [reply_body(500, {"id": "job-9", "error": "db down"})])
    with pytest.raises(InternalServerError) as info:
        driver.run(run_call(core))
    assert (info.value.job_id, info.value.message) == ("job-9", "db down")
    assert str(info.value) == "run failed with HTTP 500 (job job-9): db down"


def test_a_job_scoped_error_keeps_the_requested_id(core: EndpointCore, clock: FakeClock) -> None:
    driver = ScriptedDriver(clock, [reply_body(404, {"id": "other", "error": "gone"})])
    with pytest.raises(NotFoundError) as info:
        driver.run(status_call(core))
    assert info.value.job_id == "job-1"


# --- a deadline ---------------------------------------------------------------------------------


def test_every_request_is_capped_by_what_remains(core: EndpointCore, clock: FakeClock) -> None:
    driver = ScriptedDriver(clock, [Reply(error(503), after=1.0), error(503), job("COMPLETED")])
    driver.run(status_call(core, deadline=5.0))
    assert [s.cap for s in driver.sent] == [5.0, 3.5625, 2.6875]
    assert [s.read for s in driver.sent] == [5.0, 3.5625, 2.6875]


def test_the_floor_keeps_a_request_whole_when_little_remains(
    core: EndpointCore, clock: FakeClock
) -> None:
    driver = ScriptedDriver(clock, [job("COMPLETED")])
    driver.run(status_call(core, deadline=0.25, floor=1.0))
    assert driver.sent[0].cap == 1.0
    driver = ScriptedDriver(clock, [job("COMPLETED")])
    driver.run(status_call(core, deadline=1.5, floor=1.0))
    assert driver.sent[0].cap == 1.5


def test_a_retry_that_would_outlast_the_deadline_raises_deadline_reached(
    core: EndpointCore, clock: FakeClock
) -> None:
    driver = ScriptedDriver(clock, [Reply(error(503, "busy"), after=0.75)])
    with pytest.raises(DeadlineReached) as info:
        driver.run(status_call(core, deadline=1.0))
    assert isinstance(info.value.error, InternalServerError)
    assert info.value.error.message == "busy"
    assert info.value.__cause__ is info.value.error
    assert str(info.value) == str(info.value.error)
    assert driver.sleeps == []


def test_a_retry_after_beyond_the_deadline_raises_deadline_reached(
    core: EndpointCore, clock: FakeClock
) -> None:
    driver = ScriptedDriver(clock, [error(429, retry_after="5")])
    with pytest.raises(DeadlineReached) as info:
        driver.run(status_call(core, deadline=5.0))
    assert isinstance(info.value.error, RateLimitError)
    assert info.value.error.retry_after == 5.0


def test_an_error_that_is_never_retried_is_raised_as_is_under_a_deadline(
    core: EndpointCore, clock: FakeClock
) -> None:
    driver = ScriptedDriver(clock, [error(404)])
    with pytest.raises(NotFoundError):
        driver.run(status_call(core, deadline=5.0))


def test_retries_used_up_before_the_deadline_raise_the_error(
    core: EndpointCore, clock: FakeClock
) -> None:
    driver = ScriptedDriver(clock, [error(503)] * 4)
    with pytest.raises(InternalServerError):
        driver.run(status_call(core, deadline=100.0))
    assert driver.sleeps == BACKOFF


def test_a_submit_lost_under_a_deadline_is_the_connection_error(
    core: EndpointCore, clock: FakeClock
) -> None:
    driver = ScriptedDriver(clock, [lost()])
    with pytest.raises(APIConnectionError):
        driver.run(run_call(core, deadline=0.1))


# --- logging -------------------------------------------------------------------------------------


def test_each_retry_is_logged_with_its_reason_and_delay(
    core: EndpointCore, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="runpod_facade")
    driver = ScriptedDriver(
        clock, [error(503), not_sent("ConnectError: refused"), html(200), job("COMPLETED")]
    )
    driver.run(status_call(core))
    assert [r.getMessage() for r in caplog.records] == [
        "status: HTTP 503; retrying in 0.44s (retry 1)",
        "status: ConnectError: refused; retrying in 0.88s (retry 2)",
        "status: unusable reply body; retrying in 1.75s (retry 3)",
    ]


# --- the simple operations -------------------------------------------------------------------------


def test_simple_operations_send_one_request_each(core: EndpointCore, clock: FakeClock) -> None:
    driver = ScriptedDriver(
        clock,
        [
            job("IN_QUEUE", job_id="new-1"),
            job("IN_PROGRESS"),
            job("CANCELLED"),
            job("IN_QUEUE"),
            health(idle=2, running=1),
            purged(removed=3),
        ],
    )
    assert driver.run(core.run(encode_job({"a": 1}))).id == "new-1"
    assert driver.run(core.status("job-1", ttl_ms=60_000)).status is JobStatus.IN_PROGRESS
    assert driver.run(core.cancel("job-1")).status is JobStatus.CANCELLED
    assert driver.run(core.retry_job("job-1")).status is JobStatus.IN_QUEUE
    assert driver.run(core.health()).workers.idle == 2
    assert driver.run(core.purge_queue()).removed == 3
    assert [(s.send.request.method, s.path, dict(s.send.request.params)) for s in driver.sent] == [
        ("POST", "/ep-1/run", {}),
        ("GET", "/ep-1/status/job-1", {"ttl": 60000}),
        ("POST", "/ep-1/cancel/job-1", {}),
        ("POST", "/ep-1/retry/job-1", {}),
        ("GET", "/ep-1/health", {}),
        ("POST", "/ep-1/purge-queue", {}),
    ]
    assert driver.sent[0].send.request.content == b'{"input":{"a":1}}'


def test_status_without_ttl_sends_no_query(core: EndpointCore, clock: FakeClock) -> None:
    driver = ScriptedDriver(clock, [job("IN_QUEUE")])
    driver.run(core.status("job-1"))
    assert dict(driver.sent[0].send.request.params) == {}


# --- cancelling on the caller's behalf ----------------------------------------------------------


def test_cancel_quietly_has_its_own_deadline(core: EndpointCore, clock: FakeClock) -> None:
    driver = ScriptedDriver(clock, [job("CANCELLED")])
    assert driver.run(core.cancel_quietly("job-1")).status is JobStatus.CANCELLED
    assert driver.sent[0].cap == CANCEL_TIMEOUT == 10.0
    assert driver.sent[0].path == "/ep-1/cancel/job-1"


def test_cancel_quietly_reports_failure_instead_of_raising(
    core: EndpointCore, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="runpod_facade")
    driver = ScriptedDriver(clock, [error(404, "no such job")])
    assert driver.run(core.cancel_quietly("job-1")) is None
    assert [r.getMessage() for r in caplog.records] == [
        "could not cancel job job-1: cancel failed with HTTP 404 (job job-1): no such job"
    ]


def test_cancel_quietly_gives_up_at_its_deadline(core: EndpointCore, clock: FakeClock) -> None:
    driver = ScriptedDriver(clock, [Reply(error(503), after=9.75)])
    assert driver.run(core.cancel_quietly("job-1")) is None
    assert driver.ops == ["cancel"]


@pytest.mark.parametrize(
    "reply", [job("IN_PROGRESS", code=300), html(300), job("IN_PROGRESS", code=299)]
)
def test_only_2xx_is_success_and_a_3xx_is_an_error_never_retried(
    reply, core: EndpointCore, clock: FakeClock
) -> None:  # type: ignore[no-untyped-def]
    driver = ScriptedDriver(clock, [reply, job("COMPLETED")])
    if reply.status_code == 299:
        assert driver.run(status_call(core)).status is JobStatus.IN_PROGRESS
        return
    with pytest.raises(APIError) as info:
        driver.run(status_call(core))
    assert type(info.value) is APIStatusError
    assert info.value.status_code == 300
    assert driver.ops == ["status"]
