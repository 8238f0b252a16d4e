"""When to retry a request or poll again, and how long to wait first. Pure decisions, no I/O.

Safety rules (the whole point of this module):

* Reads (``status``, ``stream``, ``health`` …) and ``cancel``/``purge-queue`` are retried on
  connection errors, timeouts, 408, 429, 5xx and non-IANA codes.
* A submit (``run``, ``runsync``) — and ``retry``, which requeues a job — is re-sent only when
  the request provably never reached the server (the connection could not be made, or no
  pooled connection was free) or when the server refused it unprocessed (429). Anything else
  could create a duplicate job, so the error goes to the caller instead.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from .._transports.base import Delivery, Safety
from .._wire.errors import is_server_failure
from .._wire.replies import parse_retry_after

__all__ = ["PollPolicy", "RetryPolicy", "Spent", "is_retryable_status", "jittered_backoff"]


def jittered_backoff(
    index: int,
    initial: float,
    factor: float,
    maximum: float,
    jitter: float,
    rng: Callable[[], float],
) -> float:
    """``initial * factor**index`` capped at ``maximum``, less up to ``jitter`` of it at random
    so that many clients do not retry or poll in step."""
    try:
        grown = initial * factor**index
    except OverflowError:  # a float factor after ~1,700 polls of one long wait
        grown = maximum
    base: float = min(maximum, grown)
    return base * (1.0 - jitter * rng())


def is_retryable_status(status_code: int) -> bool:
    """408, 429, every 5xx, and codes outside the IANA registry (Cloudflare 520-527, nginx 499)."""
    return status_code in (408, 429) or is_server_failure(status_code)


@dataclass(frozen=True, slots=True)
class Spent:
    """What one call has used so far: retries made, seconds slept, seconds left (or None)."""

    retries: int
    slept: float
    remaining: float | None


@dataclass(frozen=True)
class RetryPolicy:
    """Retry settings shared by every call of a client.

    Args:
        max_retries: retries after the first attempt, per call.
        initial_delay: first backoff in seconds; it doubles on each retry...
        max_delay: ...up to this cap.
        jitter: fraction of each delay taken off at random, so clients do not retry in step.
        max_retry_after: the longest ``Retry-After`` honoured; a longer hint means "give up now"
            (on a 429 the ``RateLimitError`` carries ``retry_after`` so the caller can decide).
        budget: the most seconds one call may spend sleeping between retries in total.
    """

    max_retries: int = 3
    initial_delay: float = 0.5
    max_delay: float = 8.0
    jitter: float = 0.25
    max_retry_after: float = 60.0
    budget: float = 60.0
    rng: Callable[[], float] = field(default=random.random, repr=False, compare=False)

    def backoff(self, retry_index: int) -> float:
        return jittered_backoff(
            retry_index, self.initial_delay, 2.0, self.max_delay, self.jitter, self.rng
        )

    def delay_for_status(
        self, status_code: int, headers: Mapping[str, str], safety: Safety, spent: Spent
    ) -> float | None:
        """Seconds to wait before retrying an HTTP error reply, or ``None`` to give up."""
        if not is_retryable_status(status_code):
            return None
        if safety is Safety.SUBMIT and status_code != 429:
            # A 5xx or 408 on a submit may come after the job was created: never duplicate it.
            return None
        hint = parse_retry_after(headers)
        if hint is not None and hint > self.max_retry_after:
            return None
        return self._admit(hint if hint is not None else self.backoff(spent.retries), spent)

    def delay_for_transport_error(
        self, delivery: Delivery, safety: Safety, spent: Spent
    ) -> float | None:
        """Seconds to wait before retrying after no HTTP answer, or ``None`` to give up."""
        if safety is Safety.SUBMIT and delivery is not Delivery.NOT_SENT:
            return None
        return self._admit(self.backoff(spent.retries), spent)

    def delay_for_unusable_reply(self, safety: Safety, spent: Spent) -> float | None:
        """Seconds to wait before re-reading after a 2xx whose body broke the contract (a
        proxy's page, a truncated body), or ``None`` to give up. Never for a submit."""
        if safety is Safety.SUBMIT:
            return None
        return self._admit(self.backoff(spent.retries), spent)

    def _admit(self, delay: float, spent: Spent) -> float | None:
        if spent.retries >= self.max_retries:
            return None
        if spent.slept + delay > self.budget:
            return None
        if spent.remaining is not None and delay >= spent.remaining:
            return None
        return delay


@dataclass(frozen=True)
class PollPolicy:
    """Polling of ``/status`` when server long-poll is off, unavailable, or too long for
    what remains of a deadline.

    The interval starts at ``initial``, grows by ``factor`` up to ``maximum``, with ``jitter``
    (a fraction taken off at random) so many waiters do not poll in step.
    """

    initial: float = 0.25
    factor: float = 1.5
    maximum: float = 5.0
    jitter: float = 0.2
    rng: Callable[[], float] = field(default=random.random, repr=False, compare=False)

    def interval(self, index: int) -> float:
        return jittered_backoff(
            index, self.initial, self.factor, self.maximum, self.jitter, self.rng
        )
