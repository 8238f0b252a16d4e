"""``Deadline``: one monotonic point in time (or none) for a whole operation."""

from __future__ import annotations

from runpod_facade._core.deadline import Deadline
from tests._support.scripted import FakeClock


def test_an_unlimited_deadline_never_expires_and_caps_nothing(clock: FakeClock) -> None:
    deadline = Deadline(None, clock=clock)
    clock.advance(1e9)
    assert deadline.timeout is None
    assert deadline.remaining() is None
    assert deadline.expired() is False
    assert deadline.cap(123.0) == 123.0


def test_remaining_counts_down_with_the_clock_and_stops_at_zero(clock: FakeClock) -> None:
    deadline = Deadline(5.0, clock=clock)
    assert deadline.timeout == 5.0
    assert deadline.remaining() == 5.0
    clock.advance(2.0)
    assert deadline.remaining() == 3.0
    assert deadline.expired() is False
    clock.advance(3.0)
    assert deadline.remaining() == 0.0
    assert deadline.expired() is True  # exactly at the deadline is past it
    clock.advance(4.0)
    assert deadline.remaining() == 0.0


def test_a_zero_deadline_is_expired_at_once(clock: FakeClock) -> None:
    deadline = Deadline(0, clock=clock)
    assert deadline.remaining() == 0.0
    assert deadline.expired() is True
    assert deadline.cap(1.0) == 0.0


def test_cap_shortens_to_what_remains(clock: FakeClock) -> None:
    deadline = Deadline(2.0, clock=clock)
    assert deadline.cap(1.5) == 1.5
    assert deadline.cap(3.0) == 2.0
    clock.advance(1.75)
    assert deadline.cap(1.5) == 0.25


def test_earliest_of_two_deadlines(clock: FakeClock) -> None:
    none_a, none_b = Deadline(None, clock=clock), Deadline(None, clock=clock)
    short, long = Deadline(1.0, clock=clock), Deadline(2.0, clock=clock)
    same = Deadline(1.0, clock=clock)
    assert Deadline.earliest(none_a, none_b) is none_a
    assert Deadline.earliest(none_a, short) is short
    assert Deadline.earliest(short, none_a) is short
    assert Deadline.earliest(short, long) is short
    assert Deadline.earliest(long, short) is short
    assert Deadline.earliest(short, same) is short  # a tie keeps the first
    assert Deadline.earliest(same, short) is same


def test_the_deadline_starts_when_it_is_made(clock: FakeClock) -> None:
    clock.advance(10.0)
    deadline = Deadline(1.0, clock=clock)
    assert deadline.remaining() == 1.0
    clock.advance(0.25)
    assert deadline.now() == clock()  # what the deadline counts on, for the caller's timings
