"""The scripted driver itself (tests/_support): a helper that lies would let every test here
pass for the wrong reason, so its own behaviour is pinned too."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import pytest

from runpod_facade._core.effects import Emit, Send, Sleep
from runpod_facade._core.engine import EndpointCore
from tests._support.replies import job, not_sent
from tests._support.scripted import (
    EPOCH,
    HOLD,
    FakeClock,
    Reply,
    ScriptedDriver,
)


def test_the_fake_clock_moves_only_when_told() -> None:
    clock = FakeClock()
    assert (clock(), clock.elapsed) == (EPOCH, 0.0)
    clock.advance(2.5)
    assert (clock(), clock.elapsed) == (EPOCH + 2.5, 2.5)
    with pytest.raises(AssertionError):
        clock.advance(-1.0)


def test_an_extra_request_fails_the_test(core: EndpointCore, clock: FakeClock) -> None:
    driver = ScriptedDriver(clock, [])
    with pytest.raises(AssertionError, match="unexpected request 1: GET /ep-1/health"):
        driver.run(core.health())


def test_a_request_for_another_operation_fails_the_test(
    core: EndpointCore, clock: FakeClock
) -> None:
    driver = ScriptedDriver(clock, [Reply(job("COMPLETED"), op="status-sync")])
    with pytest.raises(
        AssertionError,
        match="request 1 is status /ep-1/status/job-1, the script expected status-sync",
    ):
        driver.run(core.status("job-1"))


def test_replies_take_fake_time_and_then_repeats(core: EndpointCore, clock: FakeClock) -> None:
    driver = ScriptedDriver(clock, [Reply(not_sent(), after=0.25)], then=job("COMPLETED"))
    assert driver.run(core.status("job-1")).status == "COMPLETED"
    assert [s.at for s in driver.sent] == [0.0, 0.6875]  # 0.25 of reply, 0.4375 of backoff
    assert driver.unused == 0


def test_a_held_reply_takes_the_requests_hold(core: EndpointCore, clock: FakeClock) -> None:
    request = core.request("status-sync", job_id="job-1", wait_ms=2500)
    driver = ScriptedDriver(clock, [Reply(job("IN_PROGRESS"), after=HOLD)])
    driver.run(core.call(request))
    assert clock.elapsed == 2.5


def test_a_responder_answers_every_request(core: EndpointCore, clock: FakeClock) -> None:
    seen: list[str] = []

    def server(send: Send, driver: ScriptedDriver) -> Any:
        seen.append(send.request.path)
        return job("COMPLETED")

    driver = ScriptedDriver(clock, server)
    driver.run(core.status("job-1"))
    driver.run(core.cancel("job-1"))
    assert seen == ["/ep-1/status/job-1", "/ep-1/cancel/job-1"]


def test_the_interrupt_replaces_the_nth_performed_effect(clock: FakeClock) -> None:
    thrown: list[BaseException] = []

    def op() -> Generator[Any, Any, str]:
        yield Sleep(1.0)
        yield Emit("x")  # emits are not performed effects: not counted
        try:
            yield Sleep(2.0)
        except KeyboardInterrupt as exc:
            thrown.append(exc)
        yield Sleep(3.0)
        return "end"

    interrupt = KeyboardInterrupt("now")
    driver = ScriptedDriver(clock, [], interrupt_at=1, interrupt=interrupt)
    assert driver.run(op()) == "end"
    assert thrown == [interrupt]
    assert driver.interrupted is True
    assert driver.sleeps == [1.0, 3.0]
    assert driver.emitted == ["x"]
    assert [at for at, _ in driver.effects] == [0.0, 1.0, 1.0, 1.0]


def test_the_operation_is_closed_however_the_run_ends(clock: FakeClock) -> None:
    closed: list[bool] = []

    def op() -> Generator[Any, Any, None]:
        try:
            yield Send(EndpointCore("ep-1", retry=None, poll=None).request("health"))  # type: ignore[arg-type]
        finally:
            closed.append(True)

    with pytest.raises(AssertionError):
        ScriptedDriver(clock, []).run(op())
    assert closed == [True]
