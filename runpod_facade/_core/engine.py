"""One endpoint's requests and their retries (:meth:`EndpointCore.call`), on which ``waiting``
and ``streaming`` build. No I/O, and no clock but ``Deadline``'s: the same code serves sync and
async, and tests drive it with scripted replies and a fake clock."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import KW_ONLY, dataclass, field, replace
from typing import Any

from .._exceptions import (
    APIConnectionError,
    APIResponseValidationError,
    APITimeoutError,
    RunpodError,
)
from .._logging import redact
from .._transports.base import ApiRequest, ApiResponse, Delivery, Timeouts, TransportFailure
from .._types import Health, JobState, PurgeResult
from .._wire.errors import error_from_response, job_in_error_reply
from .._wire.replies import parse_reply
from .._wire.requests import JobBody, build_request, route
from .deadline import Deadline, effective_timeouts
from .effects import UNLIMITED, Operation, Send, Sleep
from .pacing import Pacer
from .retry import PollPolicy, RetryPolicy, Spent

logger = logging.getLogger("runpod_facade")

__all__ = ["CANCEL_TIMEOUT", "DeadlineReached", "EndpointCore"]

#: A cancel sent on the caller's behalf (timeout, interrupt, fail-fast) gets its own deadline.
CANCEL_TIMEOUT = 10.0


class DeadlineReached(Exception):
    """Internal: a request failed and would have been retried, but the caller's deadline
    comes first. ``error`` is what failed; waits turn this into their WaitTimeout."""

    def __init__(self, error: RunpodError) -> None:
        super().__init__(str(error))
        self.error = error


@dataclass(eq=False)
class EndpointCore:
    """The requests of one endpoint: building, sending with retries, parsing."""

    endpoint_id: str
    _: KW_ONLY
    retry: RetryPolicy
    poll: PollPolicy
    #: The client's per-phase timeouts; each request's own are decided from them in call().
    timeouts: Timeouts = UNLIMITED
    long_poll: bool = True
    clock: Callable[[], float] = time.monotonic
    #: Per-route pacing shared by every call of this client (``None``: not paced).
    pacer: Pacer | None = None
    #: Set when /status-sync turned out not to exist (404/405 on a job /status knows).
    long_poll_unavailable: bool = field(default=False, init=False)

    def deadline(self, timeout: float | None) -> Deadline:
        return Deadline(timeout, clock=self.clock)

    def request(
        self,
        operation: str,
        *,
        job_id: str | None = None,
        body: JobBody | None = None,
        wait_ms: int | None = None,
        **query: int | None,
    ) -> ApiRequest:
        """The request for ``operation`` on this endpoint (see ``build_request``)."""
        if query:
            return build_request(
                operation, self.endpoint_id, job_id=job_id, body=body, wait_ms=wait_ms, **query
            )
        # The usual request, straight from its route (made once per operation).
        return route(operation, self.endpoint_id).request(job_id, body, wait_ms)

    def call(
        self,
        request: ApiRequest,
        deadline: Deadline | None = None,
        *,
        floor: float = 0.0,
        refit: Callable[[], ApiRequest] | None = None,
    ) -> Operation[Any]:
        """Send ``request`` until a 2xx reply parses, retrying what is safe to retry; return the
        parsed reply or raise the typed error.

        A read whose 2xx body is unusable (a proxy's HTML page, a truncated body) is retried
        like a 5xx; a submit's never is: its job exists. An error reply whose body is a
        terminal job (``/runsync``'s HTTP 400 with the FAILED job) is that job's state.
        With a ``deadline``, every request is capped by what remains of it (but never below
        ``floor`` seconds), and an error that would have been retried after the deadline
        raises :class:`DeadlineReached`. ``refit`` rebuilds the request before each retry —
        a long-poll's hold must shrink with the deadline, or its reply would come too late.
        """
        retries = 0
        slept = 0.0
        pacer = self.pacer
        while True:
            if pacer is not None:
                sent_at = self.clock()
                record = pacer.unpaced.get(request.operation)
                if record is not None:
                    record(sent_at)  # not paced: the send is only counted
                else:
                    # Wait for this route's next slot, then until its window has room.
                    wait = pacer.reserve_and_admit(request.operation, sent_at, retry=retries > 0)
                    while wait > 0:
                        yield Sleep(wait)
                        sent_at = self.clock()
                        wait = pacer.admit(request.operation, sent_at)
            # A deadline without a limit (`timeout=None`) caps nothing: no need to ask it.
            remaining = (
                None if deadline is None or deadline.timeout is None else deadline.remaining()
            )
            cap = None if remaining is None else max(remaining, floor)
            # Without a cap or a hold, the client's own timeouts as they are (effective_timeouts'
            # first case, without its call).
            timeouts = (
                self.timeouts
                if cap is None and request.hold is None
                else effective_timeouts(self.timeouts, request, cap)
            )
            outcome: ApiResponse | TransportFailure = yield Send(request, cap, retries, timeouts)
            if pacer is not None and isinstance(outcome, ApiResponse):
                pacer.observe(
                    request.operation, sent_at, self.clock(), outcome.status_code, outcome.headers
                )
            error: RunpodError
            if isinstance(outcome, TransportFailure):
                error, why = self._transport_error(request, outcome), outcome.message
            elif 200 <= outcome.status_code < 300:
                try:
                    return parse_reply(outcome, request)
                except APIResponseValidationError as exc:
                    error, why = exc, "unusable reply body"
            else:
                job = job_in_error_reply(outcome, request)
                if job is not None:
                    return job
                error = error_from_response(outcome, request)
                why = f"HTTP {outcome.status_code}"
            spent = Spent(retries, slept, None if deadline is None else deadline.remaining())
            delay = self._retry_delay(outcome, request, spent)
            if delay is None:
                unbounded = replace(spent, remaining=None)
                retryable = self._retry_delay(outcome, request, unbounded) is not None
                if spent.remaining is not None and retryable:
                    raise DeadlineReached(error) from error
                raise error
            logger.info(
                "%s: %s; retrying in %.2fs (retry %d)", request.operation, why, delay, retries + 1
            )
            yield Sleep(delay)
            slept += delay
            retries += 1
            if refit is not None:
                request = refit()

    def _retry_delay(
        self, outcome: ApiResponse | TransportFailure, request: ApiRequest, spent: Spent
    ) -> float | None:
        """Seconds to wait before sending ``request`` again after ``outcome``, or ``None``."""
        if isinstance(outcome, TransportFailure):
            return self.retry.delay_for_transport_error(outcome.delivery, request.safety, spent)
        if 200 <= outcome.status_code < 300:
            return self.retry.delay_for_unusable_reply(request.safety, spent)
        return self.retry.delay_for_status(
            outcome.status_code, outcome.headers, request.safety, spent
        )

    @staticmethod
    def _transport_error(request: ApiRequest, failure: TransportFailure) -> APIConnectionError:
        sent = failure.delivery is not Delivery.NOT_SENT
        message = redact(failure.message)
        if request.reply in ("Job", "JobSubmitted") and request.job_id is None and sent:
            message += (
                "; the request may have reached the server, so it was not re-sent "
                "(a job may have been created, but no job id came back)"
            )
        cls = APITimeoutError if failure.timeout else APIConnectionError
        return cls(message, operation=request.operation, job_id=request.job_id, request_sent=sent)

    def perform(
        self, operation: str, deadline: Deadline | None = None, **args: Any
    ) -> Operation[Any]:
        """Build and :meth:`call` one operation. Not a generator itself: it hands back
        ``call``'s, one layer less per request (and bad arguments raise here, at once)."""
        return self.call(self.request(operation, **args), deadline)

    def cancel_quietly(self, job_id: str) -> Operation[JobState | None]:
        """Cancel on the caller's behalf, within :data:`CANCEL_TIMEOUT`: the job's state as the
        cancel reply reports it, or ``None`` (logged) if the cancel failed. Used after a
        timeout, an interrupt or a failed batch."""
        try:
            state: JobState = yield from self.perform(
                "cancel", self.deadline(CANCEL_TIMEOUT), job_id=job_id
            )
        except (RunpodError, DeadlineReached) as exc:
            logger.warning("could not cancel job %s: %s", job_id, exc)
            return None
        return state

    def run(self, body: JobBody) -> Operation[JobState]:
        return self.call(route("run", self.endpoint_id).request(None, body, None))

    def status(self, job_id: str, *, ttl_ms: int | None = None) -> Operation[JobState]:
        return self.perform("status", job_id=job_id, ttl=ttl_ms)

    def cancel(self, job_id: str) -> Operation[JobState]:
        return self.perform("cancel", job_id=job_id)

    def retry_job(self, job_id: str) -> Operation[JobState]:
        return self.perform("retry", job_id=job_id)

    def health(self) -> Operation[Health]:
        return self.perform("health")

    def purge_queue(self) -> Operation[PurgeResult]:
        return self.perform("purge-queue")
