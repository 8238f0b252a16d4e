"""The operations, written once as generators of effects (see ``_effects``).

A driver (``_drivers``) runs an operation by performing each effect it yields — an HTTP
request, a sleep, a chunk for the caller — and sending the outcome back in. Nothing here does
I/O or reads the clock except through ``Deadline``, so it is the same code for sync and async.
"""

from __future__ import annotations

import logging
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from . import _wire
from ._constants import LONG_POLL_WAIT_MS, MIN_WAIT_MS
from ._deadline import Deadline
from ._effects import Emit, Operation, Send, Sleep, TransportFailure
from ._errors import (
    APIConnectionError,
    APIError,
    APIResponseValidationError,
    APITimeoutError,
    JobCancelled,
    JobFailed,
    JobTimedOut,
    RunpodError,
    StreamIdleTimeout,
    WaitTimeout,
)
from ._logging import redact
from ._retry import Delivery, RetryPolicy, Spent, jittered_backoff
from ._status import JobStatus, is_terminal
from ._types import Health, JobState, PurgeResult
from ._wire import ApiRequest, ApiResponse

logger = logging.getLogger("runpod_facade")

__all__ = ["EndpointCore", "PollPolicy", "StreamProgress"]

T = TypeVar("T")

# Hold of one /stream long-poll. Short enough that idle and total deadlines act promptly.
_STREAM_HOLD = 10.0
# A long-poll stops this long before the deadline so its reply can arrive in time.
_REPLY_GRACE = 0.5
# Cancelling on the caller's behalf gets its own short deadline.
_CANCEL_TIMEOUT = 10.0


@dataclass(frozen=True)
class PollPolicy:
    """Polling of ``/status`` when server long-poll is off or unavailable.

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


@dataclass
class StreamProgress:
    """What a stream has seen so far; readable while and after iterating."""

    job_id: str
    status: JobStatus | str | None = None
    chunks: int = 0
    state: JobState | None = None


def _check_terminal(state: JobState) -> JobState:
    """Return a COMPLETED state; raise the matching JobError for the other terminal states."""
    if state.status == JobStatus.FAILED:
        raise JobFailed(state)
    if state.status == JobStatus.CANCELLED:
        raise JobCancelled(state)
    if state.status == JobStatus.TIMED_OUT:
        raise JobTimedOut(state)
    return state


def _wait_ms(seconds: float) -> int:
    return max(MIN_WAIT_MS, min(LONG_POLL_WAIT_MS, math.floor(seconds * 1000)))


class EndpointCore:
    """Every operation of one endpoint, as effect generators."""

    def __init__(
        self,
        endpoint_id: str,
        *,
        retry: RetryPolicy,
        poll: PollPolicy,
        long_poll: bool = True,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.endpoint_id = endpoint_id
        self.retry = retry
        self.poll = poll
        self.long_poll = long_poll
        self.clock = clock
        # Set when /status-sync turned out not to exist (404/405 on a job /status knows).
        self.long_poll_unavailable = False

    def deadline(self, timeout: float | None) -> Deadline:
        return Deadline(timeout, clock=self.clock)

    # --- one request, with retries --------------------------------------------------------

    def call(
        self,
        request: ApiRequest,
        parse: Callable[[ApiResponse, ApiRequest], T],
        deadline: Deadline | None = None,
    ) -> Operation[T]:
        """Send ``request`` until a 2xx reply parses, retrying what is safe to retry; raise
        the typed error otherwise. A read whose 2xx body is unusable (a proxy's HTML page, a
        truncated body) is retried like a 5xx; a submit's never is: its job exists."""
        retries = 0
        slept = 0.0
        while True:
            cap = None if deadline is None else deadline.remaining()
            outcome: ApiResponse | TransportFailure = yield Send(request, cap=cap, attempt=retries)
            spent = Spent(retries, slept, None if deadline is None else deadline.remaining())
            error: RunpodError
            if isinstance(outcome, TransportFailure):
                delay = self.retry.delay_for_transport_error(
                    outcome.delivery, request.safety, spent
                )
                error, why = self._transport_error(request, outcome), outcome.message
            elif 200 <= outcome.status_code < 300:
                try:
                    return parse(outcome, request)
                except APIResponseValidationError as exc:
                    delay = self.retry.delay_for_unusable_reply(request.safety, spent)
                    error, why = exc, "unusable reply body"
            else:
                delay = self.retry.delay_for_status(
                    outcome.status_code, outcome.headers, request.safety, spent
                )
                error = _wire.error_from_response(outcome, request)
                why = f"HTTP {outcome.status_code}"
            if delay is None:
                raise error
            logger.info(
                "%s: %s; retrying in %.2fs (retry %d)", request.operation, why, delay, retries + 1
            )
            yield Sleep(delay)
            slept += delay
            retries += 1

    @staticmethod
    def _transport_error(request: ApiRequest, failure: TransportFailure) -> APIConnectionError:
        sent = failure.delivery is not Delivery.NOT_SENT
        message = redact(failure.message)
        if request.operation in ("run", "runsync") and sent:
            message += (
                "; the request may have reached the server, so it was not re-sent "
                "(a job may have been created, but no job id came back)"
            )
        cls = APITimeoutError if failure.timeout else APIConnectionError
        return cls(message, operation=request.operation, job_id=request.job_id, request_sent=sent)

    # --- simple operations ---------------------------------------------------------------

    def run(self, body: Any) -> Operation[JobState]:
        return self.submit(self.run_request(body))

    def run_request(self, body: Any) -> ApiRequest:
        """The encoded, size-checked ``/run`` request for ``body`` (raises before any I/O)."""
        return _wire.run_request(self.endpoint_id, body)

    def submit(self, request: ApiRequest) -> Operation[JobState]:
        return (yield from self.call(request, _wire.parse_submitted))

    def status(self, job_id: str, *, ttl_ms: int | None = None) -> Operation[JobState]:
        request = _wire.status_request(self.endpoint_id, job_id, ttl_ms=ttl_ms)
        return (yield from self.call(request, _wire.parse_job))

    def cancel(self, job_id: str) -> Operation[JobState]:
        request = _wire.cancel_request(self.endpoint_id, job_id)
        return (yield from self.call(request, _wire.parse_job))

    def retry_job(self, job_id: str) -> Operation[JobState]:
        request = _wire.retry_request(self.endpoint_id, job_id)
        return (yield from self.call(request, _wire.parse_submitted))

    def health(self) -> Operation[Health]:
        request = _wire.health_request(self.endpoint_id)
        return (yield from self.call(request, _wire.parse_health))

    def purge_queue(self) -> Operation[PurgeResult]:
        request = _wire.purge_request(self.endpoint_id)
        return (yield from self.call(request, _wire.parse_purge))

    # --- waiting --------------------------------------------------------------------------

    def run_sync(
        self,
        body: Any,
        *,
        timeout: float | None,
        cancel_on_timeout: bool,
        on_state: Callable[[JobState], None] | None = None,
        retry_failed: int = 0,
    ) -> Operation[JobState]:
        """``/runsync?wait=`` first, then :meth:`wait` on what is left of the deadline."""
        deadline = self.deadline(timeout)
        hold = deadline.cap(LONG_POLL_WAIT_MS / 1000) - _REPLY_GRACE
        wait_ms = _wait_ms(max(hold, 0.0))
        # Sent even with a tiny deadline: the job must exist before there is anything to wait on.
        # The server holds at least 1 s, so a timeout under ~1.5 s can overrun by that much.
        request = _wire.runsync_request(
            self.endpoint_id,
            body,
            wait_ms=wait_ms,
        )
        # The deadline bounds connecting and queueing for a connection, not the reply: the
        # drivers never cut a submit's read short, since the reply carries the job id.
        state = yield from self.call(request, _wire.parse_job, deadline)
        if on_state is not None:
            on_state(state)
        settle = self._settle(state.id, deadline, state, cancel_on_timeout, on_state, retry_failed)
        return (yield from settle)

    def wait(
        self,
        job_id: str,
        *,
        timeout: float | None,
        cancel_on_timeout: bool,
        on_state: Callable[[JobState], None] | None = None,
        retry_failed: int = 0,
    ) -> Operation[JobState]:
        """Wait until the job is terminal; return it if COMPLETED, raise JobError otherwise."""
        return (
            yield from self._settle(
                job_id, self.deadline(timeout), None, cancel_on_timeout, on_state, retry_failed
            )
        )

    def _settle(
        self,
        job_id: str,
        deadline: Deadline,
        known: JobState | None,
        cancel_on_timeout: bool,
        on_state: Callable[[JobState], None] | None,
        retry_failed: int,
    ) -> Operation[JobState]:
        """Wait for the end; on FAILED/TIMED_OUT requeue with ``/retry`` up to ``retry_failed``
        times within the same deadline. The error raised at last lists every attempt."""
        attempts: list[JobState] = []
        while True:
            try:
                if known is not None and known.is_terminal:
                    return _check_terminal(known)
                return (yield from self._wait(job_id, deadline, known, cancel_on_timeout, on_state))
            except (JobFailed, JobTimedOut) as exc:
                attempts.append(exc.state)
                exc.attempts = tuple(attempts)
                if len(attempts) > retry_failed or deadline.expired():
                    raise
                logger.info(
                    "job %s ended %s; requeueing it (retry %d of %d)",
                    job_id,
                    exc.state.status,
                    len(attempts),
                    retry_failed,
                )
                try:
                    known = yield from self.retry_job(job_id)
                except APIError as retry_error:
                    raise exc from retry_error

    def _wait(
        self,
        job_id: str,
        deadline: Deadline,
        last: JobState | None,
        cancel_on_timeout: bool,
        on_state: Callable[[JobState], None] | None = None,
    ) -> Operation[JobState]:
        polls = 0
        while not deadline.expired():
            try:
                state, polled = yield from self._next_state(job_id, deadline)
            except APIConnectionError:
                if deadline.expired():
                    break
                raise
            last = state
            if on_state is not None:
                on_state(state)
            if state.is_terminal:
                return _check_terminal(state)
            if polled:
                yield Sleep(deadline.cap(self.poll.interval(polls)))
                polls += 1
        cancelled = False
        if cancel_on_timeout:
            cancelled = yield from self._cancel_quietly(job_id)
        raise WaitTimeout(job_id, timeout=deadline.timeout, last_state=last, cancelled=cancelled)

    def _next_state(self, job_id: str, deadline: Deadline) -> Operation[tuple[JobState, bool]]:
        """One step of waiting: a long-poll when possible, else one ``/status`` poll.
        Returns the state and whether the caller should sleep before the next step."""
        hold = deadline.cap(LONG_POLL_WAIT_MS / 1000) - _REPLY_GRACE
        if self.long_poll and not self.long_poll_unavailable and hold >= MIN_WAIT_MS / 1000:
            wait_ms = _wait_ms(hold)
            request = _wire.status_sync_request(
                self.endpoint_id,
                job_id,
                wait_ms=wait_ms,
            )
            started = self.clock()
            try:
                state = yield from self.call(request, _wire.parse_job, deadline)
            except APIError as exc:
                if exc.status_code not in (404, 405):
                    raise
                # Either the route is gone or the job is: /status tells which.
                state = yield from self.status(job_id)
                self.long_poll_unavailable = True
                logger.info("/status-sync unavailable (HTTP %d); polling /status", exc.status_code)
                return state, True
            # A server that did not hold the poll must not be hammered: treat it as a poll.
            return state, self.clock() - started < 0.05
        request = _wire.status_request(self.endpoint_id, job_id)
        return (yield from self.call(request, _wire.parse_job, deadline)), True

    def _cancel_quietly(self, job_id: str) -> Operation[bool]:
        try:
            request = _wire.cancel_request(self.endpoint_id, job_id)
            yield from self.call(request, _wire.parse_job, self.deadline(_CANCEL_TIMEOUT))
        except RunpodError as exc:
            logger.warning("could not cancel job %s: %s", job_id, exc)
            return False
        return True

    # --- streaming ------------------------------------------------------------------------

    def stream(
        self,
        job_id: str,
        *,
        timeout: float | None,
        idle_timeout: float | None,
        progress: StreamProgress,
    ) -> Operation[None]:
        """Emit each chunk's output until the job is terminal.

        Ends on COMPLETED and CANCELLED; raises JobFailed / JobTimedOut with the job's state,
        WaitTimeout when ``timeout`` passes and StreamIdleTimeout when no chunk arrives for
        ``idle_timeout`` seconds. Each /stream call drains what the server buffered, so a reply
        lost in transit loses its chunks: retries cannot bring them back.
        """
        deadline = self.deadline(timeout)
        idle = self.deadline(idle_timeout)
        quiet_polls = 0
        while True:
            hold = (
                min(_STREAM_HOLD, deadline.cap(_STREAM_HOLD), idle.cap(_STREAM_HOLD)) - _REPLY_GRACE
            )
            wait_ms = _wait_ms(max(hold, 0.0))
            request = _wire.stream_request(
                self.endpoint_id,
                job_id,
                wait_ms=wait_ms,
            )
            started = self.clock()
            try:
                batch = yield from self.call(request, _wire.parse_stream, deadline)
            except APIConnectionError:
                if deadline.expired():
                    raise WaitTimeout(job_id, timeout=timeout, last_state=progress.state) from None
                raise
            progress.status = batch.status
            for output in batch.outputs:
                progress.chunks += 1
                yield Emit(output)
            if batch.outputs:
                idle = self.deadline(idle_timeout)
                quiet_polls = 0
            if is_terminal(batch.status):
                yield from self._finish_stream(job_id, batch, progress)
                return
            if deadline.expired():
                raise WaitTimeout(
                    job_id, timeout=timeout, last_state=progress.state, reason="stream did not end"
                )
            if idle.expired():
                raise StreamIdleTimeout(
                    job_id, timeout=idle_timeout, last_state=progress.state, reason="sent no chunk"
                )
            if not batch.outputs and self.clock() - started < 0.05:
                # The server did not hold the empty poll: back off instead of spinning.
                yield Sleep(deadline.cap(idle.cap(self.poll.interval(quiet_polls))))
                quiet_polls += 1

    def _finish_stream(
        self, job_id: str, batch: _wire.StreamBatch, progress: StreamProgress
    ) -> Operation[None]:
        if batch.status in (JobStatus.FAILED, JobStatus.TIMED_OUT):
            state: JobState | None = None
            if batch.error is None:
                try:  # the stream reply may not carry the error: /status has the full story
                    state = yield from self.status(job_id)
                except RunpodError:
                    state = None
            if state is None or not state.is_terminal:
                state = JobState(id=job_id, status=batch.status, error=batch.error, raw=batch.raw)
            progress.state = state
            _check_terminal(state)
        progress.state = JobState(id=job_id, status=batch.status, raw=batch.raw)
