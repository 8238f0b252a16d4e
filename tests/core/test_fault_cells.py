"""The fault matrix (tests/faults) replayed in the sans-IO core: every operation against
every injected fault, with the same expected outcomes and invariants, but answered by a small
scripted server in fake time — no sockets, no sleeping, exact backoff.

A fault acts on the first request to the operation's route (as ``Fault(route, kind)`` does on
the local endpoint, ``times=1``); "refused" fails every request. What this cannot cover is
the transport's classification of real socket failures (``classify`` of a real connection
reset, refused port or read timeout), which tests/faults keeps with one loopback cell per
kind of fault.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import json
import types
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from runpod_facade import _retry
from runpod_facade._core import EndpointCore
from runpod_facade._drivers import Timeouts
from runpod_facade._effects import Send, TransportFailure
from runpod_facade._errors import (
    APIConnectionError,
    APIError,
    APIResponseValidationError,
    APITimeoutError,
    RunpodError,
    ServerError,
    WaitTimeout,
)
from runpod_facade._retry import PollPolicy, RetryPolicy, Safety
from runpod_facade._status import JobStatus
from runpod_facade._streaming import StreamProgress, stream
from runpod_facade._types import Health, PurgeResult
from runpod_facade._waiting import run_sync, wait
from runpod_facade._wire import ApiResponse, JobRequest
from tests._support.replies import body, error, html, lost, not_sent, timed_out
from tests._support.scripted import READ_TIMEOUT, FakeClock, Reply, ScriptedDriver, fixed

OPERATIONS = (
    "run",
    "run_sync",
    "wait",
    "stream",
    "status",
    "cancel",
    "retry",
    "health",
    "purge_queue",
)
ROUTE = {
    "run": "run",
    "run_sync": "runsync",
    "wait": "status-sync",
    "stream": "stream",
    "status": "status",
    "cancel": "cancel",
    "retry": "retry",
    "health": "health",
    "purge_queue": "purge-queue",
}
# The matrix's client: 1 s per HTTP phase, waits and streams of 5 s (2 s against a hang).
HTTP = Timeouts(connect=1.0, read=1.0, write=1.0, pool=1.0)
WAIT_TIMEOUT = 5.0
HANG_WAIT_TIMEOUT = 2.0
RETRY = RetryPolicy(max_retries=3, initial_delay=0.01, max_delay=0.05, rng=fixed(0.5))
POLL = PollPolicy(initial=0.02, maximum=0.1, rng=fixed(0.5))
WALL_CLOCK = 1_700_000_000.0
INPUT = {"task": "echo"}
JOB_ID = "job-1"

Spoil = Callable[[Send, ApiResponse], Any]  # the normal reply in, the spoiled answer out


def _date(seconds_ahead: float) -> str:
    when = dt.datetime.fromtimestamp(WALL_CLOCK + seconds_ahead, dt.UTC)
    return email.utils.format_datetime(when, usegmt=True)


def _cut(reply: ApiResponse) -> ApiResponse:
    return ApiResponse(reply.status_code, reply.headers, reply.content[: len(reply.content) // 2])


def _edit(reply: ApiResponse, change: Callable[[dict[str, Any]], None]) -> ApiResponse:
    data = json.loads(reply.content)
    change(data)
    return ApiResponse(reply.status_code, reply.headers, json.dumps(data).encode())


def _set_status(data: dict[str, Any]) -> None:
    if "status" in data:
        data["status"] = "PAUSED"


# name -> (acts before processing?, spoiler); None = nothing listens (every request refused)
FAULTS: dict[str, tuple[bool, Spoil] | None] = {
    "429 Retry-After: 1": (True, lambda s, r: error(429, retry_after="1")),
    "429 Retry-After: date": (True, lambda s, r: error(429, retry_after=_date(2))),
    "500": (True, lambda s, r: error(500)),
    "502": (True, lambda s, r: error(502)),
    "503": (True, lambda s, r: error(503)),
    "504": (True, lambda s, r: error(504)),
    "520": (True, lambda s, r: error(520)),
    "html 502": (True, lambda s, r: html(502)),
    "html 200": (True, lambda s, r: html(200)),
    "empty 200": (True, lambda s, r: ApiResponse(200, {}, b"")),
    "truncated": (False, lambda s, r: _cut(r)),
    "drop": (True, lambda s, r: lost("RemoteProtocolError: Server disconnected")),
    "drop_after": (False, lambda s, r: lost("RemoteProtocolError: Server disconnected")),
    "drop_mid_body": (False, lambda s, r: lost("RemoteProtocolError: peer closed connection")),
    "hang": (True, lambda s, r: Reply(timed_out(), after=READ_TIMEOUT)),
    "unknown status": (False, lambda s, r: _edit(r, _set_status)),
    "missing status": (False, lambda s, r: _edit(r, lambda d: d.pop("status", None))),
    "missing id": (False, lambda s, r: _edit(r, lambda d: d.pop("id", None))),
    "extra fields": (False, lambda s, r: _edit(r, lambda d: d.update(x_new={"a": 1}, zz=None))),
    "refused": None,
}


@dataclass(frozen=True)
class Expect:
    error: type[RunpodError] | None = None
    passthrough: bool = False
    lossy: bool = False
    sent: bool | None = None


OK = Expect()
PASS = Expect(passthrough=True)
LOSSY = Expect(lossy=True)
SERVER = Expect(ServerError)
INVALID = Expect(APIResponseValidationError)
LOST = Expect(APIConnectionError, sent=True)
HUNG = Expect(APITimeoutError, sent=True)
DOWN = Expect(APIConnectionError, sent=False)
WAITED = Expect(WaitTimeout)

# The same table as tests/faults/test_fault_matrix.py.
# fmt: off
EXPECTED: dict[str, tuple[Expect, ...]] = {
    #                         run      run_sync wait     stream   status   cancel   retry    health   purge
    "429 Retry-After: 1":    (OK,      OK,      OK,      OK,      OK,      OK,      OK,      OK,      OK),
    "429 Retry-After: date": (OK,      OK,      OK,      OK,      OK,      OK,      OK,      OK,      OK),
    "500":                   (SERVER,  SERVER,  OK,      OK,      OK,      OK,      SERVER,  OK,      OK),
    "502":                   (SERVER,  SERVER,  OK,      OK,      OK,      OK,      SERVER,  OK,      OK),
    "503":                   (SERVER,  SERVER,  OK,      OK,      OK,      OK,      SERVER,  OK,      OK),
    "504":                   (SERVER,  SERVER,  OK,      OK,      OK,      OK,      SERVER,  OK,      OK),
    "520":                   (SERVER,  SERVER,  OK,      OK,      OK,      OK,      SERVER,  OK,      OK),
    "html 502":              (SERVER,  SERVER,  OK,      OK,      OK,      OK,      SERVER,  OK,      OK),
    "html 200":              (INVALID, INVALID, OK,      OK,      OK,      OK,      INVALID, OK,      OK),
    "empty 200":             (INVALID, INVALID, OK,      OK,      OK,      OK,      INVALID, OK,      OK),
    "truncated":             (INVALID, INVALID, OK,      LOSSY,   OK,      OK,      INVALID, OK,      OK),
    "drop":                  (LOST,    LOST,    OK,      OK,      OK,      OK,      LOST,    OK,      OK),
    "drop_after":            (LOST,    LOST,    OK,      LOSSY,   OK,      OK,      LOST,    OK,      OK),
    "drop_mid_body":         (LOST,    LOST,    OK,      LOSSY,   OK,      OK,      LOST,    OK,      OK),
    "hang":                  (HUNG,    HUNG,    WAITED,  WAITED,  OK,      OK,      HUNG,    OK,      OK),
    "unknown status":        (PASS,    OK,      OK,      OK,      PASS,    PASS,    PASS,    OK,      PASS),
    "missing status":        (INVALID, INVALID, OK,      LOSSY,   OK,      OK,      INVALID, OK,      OK),
    "missing id":            (INVALID, INVALID, OK,      OK,      OK,      OK,      OK,      OK,      OK),
    "extra fields":          (OK,      OK,      OK,      OK,      OK,      OK,      OK,      OK,      OK),
    "refused":               (DOWN,    DOWN,    DOWN,    DOWN,    DOWN,    DOWN,    DOWN,    DOWN,    DOWN),
}
# fmt: on


@dataclass
class FakeServer:
    """One endpoint with one job, answering like the local endpoint; the fault spoils the
    first request to ``route``."""

    route: str
    fault: tuple[bool, Spoil] | None
    received: list[tuple[str, int | str]] = field(default_factory=list)
    created: list[str] = field(default_factory=list)
    fired: bool = False
    chunks_left: bool = True

    def __call__(self, send: Send, driver: ScriptedDriver) -> Any:
        op = send.request.operation
        if self.fault is None:
            return not_sent()  # nothing listens: the request never leaves
        spoil = None
        if op == self.route and not self.fired:
            self.fired = True
            before, spoil = self.fault
            if before:
                answer = spoil(send, ApiResponse(0, {}, b""))
                self.received.append((op, _code(answer)))
                return answer
        reply = self._process(op)
        answer = reply if spoil is None else spoil(send, reply)
        self.received.append((op, _code(answer)))
        return answer

    def _process(self, op: str) -> ApiResponse:
        if op in ("run", "runsync"):
            self.created.append(JOB_ID)
            if op == "run":
                return body(200, {"id": JOB_ID, "status": "IN_QUEUE"})
            return body(200, {"id": JOB_ID, "status": "COMPLETED", "output": INPUT})
        if op in ("status", "status-sync"):
            return body(200, {"id": JOB_ID, "status": "COMPLETED", "output": INPUT})
        if op == "stream":
            outputs = [{"i": i} for i in range(3)] if self.chunks_left else []
            self.chunks_left = False
            return body(200, {"status": "COMPLETED", "stream": [{"output": o} for o in outputs]})
        if op == "cancel":
            return body(200, {"id": JOB_ID, "status": "CANCELLED"})
        if op == "retry":
            return body(200, {"id": JOB_ID, "status": "IN_QUEUE"})
        if op == "health":
            return body(200, {"jobs": {"completed": 1}, "workers": {"idle": 1, "running": 0}})
        assert op == "purge-queue"
        return body(200, {"removed": 0, "status": "completed"})


def _code(answer: Any) -> int | str:
    outcome = answer.outcome if isinstance(answer, Reply) else answer
    if isinstance(outcome, TransportFailure):
        return "timeout" if outcome.timeout else "lost"
    return int(outcome.status_code)


def act(op: str, core: EndpointCore, timeout: float) -> Any:
    body_ = JobRequest(input_=INPUT)
    if op == "run":
        return core.run(body_)
    if op == "run_sync":
        return run_sync(core, body_, timeout=timeout)
    if op == "wait":
        return wait(core, JOB_ID, timeout=timeout)
    if op == "stream":
        return stream(
            core, JOB_ID, timeout=timeout, idle_timeout=None, progress=StreamProgress(JOB_ID)
        )
    if op == "status":
        return core.status(JOB_ID)
    if op == "cancel":
        return core.cancel(JOB_ID)
    if op == "retry":
        return core.retry_job(JOB_ID)
    if op == "health":
        return core.health()
    return core.purge_queue()


def check_value(op: str, value: Any, emitted: list[Any], expect: Expect) -> None:
    if op == "stream":
        assert emitted == ([] if expect.lossy else [{"i": 0}, {"i": 1}, {"i": 2}])
    elif op == "health":
        assert isinstance(value, Health) and value.workers.idle == 1
    elif op == "purge_queue":
        assert isinstance(value, PurgeResult) and value.removed == 0
        assert value.status == ("PAUSED" if expect.passthrough else "completed")
    elif expect.passthrough:
        assert value.id == JOB_ID
        assert value.status == "PAUSED" and type(value.status) is str
    elif op in ("run_sync", "wait", "status"):
        assert (value.id, value.status, value.output) == (JOB_ID, JobStatus.COMPLETED, INPUT)
    elif op == "cancel":
        assert (value.id, value.status) == (JOB_ID, JobStatus.CANCELLED)
    else:  # run, retry
        assert (value.id, value.status) == (JOB_ID, JobStatus.IN_QUEUE)


def _cells() -> list[Any]:
    return [
        pytest.param(op, fault, EXPECTED[fault][i], id=f"{op}-{fault}")
        for fault in FAULTS
        for i, op in enumerate(OPERATIONS)
    ]


@pytest.mark.parametrize(("op", "fault", "expect"), _cells())
def test_cell(op: str, fault: str, expect: Expect, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_retry, "time", types.SimpleNamespace(time=lambda: WALL_CLOCK))
    clock = FakeClock()
    core = EndpointCore("ep-1", retry=RETRY, poll=POLL, clock=clock)
    server = FakeServer(ROUTE[op], FAULTS[fault])
    driver = ScriptedDriver(clock, server, timeouts=HTTP)
    timeout = HANG_WAIT_TIMEOUT if fault == "hang" else WAIT_TIMEOUT
    value: Any = None
    error_: RunpodError | None = None
    try:
        value = driver.run(act(op, core, timeout))
    except RunpodError as exc:
        error_ = exc

    # 1. exactly the expected outcome
    if expect.error is None:
        assert error_ is None, f"expected recovery, got {error_!r}"
        check_value(op, value, driver.emitted, expect)
    else:
        assert type(error_) is expect.error, f"expected {expect.error.__name__}, got {error_!r}"
        if expect.sent is not None:
            assert error_.request_sent is expect.sent  # type: ignore[attr-defined]
        if op in ("wait", "stream", "status", "cancel", "retry"):
            assert error_.job_id == JOB_ID, "the error lost the job id"

    # 2. a submit reached the server at most once, except attempts refused with 429
    submits = [
        code
        for route, code in server.received
        if route == ROUTE[op] and op in ("run", "run_sync", "retry")
    ]
    assert all(code == 429 for code in submits[:-1]), submits
    # 3. never two jobs; an accepted job is never silently lost
    assert len(server.created) <= (1 if op in ("run", "run_sync") else 0)
    if op in ("run", "run_sync") and server.created and error_ is not None:
        acknowledged = (
            getattr(error_, "request_sent", False) is True
            or error_.job_id == JOB_ID
            or (isinstance(error_, APIError) and 200 <= error_.status_code < 300)
        )
        assert acknowledged, f"{op} created a job but {error_!r} hides it"
    before = FAULTS[fault] is not None and FAULTS[fault][0]  # type: ignore[index]
    if op in ("run", "run_sync") and error_ is not None and before:
        assert server.created == []
    if FAULTS[fault] is None:
        assert server.received == []
    # 4. Retry-After is honoured exactly; a hang is bounded by the deadline (or the grace)
    if fault == "429 Retry-After: 1":
        assert 1.0 in driver.sleeps
    if fault == "429 Retry-After: date":
        assert 2.0 in driver.sleeps
    if fault == "hang":
        limit = {"wait": 2.0, "stream": 2.0, "run_sync": 4.0}.get(op, 1.0)
        # The hung request costs its (capped) read timeout; the rest is backoff.
        assert clock.elapsed == pytest.approx(limit + sum(driver.sleeps))


def test_the_table_covers_every_operation_and_fault() -> None:
    assert set(EXPECTED) == set(FAULTS)
    assert all(len(row) == len(OPERATIONS) for row in EXPECTED.values())


# --- exact timelines of the retry, backoff and deadline cells ---------------------------------


def _run_cell(
    op: str, fault: str, timeout: float = WAIT_TIMEOUT
) -> tuple[ScriptedDriver, FakeClock, Any]:
    clock = FakeClock()
    core = EndpointCore("ep-1", retry=RETRY, poll=POLL, clock=clock)
    driver = ScriptedDriver(clock, FakeServer(ROUTE[op], FAULTS[fault]), timeouts=HTTP)
    try:
        result: Any = driver.run(act(op, core, timeout))
    except RunpodError as exc:
        result = exc
    return driver, clock, result


def test_hung_wait_ends_exactly_at_its_deadline() -> None:
    driver, clock, result = _run_cell("wait", "hang", HANG_WAIT_TIMEOUT)
    assert isinstance(result, WaitTimeout) and isinstance(result.__cause__, APITimeoutError)
    assert (driver.ops, driver.waits, clock.elapsed) == (["status-sync"], [1500], 2.0)


def test_hung_run_sync_reads_two_seconds_past_its_deadline_for_the_id() -> None:
    driver, clock, result = _run_cell("run_sync", "hang", HANG_WAIT_TIMEOUT)
    assert isinstance(result, APITimeoutError) and result.request_sent is True
    assert (driver.ops, driver.sent[0].read, clock.elapsed) == (["runsync"], 4.0, 4.0)


def test_hung_status_is_retried_after_its_read_timeout() -> None:
    driver, clock, result = _run_cell("status", "hang")
    assert result.status is JobStatus.COMPLETED
    assert (driver.ops, driver.sleeps, clock.elapsed) == (
        ["status", "status"],
        [0.00875],
        pytest.approx(1.00875),
    )


def test_refused_reads_give_up_after_three_backoffs() -> None:
    driver, _, result = _run_cell("status", "refused")
    assert isinstance(result, APIConnectionError) and result.request_sent is False
    assert driver.ops == ["status"] * 4
    assert driver.sleeps == [0.00875, 0.0175, 0.035]


def test_refused_submits_are_re_sent_since_they_never_left() -> None:
    driver, _, result = _run_cell("run", "refused")
    assert isinstance(result, APIConnectionError) and result.request_sent is False
    assert driver.ops == ["run"] * 4


def test_a_5xx_read_is_retried_once_after_the_backoff() -> None:
    driver, _, _ = _run_cell("wait", "503")
    assert (driver.ops, driver.sleeps) == (["status-sync", "status-sync"], [0.00875])
    assert [s.cap for s in driver.sent] == [5.0, pytest.approx(4.99125)]


def test_rate_limited_submit_waits_retry_after_then_succeeds() -> None:
    driver, _, result = _run_cell("run_sync", "429 Retry-After: 1")
    assert result.status is JobStatus.COMPLETED
    assert (driver.ops, driver.sleeps, driver.waits) == (
        ["runsync", "runsync"],
        [1.0],
        [4500, 4500],
    )
    assert [s.cap for s in driver.sent] == [5.0, 4.0]


def test_a_lost_stream_reply_loses_its_chunks_and_is_re_read() -> None:
    driver, _, _ = _run_cell("stream", "drop_after")
    assert driver.ops == ["stream", "stream", "status"]
    assert driver.emitted == []


def test_unknown_status_on_runsync_waits_for_the_end() -> None:
    driver, _, result = _run_cell("run_sync", "unknown status")
    assert result.status is JobStatus.COMPLETED
    assert driver.ops == ["runsync", "status-sync"]
    assert driver.sleeps == []


def test_the_submit_routes_of_the_grid() -> None:
    # The grid's premise: these routes may create or requeue a job, so they are never re-sent.
    core = EndpointCore("ep-1", retry=RETRY, poll=POLL)
    submits = [
        route
        for route in ROUTE.values()
        if core.request(route, job_id=JOB_ID, body=JobRequest(input_=1)).safety is Safety.SUBMIT
    ]
    assert submits == ["run", "runsync", "retry"]
