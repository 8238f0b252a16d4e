"""The sans-IO decisions (runpod_facade._loadbalancing.core) on a fake clock: which replies are
the platform's, what is sent again and when, and the one deadline over it all."""

from __future__ import annotations

import pytest

from runpod_facade._core.deadline import Deadline
from runpod_facade._loadbalancing.core import (
    Action,
    Attempts,
    Failure,
    LBRetryPolicy,
    ReadyPoll,
    classify,
    is_repeatable,
)


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


POLICY = LBRetryPolicy(max_retries=2, initial_delay=0.5, max_delay=4.0, jitter=0.0)
FAST_POLICY = LBRetryPolicy(initial_delay=0.01, jitter=0.0)


def attempts(
    timeout: float | None,
    *,
    repeatable: bool,
    clock: FakeClock | None = None,
    policy: LBRetryPolicy = POLICY,
) -> tuple[Attempts, FakeClock]:
    clock = clock or FakeClock()
    return Attempts(policy, Deadline(timeout, clock=clock), repeatable=repeatable), clock


@pytest.mark.parametrize(
    ("status", "body", "has_worker_id", "expected"),
    [
        (400, b'{"error":"no workers available"}', False, Failure.NO_WORKERS),
        (400, b'{"error":"No Workers Available"}', True, Failure.NO_WORKERS),
        (400, b'{"error":"worker_timeout"}', True, Failure.WORKER_TIMEOUT),
        (400, b'{"reason":"timed out waiting for worker"}', False, Failure.WORKER_TIMEOUT),
        (400, b'{"detail":"prompt is required"}', True, None),  # the worker's own 400
        (404, b'{"error":"affinity_worker_gone"}', True, Failure.WORKER_GONE),
        (404, b'{"detail":"Not Found"}', True, None),
        (502, b"<html>bad gateway</html>", False, Failure.UNREACHABLE),
        (524, b"", True, Failure.PROCESSING_TIMEOUT),
        (401, b"", False, Failure.AUTH),
        (401, b"", True, None),  # a worker's own auth
        (413, b"", False, Failure.TOO_LARGE),
        (500, b"", True, None),
        (200, b"no workers available", True, None),
    ],
)
def test_classify_tells_platform_replies_from_a_workers(
    status: int, body: bytes, has_worker_id: bool, expected: Failure | None
) -> None:
    assert classify(status, body, has_worker_id=has_worker_id) is expected


@pytest.mark.parametrize(
    ("method", "idempotent", "expected"),
    [
        ("GET", None, True),
        ("PUT", None, True),
        ("DELETE", None, True),
        ("POST", None, False),
        ("PATCH", None, False),
        ("POST", True, True),
        ("GET", False, False),
    ],
)
def test_repeatable_methods(method: str, idempotent: bool | None, expected: bool) -> None:
    assert is_repeatable(method, idempotent) is expected


@pytest.mark.parametrize("failure", [Failure.NO_WORKERS, Failure.UNREACHABLE])
def test_cold_start_replies_are_resent_for_any_method_until_the_deadline(
    failure: Failure,
) -> None:
    state, clock = attempts(3.0, repeatable=False)
    delays = []
    while True:
        state.start()
        decision = state.on_reply(400 if failure is Failure.NO_WORKERS else 502, failure)
        if decision.action is not Action.RETRY:
            break
        delays.append(decision.delay)
        clock.advance(decision.delay)
    # Backoff doubles (0.5, 1, ...) and no sleep runs past the deadline; far more resends
    # than max_retries=2, since the request never reached a worker.
    assert delays == [0.5, 1.0]
    assert decision.action is Action.RAISE and decision.failure is failure
    assert state.cold_starts == 2 and state.sent == 3
    longer, clock = attempts(30.0, repeatable=False)
    count = 0
    while longer.on_reply(400, Failure.NO_WORKERS).action is Action.RETRY:
        count += 1
        clock.advance(POLICY.max_delay)
    assert count > POLICY.max_retries


def test_no_resend_when_the_refusal_took_longer_than_what_would_be_left() -> None:
    state, clock = attempts(10.0, repeatable=False)
    state.start()
    clock.advance(4.0)  # the router held the request 4 s before refusing
    decision = state.on_reply(400, Failure.NO_WORKERS)
    assert decision.action is Action.RETRY and decision.delay == 0.5
    clock.advance(0.5)
    state.start()
    clock.advance(4.0)  # 1.5 s left: the backoff (1 s) and another 4 s wait do not fit
    decision = state.on_reply(400, Failure.NO_WORKERS)
    assert decision.action is Action.RAISE and decision.failure is Failure.NO_WORKERS
    assert state.sent == 2 and state.cold_starts == 1


def test_cold_start_without_deadline_is_bounded_by_max_retries() -> None:
    state, _ = attempts(None, repeatable=False)
    actions = [state.on_reply(400, Failure.NO_WORKERS).action for _ in range(4)]
    assert actions == [Action.RETRY, Action.RETRY, Action.RAISE, Action.RAISE]


@pytest.mark.parametrize(
    ("repeatable", "status", "expected"),
    [
        (True, 500, [Action.RETRY, Action.RETRY, Action.RETURN]),
        (False, 500, [Action.RETURN]),
        (True, 429, [Action.RETRY, Action.RETRY, Action.RETURN]),
        (True, 404, [Action.RETURN]),
        (True, 200, [Action.RETURN]),
    ],
)
def test_a_workers_own_failure_is_resent_only_when_repeatable(
    repeatable: bool, status: int, expected: list[Action]
) -> None:
    state, clock = attempts(60.0, repeatable=repeatable)
    seen = []
    while True:
        decision = state.on_reply(status, None)
        seen.append(decision.action)
        if decision.action is not Action.RETRY:
            break
        clock.advance(decision.delay)
    assert seen == expected


@pytest.mark.parametrize(("repeatable", "first"), [(True, Action.RETRY), (False, Action.RAISE)])
def test_processing_timeout_is_resent_only_when_repeatable(repeatable: bool, first: Action) -> None:
    state, _ = attempts(60.0, repeatable=repeatable)
    decision = state.on_reply(524, Failure.PROCESSING_TIMEOUT)
    assert decision.action is first
    assert decision.failure is Failure.PROCESSING_TIMEOUT


@pytest.mark.parametrize("failure", [Failure.WORKER_GONE, Failure.WORKER_TIMEOUT, Failure.AUTH])
def test_affinity_and_auth_failures_raise_at_once(failure: Failure) -> None:
    state, _ = attempts(60.0, repeatable=True)
    assert state.on_reply(400, failure).action is Action.RAISE


@pytest.mark.parametrize(
    ("repeatable", "sent", "timed_out", "expected"),
    [
        (False, False, False, Action.RETRY),  # connect failed: nothing reached a worker
        (False, True, False, Action.RAISE),  # a lost POST reply is never resent...
        (True, True, False, Action.RETRY),  # ...unless marked idempotent (or GET)
        (False, True, True, Action.TIMEOUT),
        (True, True, True, Action.RETRY),  # a read timeout of a GET before the deadline
    ],
)
def test_transport_errors(repeatable: bool, sent: bool, timed_out: bool, expected: Action) -> None:
    state, _ = attempts(60.0, repeatable=repeatable)
    assert state.on_transport_error(sent=sent, timed_out=timed_out).action is expected


def test_a_timeout_at_the_deadline_is_the_timeout_error_whatever_the_method() -> None:
    state, clock = attempts(1.0, repeatable=True)
    clock.advance(1.0)
    assert state.on_transport_error(sent=True, timed_out=True).action is Action.TIMEOUT
    assert state.attempt_timeout() == POLICY.min_attempt_timeout


def test_resends_stop_when_the_backoff_would_pass_the_deadline() -> None:
    state, clock = attempts(1.0, repeatable=True)
    clock.advance(0.6)  # 0.4 s left, the first backoff is 0.5 s
    assert state.on_reply(503, None).action is Action.RETURN
    assert state.attempt_timeout() == pytest.approx(0.4)


def test_attempt_timeout_is_what_is_left_of_the_deadline() -> None:
    state, clock = attempts(10.0, repeatable=True)
    assert state.attempt_timeout() == 10.0
    clock.advance(7.5)
    assert state.attempt_timeout() == 2.5
    unlimited, _ = attempts(None, repeatable=True)
    assert unlimited.attempt_timeout() is None


def test_ready_poll_polls_an_initializing_worker_fast_and_stops_at_the_deadline() -> None:
    clock = FakeClock()
    poll = ReadyPoll(POLICY, Deadline(1.0, clock=clock))
    decision = poll.on_reply(204, None)
    assert decision.action is Action.RETRY and decision.delay == POLICY.ready_interval
    # Not ready and no worker: back off, but never sleep past the deadline.
    first = poll.on_reply(400, Failure.NO_WORKERS)
    second = poll.on_reply(502, Failure.UNREACHABLE)
    assert (first.delay, second.delay) == (0.5, 1.0)
    clock.advance(0.9)
    assert poll.on_transport_error().delay == pytest.approx(0.1)
    clock.advance(0.1)
    assert poll.on_reply(204, None).action is Action.TIMEOUT
    assert poll.last_status == 204 and poll.polls == 5
    assert poll.on_reply(200, None).action is Action.RETURN


def test_ready_poll_raises_on_refused_key() -> None:
    poll = ReadyPoll(POLICY, Deadline(10.0, clock=FakeClock()))
    assert poll.on_reply(401, Failure.AUTH).action is Action.RAISE


def test_backoff_jitter_takes_off_at_most_its_share() -> None:
    policy = LBRetryPolicy(initial_delay=1.0, max_delay=8.0, jitter=0.25, rng=lambda: 1.0)
    assert [policy.backoff(i) for i in range(5)] == [0.75, 1.5, 3.0, 6.0, 6.0]


def test_a_resend_leaves_room_for_a_slower_refusal_than_the_slowest_so_far() -> None:
    # 0.06 s refusals and 0.3 s left after the first: a resend fits (0.01 + 0.075 + 0.05).
    state, clock = attempts(0.36, repeatable=False, policy=FAST_POLICY)
    state.start()
    clock.advance(0.06)
    assert state.on_reply(400, Failure.NO_WORKERS).action is Action.RETRY
    clock.advance(0.01)
    state.start()
    clock.advance(0.1)  # slower: 0.19 s left, and 0.02 + 0.125 + 0.05 does not fit
    decision = state.on_reply(400, Failure.NO_WORKERS)
    assert decision.action is Action.RAISE and state.sent == 2
    # Without the headroom, 0.02 + 0.1 < 0.19 would resend, and a refusal 0.07 s slower
    # than the slowest would end in a timeout instead of NoWorkersAvailableError.
