"""``SyncDriver``: performs the core's effects over a transport — without sockets here: the
transport is a scripted stand-in and ``sleep`` a recorder. Interrupts raised while an effect
is performed are thrown into the operation, which decides what to cancel."""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass, field
from typing import Any

import pytest

from runpod_facade._core.effects import Emit, Send, Sleep
from runpod_facade._core.streaming import StreamProgress, stream
from runpod_facade._core.waiting import wait
from runpod_facade._drivers.sync import SyncDriver
from runpod_facade._exceptions import ClientClosedError
from runpod_facade._transports.base import ApiRequest, ApiResponse, Timeouts
from tests._support.replies import chunks, job
from tests._support.scripted import FakeClock, make_core


@dataclass
class FakeTransport:
    replies: list[Any]
    sent: list[tuple[ApiRequest, Timeouts]] = field(default_factory=list)
    closed: int = 0

    def send(self, request: ApiRequest, timeouts: Timeouts) -> Any:
        self.sent.append((request, timeouts))
        reply = self.replies.pop(0)
        if isinstance(reply, BaseException):
            raise reply
        return reply

    def close(self) -> None:
        self.closed += 1


def driver_for(
    *replies: Any, sleeps: list[float] | None = None
) -> tuple[SyncDriver, FakeTransport]:
    transport = FakeTransport(list(replies))
    recorded = [] if sleeps is None else sleeps
    return SyncDriver(transport, sleep=recorded.append), transport


def test_run_sends_through_the_transport_with_the_effective_timeouts() -> None:
    driver, transport = driver_for(job("COMPLETED"))
    core = make_core(FakeClock())
    state = driver.run(wait(core, "job-1", timeout=None))
    assert state.id == "job-1"
    ((request, timeouts),) = transport.sent
    assert request.operation == "status-sync"
    assert timeouts == Timeouts(connect=5.0, read=100.0, write=30.0, pool=None)


def test_sleeps_are_performed_only_when_positive() -> None:
    sleeps: list[float] = []
    driver, _ = driver_for(sleeps=sleeps)

    def op() -> Generator[Any, Any, str]:
        yield Sleep(0.5)
        yield Sleep(0.0)
        yield Sleep(-1.0)
        return "done"

    assert driver.run(op()) == "done"
    assert sleeps == [0.5]


def test_an_unknown_effect_is_a_type_error() -> None:
    driver, _ = driver_for()

    def op() -> Generator[Any, Any, None]:
        yield "nonsense"

    with pytest.raises(TypeError, match=r"^unexpected effect 'nonsense'$"):
        driver.run(op())

    def emits() -> Generator[Any, Any, None]:
        yield Emit(1)

    with pytest.raises(TypeError, match=r"^unexpected effect Emit"):
        driver.run(emits())


def test_a_closed_driver_refuses_to_send_and_closes_once() -> None:
    driver, transport = driver_for(job("COMPLETED"))
    assert driver.closed is False
    driver.close()
    driver.close()
    assert (driver.closed, transport.closed) == (True, 1)
    core = make_core(FakeClock())
    with pytest.raises(ClientClosedError) as info:
        driver.run(core.status("job-1"))
    assert (
        str(info.value) == "this Endpoint is closed; create a new one (or use it in a with block)"
    )
    assert transport.sent == []
    named = SyncDriver(FakeTransport([]), what="AsyncEndpoint")
    named.close()
    with pytest.raises(ClientClosedError, match=r"^this AsyncEndpoint is closed"):
        named.run(core.status("job-1"))


def test_ctrl_c_during_a_request_is_thrown_into_the_operation() -> None:
    driver, transport = driver_for(KeyboardInterrupt(), job("CANCELLED"))
    core = make_core(FakeClock())
    with pytest.raises(KeyboardInterrupt) as info:
        driver.run(wait(core, "job-1", timeout=None, cancel_on_interrupt=True))
    assert [r.operation for r, _ in transport.sent] == ["status-sync", "cancel"]
    assert info.value.__notes__ == [
        "runpod-facade: job job-1 cancelled on interrupt (cancel_on_interrupt=True)"
    ]


def test_ctrl_c_during_a_sleep_is_thrown_into_the_operation() -> None:
    transport = FakeTransport([job("IN_QUEUE"), job("CANCELLED")])

    def interrupted_sleep(seconds: float) -> None:
        raise KeyboardInterrupt

    driver = SyncDriver(transport, sleep=interrupted_sleep)
    core = make_core(FakeClock(), long_poll=False)
    with pytest.raises(KeyboardInterrupt):
        driver.run(wait(core, "job-1", timeout=None, cancel_on_interrupt=True))
    assert [r.operation for r, _ in transport.sent] == ["status", "cancel"]


def test_the_operation_is_closed_when_the_driver_stops() -> None:
    closed: list[bool] = []

    def op() -> Generator[Any, Any, None]:
        try:
            yield Send(make_core(FakeClock()).request("health"))
        finally:
            closed.append(True)

    driver, _ = driver_for(ValueError("transport bug"))
    with pytest.raises(ValueError, match="transport bug"):
        driver.run(op())
    assert closed == [True]


def test_iterate_yields_the_emitted_values() -> None:
    driver, transport = driver_for(
        chunks("IN_PROGRESS", "a", "b"), chunks("COMPLETED", "c"), job("COMPLETED")
    )
    core = make_core(FakeClock())
    progress = StreamProgress("job-1")
    values = list(
        driver.iterate(stream(core, "job-1", timeout=None, idle_timeout=None, progress=progress))
    )
    assert values == ["a", "b", "c"]
    assert [r.operation for r, _ in transport.sent] == ["stream", "stream", "status"]


def test_iterate_throws_ctrl_c_into_the_stream() -> None:
    driver, _ = driver_for(chunks("IN_PROGRESS", "a"), KeyboardInterrupt())
    core = make_core(FakeClock())
    progress = StreamProgress("job-1")
    seen: list[Any] = []
    with pytest.raises(KeyboardInterrupt) as info:
        for value in driver.iterate(
            stream(core, "job-1", timeout=None, idle_timeout=None, progress=progress)
        ):
            seen.append(value)
    assert seen == ["a"]
    assert info.value.__notes__[0].startswith("runpod-facade: job job-1 left running")


def test_leaving_an_iteration_early_closes_the_operation() -> None:
    closed: list[bool] = []

    def op() -> Generator[Any, Any, None]:
        try:
            yield Emit(1)
            yield Emit(2)
        finally:
            closed.append(True)

    driver, _ = driver_for()
    iterator = driver.iterate(op())
    assert next(iterator) == 1
    iterator.close()  # type: ignore[attr-defined]
    assert closed == [True]


def test_a_stream_ending_returns_from_iterate() -> None:
    def op() -> Generator[Any, Any, None]:
        yield Emit(1)
        yield Sleep(0.25)
        yield Emit(2)

    sleeps: list[float] = []
    driver, _ = driver_for(sleeps=sleeps)
    assert list(driver.iterate(op())) == [1, 2]
    assert sleeps == [0.25]


def test_a_reply_value_reaches_the_operation() -> None:
    reply = ApiResponse(204, {}, b"")

    def op() -> Generator[Any, Any, Any]:
        outcome = yield Send(make_core(FakeClock()).request("health"))
        return outcome

    driver, _ = driver_for(reply)
    assert driver.run(op()) is reply
