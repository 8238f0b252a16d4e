"""The sans-IO decisions of a load-balancing call, shared by the sync and async clients.

No I/O and no sleeping here: the clients report what happened (a reply's status, a transport
error) and are told what to do next (return, raise, or send again after a delay), against one
deadline (the core's ``Deadline``) on an injectable clock, so every rule is tested with a
fake clock. The rules (cold starts, maybe-processed requests, connections never made) are
those of ``docs/load-balancing.md``; :class:`Attempts` states the details.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum

from .._core.deadline import Deadline
from .._core.retry import jittered_backoff
from .._exceptions import InvalidInputError

__all__ = [
    "IDEMPOTENT_METHODS",
    "MAX_PAYLOAD_BYTES",
    "Action",
    "Attempts",
    "Decision",
    "Failure",
    "LBRetryPolicy",
    "ReadyPoll",
    "classify",
    "is_repeatable",
]

#: Request and response limit of a load-balancing endpoint: overview.mdx's "30 MB", read as
#: 30 MiB so that no body the platform takes is refused here.
MAX_PAYLOAD_BYTES = 30 * 1024 * 1024
#: Methods RFC 9110 defines as idempotent: sent again after a lost reply by default.
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
# The platform's error bodies are short JSON; longer bodies are a worker's.
CLASSIFY_BODY_LIMIT = 4096
# A cold-start resend must leave room for its refusal to take this much longer than the
# slowest one so far (a share, plus seconds): a loaded host or network stretches them.
REFUSAL_HEADROOM = (0.25, 0.05)


class Failure(Enum):
    """A reply that came from the router, not from a worker."""

    NO_WORKERS = "no_workers"  # 400 "no workers available"
    UNREACHABLE = "unreachable"  # 502: the worker's port could not be reached
    PROCESSING_TIMEOUT = "processing_timeout"  # 524
    WORKER_GONE = "affinity_worker_gone"  # 404 (strict affinity)
    WORKER_TIMEOUT = "worker_timeout"  # 400 (strict affinity)
    AUTH = "auth"  # 401/403 from the router (no worker named), raised as the status says
    TOO_LARGE = "too_large"  # 413 from the router

    @property
    def reached_no_worker(self) -> bool:
        """True when no worker can have seen the request (cold-start retries)."""
        return self in (Failure.NO_WORKERS, Failure.UNREACHABLE)


def classify(status: int, body: bytes, *, has_worker_id: bool) -> Failure | None:
    """Which platform failure a reply is, or ``None`` for a worker's own reply.

    ``body`` needs only its first :data:`CLASSIFY_BODY_LIMIT` bytes; it is read only for 400
    and 404, whose platform forms are told apart from a worker's by their reason text.
    """
    if status == 502:
        return Failure.UNREACHABLE
    if status == 524:
        return Failure.PROCESSING_TIMEOUT
    if status in (400, 404):
        text = body[:CLASSIFY_BODY_LIMIT].decode("utf-8", "replace").lower()
        if status == 404:
            return Failure.WORKER_GONE if "affinity_worker_gone" in text else None
        if "no workers available" in text:
            return Failure.NO_WORKERS
        if "worker_timeout" in text or "timed out waiting for worker" in text:
            return Failure.WORKER_TIMEOUT
        return None
    if not has_worker_id and status in (401, 403):
        return Failure.AUTH
    if not has_worker_id and status == 413:
        return Failure.TOO_LARGE
    return None


def is_repeatable(method: str, idempotent: bool | None) -> bool:
    """May this request be sent again after it may have reached a worker?"""
    return method in IDEMPOTENT_METHODS if idempotent is None else idempotent


def _worker_retryable(status: int) -> bool:
    return status == 429 or status >= 500


@dataclass(frozen=True)
class LBRetryPolicy:
    """Retry and polling settings of a load-balancing client.

    Args:
        max_retries: resends of a request that may have reached a worker (and of one whose
            connection failed), per call; cold-start resends are bounded by the deadline.
        initial_delay: first backoff in seconds, doubled on each resend, up to ``max_delay``.
        jitter: fraction of each delay taken off at random, so clients do not retry in step.
        ready_interval: ``/ping`` interval while a worker answers 204 (initializing): short,
            so ``wait_ready`` returns within a few tens of ms of the worker turning healthy.
        min_attempt_timeout: the shortest timeout an attempt gets however little is left.
    """

    max_retries: int = 3
    initial_delay: float = 0.1
    max_delay: float = 5.0
    jitter: float = 0.25
    ready_interval: float = 0.025
    min_attempt_timeout: float = 0.05
    rng: Callable[[], float] = field(default=random.random, repr=False, compare=False)

    def __post_init__(self) -> None:
        if isinstance(self.max_retries, bool) or not isinstance(self.max_retries, int):
            raise InvalidInputError(f"max_retries must be an int, got {self.max_retries!r}")
        if self.max_retries < 0:
            raise InvalidInputError(f"max_retries must be >= 0, got {self.max_retries}")
        for name in ("initial_delay", "max_delay", "ready_interval", "min_attempt_timeout"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
                raise InvalidInputError(f"{name} must be a positive number, got {value!r}")
        if not 0.0 <= self.jitter < 1.0:
            raise InvalidInputError(f"jitter must be within [0, 1), got {self.jitter!r}")

    def backoff(self, index: int) -> float:
        """``initial_delay * 2**index`` capped at ``max_delay``, less a random jitter share."""
        return jittered_backoff(
            index, self.initial_delay, 2.0, self.max_delay, self.jitter, self.rng
        )


class Action(Enum):
    RETURN = "return"  # hand the reply to the caller
    RETRY = "retry"  # send again after ``delay``
    RAISE = "raise"  # raise the platform error (or the transport error)
    TIMEOUT = "timeout"  # the deadline has passed: raise the SDK's timeout error


@dataclass(frozen=True, slots=True)
class Decision:
    action: Action
    delay: float = 0.0
    failure: Failure | None = None


class _Timed:
    """Attempts against one deadline, each given what is left of it."""

    def __init__(self, policy: LBRetryPolicy, deadline: Deadline) -> None:
        self.policy = policy
        self.deadline = deadline

    def attempt_timeout(self) -> float | None:
        """Seconds the next attempt may take (what is left of the deadline), or ``None``."""
        left = self.deadline.remaining()
        return None if left is None else max(left, self.policy.min_attempt_timeout)


class Attempts(_Timed):
    """The attempts of one request, and what follows each outcome.

    A cold start (no worker saw the request) is resent whatever the method while the deadline
    leaves room for the backoff and a refusal slower than the slowest so far by
    :data:`REFUSAL_HEADROOM` (without a deadline, ``max_retries`` times); a request that may
    have reached a worker only when ``repeatable``, at most ``max_retries`` times; a
    connection never made within ``max_retries``. The platform's affinity errors are raised
    at once; any other reply is the worker's and is returned.
    """

    def __init__(self, policy: LBRetryPolicy, deadline: Deadline, *, repeatable: bool) -> None:
        super().__init__(policy, deadline)
        self.repeatable = repeatable
        self.sent = 0  # attempts made so far
        self.cold_starts = 0  # resends because no worker saw the request
        self.resends = 0  # resends counted against max_retries
        self._started: float | None = None  # when the current attempt was sent
        self._slowest_refusal = 0.0  # seconds the router took to refuse, at most

    def start(self) -> None:
        self.sent += 1
        self._started = self.deadline.now()

    def on_reply(self, status: int, failure: Failure | None) -> Decision:
        """After an HTTP reply with ``status``, classified as ``failure`` (or a worker's)."""
        if failure is not None:
            if failure.reached_no_worker:
                return self._cold_start(failure)
            if failure is Failure.PROCESSING_TIMEOUT and self.repeatable:
                return self._resend(failure, Action.RAISE)
            return Decision(Action.RAISE, failure=failure)
        if _worker_retryable(status) and self.repeatable:
            return self._resend(None, Action.RETURN)
        return Decision(Action.RETURN)

    def on_transport_error(self, *, sent: bool, timed_out: bool) -> Decision:
        """After no HTTP reply: ``sent`` is False when the request provably never left."""
        if timed_out and self.deadline.expired():
            return Decision(Action.TIMEOUT)
        if sent and not self.repeatable:
            return Decision(Action.TIMEOUT if timed_out else Action.RAISE)
        return self._resend(None, Action.TIMEOUT if timed_out else Action.RAISE)

    def _cold_start(self, failure: Failure) -> Decision:
        left = self.deadline.remaining()
        if left is None and self.cold_starts >= self.policy.max_retries:
            return Decision(Action.RAISE, failure=failure)
        delay = self.policy.backoff(self.cold_starts)
        # A resend that cannot get as long as the router took to refuse, and some more, would
        # most likely end in a timeout, which says less than the refusal. Without the headroom
        # the same endpoint raised one or the other by a few ms of scheduling.
        if self._started is not None:
            took = self.deadline.now() - self._started
            self._slowest_refusal = max(self._slowest_refusal, took)
        share, seconds = REFUSAL_HEADROOM
        needed = delay + self._slowest_refusal * (1 + share) + seconds
        if left is not None and needed >= left:
            return Decision(Action.RAISE, failure=failure)
        self.cold_starts += 1
        return Decision(Action.RETRY, delay, failure)

    def _resend(self, failure: Failure | None, otherwise: Action) -> Decision:
        if self.resends >= self.policy.max_retries:
            return Decision(otherwise, failure=failure)
        delay = self.policy.backoff(self.resends)
        left = self.deadline.remaining()
        if left is not None and delay >= left:
            return Decision(otherwise, failure=failure)
        self.resends += 1
        return Decision(Action.RETRY, delay, failure)


class ReadyPoll(_Timed):
    """``wait_ready``: poll ``/ping`` until 200. 204 (a worker initializing) polls again after
    ``ready_interval``; no worker, 502, another status or no reply back off; 401/403 raise."""

    def __init__(self, policy: LBRetryPolicy, deadline: Deadline) -> None:
        super().__init__(policy, deadline)
        self.polls = 0
        self._misses = 0
        self.last_status: int | None = None

    def on_reply(self, status: int, failure: Failure | None) -> Decision:
        self.polls += 1
        self.last_status = status
        if status == 200 and failure is None:
            return Decision(Action.RETURN)
        if failure is Failure.AUTH:
            return Decision(Action.RAISE, failure=failure)
        if status == 204:
            self._misses = 0
            return self._after(self.policy.ready_interval)
        self._misses += 1
        return self._after(self.policy.backoff(self._misses - 1))

    def on_transport_error(self) -> Decision:
        self.polls += 1
        self.last_status = None
        self._misses += 1
        return self._after(self.policy.backoff(self._misses - 1))

    def _after(self, delay: float) -> Decision:
        left = self.deadline.remaining()
        if left is None:
            return Decision(Action.RETRY, delay)
        if left <= 0.0:
            return Decision(Action.TIMEOUT)
        # Sleep no longer than what is left, and poll once more at the deadline.
        return Decision(Action.RETRY, min(delay, left))
