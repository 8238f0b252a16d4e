"""``effective_timeouts``: the per-phase HTTP timeouts of one request — the long-poll read
override, every phase capped by what remains of the deadline (never zero), pooled-connection
queueing for long-polls, and the read grace of a submit, whose reply carries the job id."""

from __future__ import annotations

import pytest

from runpod_facade._core.deadline import SUBMIT_READ_GRACE, effective_timeouts
from runpod_facade._transports.base import Timeouts
from runpod_facade._wire.requests import build_request, encode_job

CLIENT = Timeouts(connect=5.0, read=30.0, write=30.0, pool=30.0)
UNLIMITED = Timeouts(connect=None, read=None, write=None, pool=None)

STATUS = build_request("status", "ep-1", job_id="job-1")
LONG_POLL = build_request("status-sync", "ep-1", job_id="job-1", wait_ms=1500)
RUN = build_request("run", "ep-1", body=encode_job(1))
RUNSYNC = build_request("runsync", "ep-1", body=encode_job(1), wait_ms=20_000)


def phases(t: Timeouts) -> tuple[float | None, ...]:
    return (t.connect, t.read, t.write, t.pool)


def test_submit_read_grace() -> None:
    assert SUBMIT_READ_GRACE == 2.0


def test_without_a_cap_the_clients_timeouts_apply() -> None:
    assert phases(effective_timeouts(CLIENT, STATUS, None)) == (5.0, 30.0, 30.0, 30.0)
    assert phases(effective_timeouts(UNLIMITED, STATUS, None)) == (None, None, None, None)


def test_a_long_poll_reads_its_hold_plus_ten_seconds_and_may_queue_for_the_pool() -> None:
    assert LONG_POLL.hold == 1.5
    assert phases(effective_timeouts(CLIENT, LONG_POLL, None)) == (5.0, 11.5, 30.0, None)


def test_long_polls_without_a_deadline_share_one_timeouts_per_client_timeouts_and_hold() -> None:
    # The same object each time, so a transport converts it once; another hold or other
    # client timeouts get their own.
    first = effective_timeouts(CLIENT, LONG_POLL, None)
    assert effective_timeouts(CLIENT, LONG_POLL, None) is first
    longer = build_request("status-sync", "ep-1", job_id="job-2", wait_ms=2500)
    assert phases(effective_timeouts(CLIENT, longer, None)) == (5.0, 12.5, 30.0, None)
    assert phases(effective_timeouts(UNLIMITED, LONG_POLL, None)) == (None, 11.5, None, None)


@pytest.mark.parametrize(
    ("cap", "expected"),
    [
        (100.0, (5.0, 30.0, 30.0, 30.0)),
        (10.0, (5.0, 10.0, 10.0, 10.0)),
        (2.0, (2.0, 2.0, 2.0, 2.0)),
        (0.05, (0.05, 0.05, 0.05, 0.05)),
        (0.01, (0.05, 0.05, 0.05, 0.05)),  # never zero: 0 means "fail at once" to httpx
        (0.0, (0.05, 0.05, 0.05, 0.05)),
    ],
)
def test_every_phase_is_capped_by_the_deadline(cap: float, expected: tuple[float, ...]) -> None:
    assert phases(effective_timeouts(CLIENT, STATUS, cap)) == expected


def test_a_cap_bounds_unlimited_phases_too() -> None:
    assert phases(effective_timeouts(UNLIMITED, STATUS, 3.0)) == (3.0, 3.0, 3.0, 3.0)


def test_a_capped_long_poll_is_cut_at_the_deadline_and_queues_only_until_it() -> None:
    assert phases(effective_timeouts(CLIENT, LONG_POLL, 2.0)) == (2.0, 2.0, 2.0, 2.0)
    assert phases(effective_timeouts(CLIENT, LONG_POLL, 20.0)) == (5.0, 11.5, 20.0, 20.0)


@pytest.mark.parametrize(
    ("request_", "cap", "read"),
    [
        (RUN, 1.0, 3.0),  # the deadline plus the grace...
        (RUN, 27.0, 29.0),
        (RUN, 28.0, 30.0),
        (RUN, 50.0, 30.0),  # ...but never longer than the client's own read timeout
        (RUNSYNC, 5.0, 7.0),
        (RUNSYNC, 40.0, 30.0),  # the hold (20 s) + 10 s margin
    ],
)
def test_a_submit_may_read_two_seconds_past_the_deadline(
    request_: object, cap: float, read: float
) -> None:
    timeouts = effective_timeouts(CLIENT, request_, cap)  # type: ignore[arg-type]
    assert timeouts.read == read
    # The other phases are capped as usual: only the reply, which has the id, gets the grace.
    assert timeouts.connect == min(5.0, cap)
    assert timeouts.write == min(30.0, cap)


def test_a_submit_without_a_cap_keeps_the_clients_read() -> None:
    assert effective_timeouts(CLIENT, RUN, None).read == 30.0
    assert effective_timeouts(CLIENT, RUNSYNC, None).read == 30.0
    assert effective_timeouts(UNLIMITED, RUN, None).read is None


def test_a_submit_on_a_client_without_read_timeout_still_gets_the_grace() -> None:
    # An unlimited client read timeout must not make the submit's read *stricter* than a
    # limited one does: the deadline plus the grace, as with any client timeout above it.
    assert effective_timeouts(UNLIMITED, RUN, 1.0).read == 3.0


def test_the_submit_grace_does_not_apply_to_reads() -> None:
    assert effective_timeouts(CLIENT, STATUS, 1.0).read == 1.0
