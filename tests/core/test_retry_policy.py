"""The pure retry and poll decisions of ``_retry``: which statuses, ``Retry-After`` in each
form, jittered backoff with a fixed random source, and the limits (max_retries, budget, the
deadline). Every value is exact."""

from __future__ import annotations

import datetime as dt
import email.utils
import types

import pytest

from runpod_facade._core import retry as _retry
from runpod_facade._core.retry import (
    PollPolicy,
    RetryPolicy,
    Spent,
    is_retryable_status,
    jittered_backoff,
)
from runpod_facade._transports.base import Delivery, Safety
from runpod_facade._wire import replies as _replies
from runpod_facade._wire.replies import parse_retry_after
from tests._support.scripted import fixed

NOW = 1_700_000_000.0  # a wall-clock instant with whole seconds
FRESH = Spent(retries=0, slept=0.0, remaining=None)


def http_date(seconds_after_now: float) -> str:
    when = dt.datetime.fromtimestamp(NOW + seconds_after_now, dt.UTC)
    return email.utils.format_datetime(when, usegmt=True)


# --- statuses --------------------------------------------------------------------------------


@pytest.mark.parametrize("code", [408, 429, 500, 501, 502, 503, 504, 511, 599, 499, 520, 524])
def test_retryable_statuses(code: int) -> None:
    assert is_retryable_status(code) is True


@pytest.mark.parametrize("code", [400, 401, 403, 404, 405, 407, 409, 410, 413, 422, 428, 431])
def test_client_errors_are_not_retryable(code: int) -> None:
    assert is_retryable_status(code) is False


def test_codes_outside_the_iana_registry_are_retryable() -> None:
    # nginx 499, Cloudflare 520-527, and 4xx codes nobody registered (a proxy's invention).
    assert [c for c in (419, 420, 444, 450, 460, 498) if is_retryable_status(c)] == [
        419, 420, 444, 450, 460, 498,
    ]  # fmt: skip


# --- Retry-After -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({"retry-after": "2"}, 2.0),
        ({"retry-after": "0"}, 0.0),
        ({"retry-after": " 7 "}, 7.0),
        ({"retry-after": "2.5"}, 2.5),
        ({"retry-after-ms": "1500"}, 1.5),
        ({"retry-after-ms": "0"}, 0.0),
        ({"retry-after-ms": "250", "retry-after": "9"}, 0.25),  # the precise one wins
        ({"retry-after-ms": "soon", "retry-after": "3"}, 3.0),
        ({"retry-after-ms": "-5", "retry-after": "4"}, 4.0),
        ({"retry-after-ms": "nan", "retry-after": "6"}, 6.0),
    ],
)
def test_retry_after_values(headers: dict[str, str], seconds: float) -> None:
    assert parse_retry_after(headers, now=NOW) == seconds


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"retry-after": "-1"},
        {"retry-after": "nan"},
        {"retry-after": "inf"},
        {"retry-after": "soon"},
        {"retry-after": ""},
        {"retry-after": "Mon, 99 Foo 2024 25:61:61 GMT"},
        {"retry-after-ms": "-1"},
        {"retry-after-ms": "nan"},
    ],
)
def test_unusable_retry_after_is_ignored(headers: dict[str, str]) -> None:
    assert parse_retry_after(headers, now=NOW) is None


def test_retry_after_http_date_is_seconds_from_now() -> None:
    assert parse_retry_after({"retry-after": http_date(30)}, now=NOW) == 30.0


def test_retry_after_http_date_in_the_past_is_zero() -> None:
    assert parse_retry_after({"retry-after": http_date(-30)}, now=NOW) == 0.0


def test_retry_after_http_date_uses_the_wall_clock_by_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_replies, "time", types.SimpleNamespace(time=lambda: NOW + 10))
    assert parse_retry_after({"retry-after": http_date(30)}) == 20.0


# --- jittered backoff ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("index", "rng", "delay"),
    [
        (0, 0.0, 0.5),  # no jitter drawn: the base delay
        (0, 0.5, 0.4375),  # 0.5 * (1 - 0.25 * 0.5)
        (0, 1.0, 0.375),  # the most jitter takes off 25 %
        (1, 0.5, 0.875),
        (2, 0.5, 1.75),
        (3, 0.5, 3.5),
        (4, 0.5, 7.0),
        (5, 0.5, 7.0),  # 16 capped at 8
        (9, 0.0, 8.0),
    ],
)
def test_jittered_backoff_is_exact(index: int, rng: float, delay: float) -> None:
    assert jittered_backoff(index, 0.5, 2.0, 8.0, 0.25, fixed(rng)) == delay


def test_jittered_backoff_draws_once_per_delay() -> None:
    draws = iter([0.5, 1.0])
    assert jittered_backoff(1, 1.0, 3.0, 100.0, 0.5, lambda: next(draws)) == 2.25
    assert next(draws) == 1.0


# --- RetryPolicy -----------------------------------------------------------------------------


def test_retry_policy_defaults() -> None:
    policy = RetryPolicy()
    assert (
        policy.max_retries,
        policy.initial_delay,
        policy.max_delay,
        policy.jitter,
        policy.max_retry_after,
        policy.budget,
    ) == (3, 0.5, 8.0, 0.25, 60.0, 60.0)
    assert policy.rng is _retry.random.random


def test_retry_policy_backoff_doubles_up_to_the_cap() -> None:
    policy = RetryPolicy(rng=fixed(0.0))
    assert [policy.backoff(i) for i in range(6)] == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0]


def test_retry_policy_rng_is_not_part_of_equality_or_repr() -> None:
    assert RetryPolicy(rng=fixed(0.1)) == RetryPolicy(rng=fixed(0.9))
    assert "rng" not in repr(RetryPolicy())


POLICY = RetryPolicy(rng=fixed(0.5))


@pytest.mark.parametrize("code", [408, 429, 500, 503, 520])
def test_reads_retry_retryable_statuses_after_the_backoff(code: int) -> None:
    assert POLICY.delay_for_status(code, {}, Safety.REPEATABLE, FRESH) == 0.4375


@pytest.mark.parametrize("code", [400, 401, 404, 409, 413])
def test_no_status_retry_for_client_errors(code: int) -> None:
    assert POLICY.delay_for_status(code, {}, Safety.REPEATABLE, FRESH) is None


@pytest.mark.parametrize("code", [408, 500, 502, 503, 504, 520])
def test_a_submit_is_never_retried_after_a_status_it_may_have_followed(code: int) -> None:
    headers = {"retry-after": "1"}
    assert POLICY.delay_for_status(code, headers, Safety.SUBMIT, FRESH) is None


def test_a_submit_is_retried_after_429() -> None:
    assert POLICY.delay_for_status(429, {}, Safety.SUBMIT, FRESH) == 0.4375
    assert POLICY.delay_for_status(429, {"retry-after": "3"}, Safety.SUBMIT, FRESH) == 3.0


def test_retry_after_replaces_the_backoff() -> None:
    spent = Spent(retries=2, slept=1.0, remaining=None)
    assert POLICY.delay_for_status(503, {"retry-after": "0"}, Safety.REPEATABLE, spent) == 0.0
    assert POLICY.delay_for_status(503, {"retry-after-ms": "20"}, Safety.REPEATABLE, spent) == 0.02


def test_retry_after_up_to_the_maximum_is_honoured_longer_gives_up() -> None:
    policy = RetryPolicy(max_retry_after=5.0, rng=fixed(0.5))
    assert policy.delay_for_status(429, {"retry-after": "5"}, Safety.REPEATABLE, FRESH) == 5.0
    assert policy.delay_for_status(429, {"retry-after": "5.5"}, Safety.REPEATABLE, FRESH) is None
    # The default maximum is a minute.
    assert POLICY.delay_for_status(429, {"retry-after": "60"}, Safety.REPEATABLE, FRESH) == 60.0
    assert POLICY.delay_for_status(429, {"retry-after": "61"}, Safety.REPEATABLE, FRESH) is None


@pytest.mark.parametrize(
    ("delivery", "safety", "delay"),
    [
        (Delivery.NOT_SENT, Safety.SUBMIT, 0.4375),
        (Delivery.MAYBE_SENT, Safety.SUBMIT, None),
        (Delivery.NOT_SENT, Safety.REPEATABLE, 0.4375),
        (Delivery.MAYBE_SENT, Safety.REPEATABLE, 0.4375),
    ],
)
def test_transport_failures(delivery: Delivery, safety: Safety, delay: float | None) -> None:
    assert POLICY.delay_for_transport_error(delivery, safety, FRESH) == delay


def test_unusable_2xx_bodies_are_re_read_but_never_re_submitted() -> None:
    assert POLICY.delay_for_unusable_reply(Safety.REPEATABLE, FRESH) == 0.4375
    assert POLICY.delay_for_unusable_reply(Safety.SUBMIT, FRESH) is None


def test_the_backoff_follows_the_retry_index() -> None:
    spent = Spent(retries=2, slept=0.0, remaining=None)
    assert POLICY.delay_for_transport_error(Delivery.NOT_SENT, Safety.REPEATABLE, spent) == 1.75
    assert POLICY.delay_for_unusable_reply(Safety.REPEATABLE, spent) == 1.75
    assert POLICY.delay_for_status(500, {}, Safety.REPEATABLE, spent) == 1.75


def test_max_retries_is_the_number_of_retries_after_the_first_attempt() -> None:
    policy = RetryPolicy(max_retries=2, rng=fixed(0.0))
    delays = [
        policy.delay_for_status(503, {}, Safety.REPEATABLE, Spent(n, 0.0, None)) for n in range(4)
    ]
    assert delays == [0.5, 1.0, None, None]
    assert RetryPolicy(max_retries=0).delay_for_status(503, {}, Safety.REPEATABLE, FRESH) is None


def test_the_budget_bounds_the_total_sleep_of_one_call() -> None:
    policy = RetryPolicy(budget=2.0, rng=fixed(0.0))
    # 1.5 slept + 0.5 = 2.0: exactly the budget is allowed, a hair more is not.
    assert policy.delay_for_status(503, {}, Safety.REPEATABLE, Spent(0, 1.5, None)) == 0.5
    assert policy.delay_for_status(503, {}, Safety.REPEATABLE, Spent(0, 1.5625, None)) is None
    assert policy.delay_for_status(429, {"retry-after": "3"}, Safety.REPEATABLE, FRESH) is None


def test_a_retry_must_start_before_the_deadline() -> None:
    policy = RetryPolicy(rng=fixed(0.0))
    assert policy.delay_for_status(503, {}, Safety.REPEATABLE, Spent(0, 0.0, 0.75)) == 0.5
    # Sleeping exactly what remains leaves no time for the request itself.
    assert policy.delay_for_status(503, {}, Safety.REPEATABLE, Spent(0, 0.0, 0.5)) is None
    assert policy.delay_for_status(503, {}, Safety.REPEATABLE, Spent(0, 0.0, 0.25)) is None
    assert policy.delay_for_status(503, {}, Safety.REPEATABLE, Spent(0, 0.0, 0.0)) is None


# --- PollPolicy ------------------------------------------------------------------------------


def test_poll_policy_defaults() -> None:
    policy = PollPolicy()
    assert (policy.initial, policy.factor, policy.maximum, policy.jitter) == (0.25, 1.5, 5.0, 0.2)
    assert policy.rng is _retry.random.random


def test_poll_intervals_grow_by_the_factor_up_to_the_maximum() -> None:
    policy = PollPolicy(rng=fixed(0.0))
    assert [policy.interval(i) for i in range(3)] == [0.25, 0.375, 0.5625]
    assert policy.interval(9) == 5.0  # 0.25 * 1.5**9 = 9.6 capped
    assert policy.interval(7) == pytest.approx(4.271484375)


def test_poll_intervals_are_jittered_by_the_random_source() -> None:
    policy = PollPolicy(initial=0.5, factor=2.0, maximum=8.0, jitter=0.5, rng=fixed(0.5))
    assert [policy.interval(i) for i in range(6)] == [0.375, 0.75, 1.5, 3.0, 6.0, 6.0]
