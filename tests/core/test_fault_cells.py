"""The whole fault matrix in fake time: every operation of the spec, called through its public
method (``x-runpod-operation.python``), against every fault of ``tests/_support/faults.py``,
answered by a small scripted server — no sockets, no sleeping, exact backoff.

The columns are ``runpod_generated.operations.OPERATIONS`` and the expected outcome of each
cell follows from the operation's facts (``expected``), so an operation added to the spec is
in the matrix once its public method exists. A fault spoils the first request to the
operation's route, as ``Fault(route, kind)`` does on the local endpoint; "refused" fails every
request. What fake time cannot show — how each HTTP library reports a real dropped, refused
or hung connection — is left to one loopback cell per kind of fault
(tests/integration/test_fault_cells.py). Each cell is recorded for docs/reliability.md.
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

from runpod_facade._core.deadline import SUBMIT_READ_GRACE
from runpod_facade._core.effects import Send
from runpod_facade._core.engine import EndpointCore
from runpod_facade._core.retry import PollPolicy, RetryPolicy
from runpod_facade._exceptions import (
    APIConnectionError,
    APIResponseValidationError,
    APIStatusError,
    APITimeoutError,
    RunpodError,
    WaitTimeout,
)
from runpod_facade._status import JobStatus
from runpod_facade._transports.base import ApiResponse, Timeouts, TransportFailure
from runpod_facade._wire import replies as _replies
from tests._support.faults import FAULTS, Expect, FaultRow, drains, matrix
from tests._support.operations import OPERATIONS, OperationInfo, call, sample_reply
from tests._support.reliability.store import CellResult, record_cell
from tests._support.replies import body, error, html, lost, not_sent, timed_out
from tests._support.scripted import (
    READ_TIMEOUT,
    FakeClock,
    Reply,
    ScriptedDriver,
    fixed,
    scripted_endpoint,
)

# The matrix's client: 1 s per HTTP phase, waits and streams of 5 s (2 s against a hang).
HTTP = Timeouts(connect=1.0, read=1.0, write=1.0, pool=1.0)
WAIT_TIMEOUT = 5.0
HANG_WAIT_TIMEOUT = 2.0
RETRY = RetryPolicy(max_retries=3, initial_delay=0.01, max_delay=0.05, rng=fixed(0.5))
POLL = PollPolicy(initial=0.02, maximum=0.1, rng=fixed(0.5))
WALL_CLOCK = 1_700_000_000.0
INPUT = {"task": "echo"}
JOB_ID = "job-1"
CHUNKS = [{"i": 0}, {"i": 1}, {"i": 2}]

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


# What each fault of the table does to an exchange in fake time (the local endpoint's
# injection of the same row is in runpod_facade.local._faults).
SPOIL: dict[str, Spoil] = {
    "429 Retry-After: 1": lambda s, r: error(429, retry_after="1"),
    "429 Retry-After: date": lambda s, r: error(429, retry_after=_date(2)),
    "500": lambda s, r: error(500),
    "502": lambda s, r: error(502),
    "503": lambda s, r: error(503),
    "504": lambda s, r: error(504),
    "520": lambda s, r: error(520),
    "html 502": lambda s, r: html(502),
    "html 200": lambda s, r: html(200),
    "empty 200": lambda s, r: ApiResponse(200, {}, b""),
    "truncated": lambda s, r: _cut(r),
    "delay": lambda s, r: Reply(r, after=0.2),
    "drop": lambda s, r: lost("RemoteProtocolError: Server disconnected"),
    "drop_after": lambda s, r: lost("RemoteProtocolError: Server disconnected"),
    "drop_mid_body": lambda s, r: lost("RemoteProtocolError: peer closed connection"),
    "hang": lambda s, r: Reply(timed_out(), after=READ_TIMEOUT),
    "unknown status": lambda s, r: _edit(r, _set_status),
    "missing status": lambda s, r: _edit(r, lambda d: d.pop("status", None)),
    "missing id": lambda s, r: _edit(r, lambda d: d.pop("id", None)),
    "extra fields": lambda s, r: _edit(r, lambda d: d.update(x_new={"a": 1}, zz=None)),
}


def creates_a_job(info: OperationInfo) -> bool:
    """A submit not about an existing job (``run``, ``runsync``) creates one."""
    return info.safety == "submit" and not info.job_scoped


@dataclass
class FakeServer:
    """One endpoint with one job, answering every operation with its reply schema's sample;
    the fault spoils the first request to ``route`` (``kind=None``: nothing listens)."""

    route: str
    fault: FaultRow
    received: list[tuple[str, int | str]] = field(default_factory=list)
    created: list[str] = field(default_factory=list)
    fired: bool = False
    chunks_left: bool = True

    def __call__(self, send: Send, driver: ScriptedDriver) -> Any:
        if self.fault.kind is None:
            return not_sent()  # nothing listens: the request never leaves
        op = send.request.operation
        spoil = None
        if op == self.route and not self.fired:
            self.fired = True
            spoil = SPOIL[self.fault.name]
            if self.fault.before:
                answer = spoil(send, ApiResponse(0, {}, b""))
                self.received.append((op, _code(answer)))
                return answer
        reply = self._process(OPERATIONS[op])
        answer = reply if spoil is None else spoil(send, reply)
        self.received.append((op, _code(answer)))
        return answer

    def _process(self, info: OperationInfo) -> ApiResponse:
        if creates_a_job(info):
            self.created.append(JOB_ID)
        data = sample_reply(info, JOB_ID)
        if info.reply_schema == "Job":
            data["output"] = INPUT
        if drains(info):
            data["stream"] = [{"output": o} for o in CHUNKS] if self.chunks_left else []
            self.chunks_left = False
        return body(200, data)


def _code(answer: Any) -> int | str:
    outcome = answer.outcome if isinstance(answer, Reply) else answer
    if isinstance(outcome, TransportFailure):
        return "timeout" if outcome.timeout else "lost"
    return int(outcome.status_code)


def check_value(info: OperationInfo, value: Any, expect: Expect) -> str:
    """Assert the returned value is the operation's reply, spoiled only as ``expect`` allows;
    return what it was, for the report."""
    if isinstance(value, list):  # a stream, read to its end
        assert value == ([] if expect.lossy else CHUNKS)
        return "chunks lost with the spoiled reply" if expect.lossy else "all chunks"
    state = getattr(value, "last_state", value)  # a Job handle holds the state it got
    reply = sample_reply(OPERATIONS["status-sync"] if info.holds else info, JOB_ID)
    if "output" in reply:
        reply["output"] = INPUT
    if expect.passthrough:
        reply["status"] = "PAUSED"
    # Every field the reply kept is the server's (a fault may only have removed `id`).
    assert {k: v for k, v in reply.items() if k in state.raw} == {
        k: state.raw[k] for k in reply if k in state.raw
    }
    assert set(reply) - set(state.raw) <= {"id"}
    if hasattr(state, "id"):
        assert state.id == JOB_ID
    if "status" in reply and hasattr(state, "output"):
        status = state.status
        assert status == reply["status"]
        assert type(status) is (str if expect.passthrough else JobStatus)
    return "unknown status returned as str" if expect.passthrough else "the reply's value"


def hang_limit(info: OperationInfo) -> float:
    """What a hung first request costs: the deadline of an operation that holds (a submit's
    read runs on past it, for the id), else the client's read timeout."""
    if not info.holds:
        return HTTP.read  # type: ignore[return-value]
    return HANG_WAIT_TIMEOUT + (SUBMIT_READ_GRACE if info.safety == "submit" else 0.0)


@dataclass
class Outcome:
    value: Any
    error: RunpodError | None
    driver: ScriptedDriver
    clock: FakeClock
    server: FakeServer


def run_cell(info: OperationInfo, fault: str, timeout: float | None = None) -> Outcome:
    clock = FakeClock()
    server = FakeServer(info.name, FAULTS[fault])
    driver = ScriptedDriver(clock, server)
    core = EndpointCore("ep-1", retry=RETRY, poll=POLL, timeouts=HTTP, clock=clock)
    endpoint = scripted_endpoint(driver, core)
    if timeout is None:
        timeout = HANG_WAIT_TIMEOUT if fault == "hang" else WAIT_TIMEOUT
    value: Any = None
    error_: RunpodError | None = None
    try:
        value = call(endpoint, info, job_id=JOB_ID, input=INPUT, timeout=timeout)
    except RunpodError as exc:
        error_ = exc
    return Outcome(value, error_, driver, clock, server)


@pytest.fixture(autouse=True)
def _fixed_wall_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    # An HTTP-date Retry-After is read against this wall clock: its delay is exact.
    monkeypatch.setattr(_replies, "time", types.SimpleNamespace(time=lambda: WALL_CLOCK))


@pytest.mark.parametrize(
    ("info", "fault", "expect"),
    [pytest.param(info, fault, expect, id=f"{info.name}-{fault}") for info, fault, expect in matrix()],
)  # fmt: skip
def test_cell(
    info: OperationInfo, fault: str, expect: Expect, request: pytest.FixtureRequest
) -> None:
    got = run_cell(info, fault)
    error_, driver, clock, server = got.error, got.driver, got.clock, got.server
    route = [code for op, code in server.received if op == info.name]
    outcome = "recovered" if error_ is None else type(error_).__name__
    if error_ is None and expect.passthrough:
        outcome = "passed through"
    result = CellResult("fake time", info.name, fault, outcome, "", len(route), clock.elapsed)
    record_cell(request.node.nodeid, result)

    # 1. exactly the expected outcome
    if expect.error is None:
        assert error_ is None, f"expected recovery, got {error_!r}"
        detail = check_value(info, got.value, expect)
    else:
        assert type(error_) is expect.error, f"expected {expect.error.__name__}, got {error_!r}"
        if expect.sent is not None:
            assert error_.request_sent is expect.sent  # type: ignore[attr-defined]
        if info.job_scoped:
            assert error_.job_id == JOB_ID, "the error lost the job id"
        detail = _detail(error_, server)
    record_cell(request.node.nodeid, CellResult(**{**result.__dict__, "detail": detail}))

    # 2. a submit reached the server at most once, except attempts refused with 429
    if info.safety == "submit":
        assert all(code == 429 for code in route[:-1]), route
    # 3. never two jobs; an accepted job is never silently lost
    assert len(server.created) <= (1 if creates_a_job(info) else 0)
    if creates_a_job(info) and server.created and error_ is not None:
        acknowledged = (
            getattr(error_, "request_sent", False) is True
            or error_.job_id == JOB_ID
            or isinstance(error_, APIResponseValidationError)
        )
        assert acknowledged, f"{info.name} created a job but {error_!r} hides it"
    row = FAULTS[fault]
    if creates_a_job(info) and error_ is not None and row.before:
        assert server.created == []
    if row.kind is None:
        assert server.received == []
    # 4. Retry-After is honoured exactly; a hang is bounded by the deadline (or the grace)
    if fault == "429 Retry-After: 1":
        assert 1.0 in driver.sleeps
    if fault == "429 Retry-After: date":
        assert 2.0 in driver.sleeps
    if fault == "hang":
        # The hung request costs its (capped) read timeout; the rest is backoff.
        assert clock.elapsed == pytest.approx(hang_limit(info) + sum(driver.sleeps))


def _detail(error_: RunpodError, server: FakeServer) -> str:
    parts = []
    if isinstance(error_, APIConnectionError):
        parts.append(f"request_sent={error_.request_sent}")
    if isinstance(error_, APIStatusError | APIResponseValidationError):
        parts.append(f"HTTP {error_.status_code}")
    if error_.job_id:
        parts.append("job id carried")
    elif server.created:
        parts.append("job created, id lost")
    else:
        parts.append("no job created")
    return ", ".join(parts)


def test_every_fault_has_a_fake_time_form() -> None:
    assert set(SPOIL) | {"refused"} == set(FAULTS)


# --- exact timelines of the retry, backoff and deadline cells ---------------------------------


def test_hung_wait_ends_exactly_at_its_deadline() -> None:
    got = run_cell(OPERATIONS["status-sync"], "hang")
    assert isinstance(got.error, WaitTimeout) and isinstance(got.error.__cause__, APITimeoutError)
    assert (got.driver.ops, got.driver.waits, got.clock.elapsed) == (["status-sync"], [1500], 2.0)


def test_hung_run_sync_reads_two_seconds_past_its_deadline_for_the_id() -> None:
    got = run_cell(OPERATIONS["runsync"], "hang")
    assert isinstance(got.error, APITimeoutError) and got.error.request_sent is True
    assert (got.driver.ops, got.driver.sent[0].read, got.clock.elapsed) == (["runsync"], 4.0, 4.0)


def test_hung_status_is_retried_after_its_read_timeout() -> None:
    got = run_cell(OPERATIONS["status"], "hang")
    assert got.value.status is JobStatus.COMPLETED
    assert (got.driver.ops, got.driver.sleeps, got.clock.elapsed) == (
        ["status", "status"],
        [0.00875],
        pytest.approx(1.00875),
    )


def test_refused_reads_give_up_after_three_backoffs() -> None:
    got = run_cell(OPERATIONS["status"], "refused")
    assert isinstance(got.error, APIConnectionError) and got.error.request_sent is False
    assert got.driver.ops == ["status"] * 4
    assert got.driver.sleeps == [0.00875, 0.0175, 0.035]


def test_refused_submits_are_re_sent_since_they_never_left() -> None:
    got = run_cell(OPERATIONS["run"], "refused")
    assert isinstance(got.error, APIConnectionError) and got.error.request_sent is False
    assert got.driver.ops == ["run"] * 4


def test_a_5xx_read_is_retried_once_after_the_backoff() -> None:
    got = run_cell(OPERATIONS["status-sync"], "503")
    assert (got.driver.ops, got.driver.sleeps) == (["status-sync", "status-sync"], [0.00875])
    assert [s.cap for s in got.driver.sent] == [5.0, pytest.approx(4.99125)]


def test_rate_limited_submit_waits_retry_after_then_succeeds() -> None:
    got = run_cell(OPERATIONS["runsync"], "429 Retry-After: 1")
    assert got.value.status is JobStatus.COMPLETED
    assert (got.driver.ops, got.driver.sleeps, got.driver.waits) == (
        ["runsync", "runsync"],
        [1.0],
        [4500, 4500],
    )
    assert [s.cap for s in got.driver.sent] == [5.0, 4.0]


def test_a_lost_stream_reply_loses_its_chunks_and_is_re_read() -> None:
    got = run_cell(OPERATIONS["stream"], "drop_after")
    assert got.driver.ops == ["stream", "stream", "status"]
    assert got.value == []


def test_unknown_status_on_runsync_waits_for_the_end() -> None:
    got = run_cell(OPERATIONS["runsync"], "unknown status")
    assert got.value.status is JobStatus.COMPLETED
    assert got.driver.ops == ["runsync", "status-sync"]
    assert got.driver.sleeps == []


def test_a_delay_costs_its_time_and_nothing_else() -> None:
    got = run_cell(OPERATIONS["run"], "delay")
    assert got.value.id == JOB_ID
    assert (got.driver.ops, got.clock.elapsed) == (["run"], pytest.approx(0.2))
