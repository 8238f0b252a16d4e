"""The request gate of the async transports (``runpod_facade._transports.gate.Gate``), on its own."""

from __future__ import annotations

import asyncio

import pytest

from runpod_facade._transports.gate import Gate


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


def test_sizes_are_checked() -> None:
    for limit, reserve in ((1, 1), (5, 0), (5, 5), (0, 0)):
        with pytest.raises(ValueError):
            Gate(limit, reserve)


def test_long_polls_never_take_the_reserve() -> None:
    gate = Gate(limit=4, reserve=1)
    assert [gate.try_enter(long=True) for _ in range(4)] == [True, True, True, False]
    # The reserved slot is a short call's, however many long-polls want one.
    assert gate.try_enter(long=False) is True
    assert gate.try_enter(long=False) is False
    assert (gate.in_flight, gate.long_in_flight) == (4, 3)


def test_short_calls_may_use_every_slot() -> None:
    gate = Gate(limit=3, reserve=1)
    assert [gate.try_enter(long=False) for _ in range(4)] == [True, True, True, False]
    assert gate.try_enter(long=True) is False


async def test_a_freed_slot_goes_to_queued_short_calls_first() -> None:
    gate = Gate(limit=2, reserve=1)
    assert gate.try_enter(long=False) and gate.try_enter(long=False)
    order: list[str] = []

    async def waiter(name: str, long: bool) -> None:
        assert await gate.enter(long, timeout=None)
        order.append(name)

    tasks = [
        asyncio.create_task(waiter("long-1", True)),
        asyncio.create_task(waiter("short-1", False)),
        asyncio.create_task(waiter("short-2", False)),
    ]
    await settle()
    assert order == []
    gate.leave(long=False)
    await settle()
    assert order == ["short-1"]  # queued after long-1, admitted before it
    gate.leave(long=False)
    await settle()
    assert order == ["short-1", "short-2"]
    gate.leave(long=False)
    await settle()
    assert order == ["short-1", "short-2", "long-1"]
    await asyncio.gather(*tasks)
    assert (gate.in_flight, gate.long_in_flight) == (2, 1)


async def test_a_new_call_does_not_overtake_queued_ones_of_its_kind() -> None:
    gate = Gate(limit=2, reserve=1)
    assert gate.try_enter(long=True)
    queued = asyncio.create_task(gate.enter(long=True, timeout=None))
    await settle()
    assert gate.try_enter(long=False)  # the short call takes the reserve
    gate.leave(long=False)
    await settle()
    # A slot is free, but long-polls are capped at 1 and one holds it; the queued long-poll
    # is next when that one leaves, and a newcomer long-poll may not jump ahead.
    assert not queued.done()
    assert gate.try_enter(long=True) is False
    gate.leave(long=True)
    assert await queued is True
    assert (gate.in_flight, gate.long_in_flight) == (1, 1)


async def test_timeout_returns_false_and_keeps_the_count() -> None:
    gate = Gate(limit=2, reserve=1)
    assert gate.try_enter(long=False) and gate.try_enter(long=False)
    assert await gate.enter(long=False, timeout=0.01) is False
    gate.leave(long=False)
    gate.leave(long=False)
    assert gate.in_flight == 0
    assert gate.try_enter(long=False) and gate.try_enter(long=False)


async def test_a_cancelled_waiter_holds_no_slot() -> None:
    gate = Gate(limit=2, reserve=1)
    assert gate.try_enter(long=False) and gate.try_enter(long=False)
    waiter = asyncio.create_task(gate.enter(long=False, timeout=None))
    await settle()
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    gate.leave(long=False)
    assert gate.in_flight == 1  # the cancelled waiter was skipped, not admitted


async def test_a_waiter_cancelled_after_being_admitted_gives_the_slot_back() -> None:
    gate = Gate(limit=2, reserve=1)
    assert gate.try_enter(long=True) and gate.try_enter(long=False)
    waiter = asyncio.create_task(gate.enter(long=False, timeout=None))
    behind = asyncio.create_task(gate.enter(long=False, timeout=None))
    await settle()
    gate.leave(long=True)  # hands the slot to `waiter` ...
    waiter.cancel()  # ... which is cancelled before it runs again
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert await behind is True  # the slot went on to the next in line
    assert (gate.in_flight, gate.long_in_flight) == (2, 0)


async def test_admitted_just_as_the_timeout_fires_counts_as_admitted() -> None:
    gate = Gate(limit=2, reserve=1)
    assert gate.try_enter(long=False) and gate.try_enter(long=False)
    waiter = asyncio.create_task(gate.enter(long=False, timeout=0.05))
    await settle()
    gate.leave(long=False)  # admitted now; its timer may still fire before it resumes
    assert await waiter is True
    assert gate.in_flight == 2


async def test_many_waiters_are_all_served_exactly_once() -> None:
    gate = Gate(limit=5, reserve=2)
    active = {"short": 0, "long": 0}
    peak = {"all": 0, "long": 0}

    async def call(long: bool) -> None:
        if not gate.try_enter(long):
            assert await gate.enter(long, timeout=None)
        kind = "long" if long else "short"
        active[kind] += 1
        peak["all"] = max(peak["all"], active["short"] + active["long"])
        peak["long"] = max(peak["long"], active["long"])
        await asyncio.sleep(0.001 if long else 0)
        active[kind] -= 1
        gate.leave(long)

    await asyncio.gather(*(call(i % 3 != 0) for i in range(300)))
    assert peak == {"all": 5, "long": 3}
    assert (gate.in_flight, gate.long_in_flight) == (0, 0)
