"""Waiting for a job to end, under one deadline: ``wait`` and ``run_sync``.

The deadline is the caller's, not the server's: long-polls (``/status-sync?wait=``) are used
while enough time remains for the server's 1 s minimum hold, and plain ``/status`` polls,
each capped by the deadline, below that — so a deadline of 0.2 s ends at 0.2 s, not at the
end of a hold. ``timeout=0`` looks once. A 429 or an outage that outlasts the deadline ends
as the deadline's :class:`WaitTimeout`, with the job id and the failure as its cause.
"""

from __future__ import annotations

import functools
import logging
import math
from collections.abc import Callable

from .._constants import LONG_POLL_WAIT_MS, MIN_WAIT_MS
from .._exceptions import (
    APIConnectionError,
    APIStatusError,
    JobCancelled,
    JobFailed,
    JobTimedOut,
    RunpodError,
    WaitTimeout,
)
from .._status import TERMINAL_STATUSES, JobStatus
from .._transports.base import ApiRequest
from .._types import JobState
from .._wire.requests import JobBody, route
from .deadline import Deadline
from .effects import Operation, Sleep
from .engine import DeadlineReached, EndpointCore
from .interrupts import JobTracker, interruptible, on_interrupt

logger = logging.getLogger("runpod_facade")

__all__ = [
    "LOOK_FLOOR",
    "NOT_HELD",
    "REPLY_GRACE",
    "check_terminal",
    "hold_for",
    "run_sync",
    "settle",
    "submit_request",
    "wait",
    "wait_ms",
]

#: A long-poll's hold ends this long before the deadline, so its reply arrives in time.
REPLY_GRACE = 0.5
#: The first look of a wait gets at least this long, however little remains of the deadline:
#: ``timeout=0`` means "look once", and one look is one complete request.
LOOK_FLOOR = 1.0
#: A long-poll answered faster than this was not held: back off as after a poll.
NOT_HELD = 0.05

OnState = Callable[[JobState], None]


def check_terminal(state: JobState) -> JobState:
    """Return a COMPLETED state; raise the matching JobError for the other terminal states."""
    if state.status == JobStatus.FAILED:
        raise JobFailed(state)
    if state.status == JobStatus.CANCELLED:
        raise JobCancelled(state)
    if state.status == JobStatus.TIMED_OUT:
        raise JobTimedOut(state)
    return state


def hold_for(deadline: Deadline, longest: float = LONG_POLL_WAIT_MS / 1000) -> float | None:
    """Seconds the server may hold a long-poll so its reply lands before the deadline, or
    ``None`` when less than the server's minimum hold fits."""
    remaining = deadline.remaining()
    hold = longest if remaining is None else min(longest, remaining - REPLY_GRACE)
    return hold if hold >= MIN_WAIT_MS / 1000 else None


def wait_ms(seconds: float) -> int:
    """A hold in whole milliseconds, as the ``wait`` parameter takes it."""
    return max(MIN_WAIT_MS, math.floor(seconds * 1000))


def wait(
    core: EndpointCore,
    job_id: str,
    *,
    timeout: float | None,
    cancel_on_timeout: bool = False,
    cancel_on_interrupt: bool = False,
    on_state: OnState | None = None,
    retry_failed: int = 0,
) -> Operation[JobState]:
    """Wait until the job is terminal; return it if COMPLETED, raise JobError otherwise."""
    deadline = Deadline(timeout, clock=core.clock)  # core.deadline's, without its call
    state: JobState | None = None
    try:
        if retry_failed == 0:
            # settle's usual case, one generator less: waited for, then COMPLETED. An end
            # other than that is settle's to raise (with its attempts), as a known state.
            state = yield from _wait(core, job_id, deadline, None, cancel_on_timeout, on_state)
            if state.status is JobStatus.COMPLETED:
                return state
        return (
            yield from settle(
                core, job_id, deadline, state, cancel_on_timeout, on_state, retry_failed, None
            )
        )
    except BaseException as exc:  # as `interruptible` does, without its generator
        # Wherever an interrupt finds this wait, its one job has not ended (settle returns or
        # raises as soon as it has): the tracker is made only now.
        yield from on_interrupt(core, exc, JobTracker(job_id), cancel=cancel_on_interrupt)
        raise


def run_sync(
    core: EndpointCore,
    body: JobBody,
    *,
    timeout: float | None,
    cancel_on_timeout: bool = False,
    cancel_on_interrupt: bool = False,
    on_state: OnState | None = None,
    retry_failed: int = 0,
) -> Operation[JobState]:
    """Submit and wait under one deadline. ``/runsync?wait=`` holds until the job ends (one
    request for a short job) but hands out the id only with its reply, so when the id is needed
    at once (to cancel on an interrupt) or less than the server's 1 s minimum hold remains, the
    job is submitted with ``/run`` instead and then waited for."""
    deadline = core.deadline(timeout)
    tracker = JobTracker()

    def submit_then_settle() -> Operation[JobState]:
        request = submit_request(core, body, deadline, id_at_once=cancel_on_interrupt)
        # The job must exist before there is anything to wait for: the submit is sent whatever
        # remains of the deadline, and its read is never cut before the server's hold ends.
        tracker.awaiting_id += 1
        try:
            state: JobState = yield from core.call(request, deadline, floor=LOOK_FLOOR)
        except DeadlineReached as reached:
            raise reached.error from None
        # Only the reply ends the wait for the id (not a `finally`): an interrupt thrown into
        # the submit leaves it counted, so the interrupt's note says a job may exist without
        # an id.
        tracker.awaiting_id -= 1
        tracker.started(state.id)
        if on_state is not None:
            on_state(state)
        return (
            yield from settle(
                core, state.id, deadline, state, cancel_on_timeout, on_state, retry_failed, tracker
            )
        )

    return (
        yield from interruptible(core, submit_then_settle(), tracker, cancel=cancel_on_interrupt)
    )


def submit_request(
    core: EndpointCore,
    body: JobBody,
    deadline: Deadline,
    *,
    id_at_once: bool,
    longest: float = LONG_POLL_WAIT_MS / 1000,
) -> ApiRequest:
    """The one choice of route for a job's body: ``/runsync`` held up to ``longest`` seconds
    (the job's id comes with its reply), or ``/run`` (the id at once) when ``id_at_once`` or
    when less than the server's minimum hold fits in the deadline. The route's payload limit
    is checked here: InvalidInputError before any I/O."""
    hold = None if id_at_once else hold_for(deadline, longest)
    if hold is None:
        return core.request("run", body=body)
    return core.request("runsync", body=body, wait_ms=wait_ms(hold))


def settle(
    core: EndpointCore,
    job_id: str,
    deadline: Deadline,
    known: JobState | None,
    cancel_on_timeout: bool,
    on_state: OnState | None,
    retry_failed: int,
    tracker: JobTracker | None,
) -> Operation[JobState]:
    """Wait for the end; on FAILED/TIMED_OUT requeue with ``/retry`` up to ``retry_failed``
    times within the same deadline. The error raised at last lists every attempt. ``known``
    is a state already in hand (a submit's reply), so a job that ended in it costs nothing.
    ``tracker`` (if any) is told when the job has ended. Batches (``_batches.item``) wait for
    each of their jobs with it too."""
    attempts: list[JobState] = []
    while True:
        try:
            if known is None or not known.is_terminal:
                known = yield from _wait(core, job_id, deadline, known, cancel_on_timeout, on_state)
            state = known if known.status is JobStatus.COMPLETED else check_terminal(known)
        except (JobFailed, JobTimedOut) as exc:
            attempts.append(exc.state)
            exc.attempts = tuple(attempts)
            if len(attempts) > retry_failed or deadline.expired():
                if tracker is not None:
                    tracker.ended(job_id)
                raise
            logger.info(
                "job %s ended %s; requeueing it (retry %d of %d)",
                job_id,
                exc.state.status,
                len(attempts),
                retry_failed,
            )
            try:
                known = yield from core.retry_job(job_id)
            except APIStatusError as retry_error:
                raise exc from retry_error
            continue
        except JobCancelled:
            if tracker is not None:
                tracker.ended(job_id)
            raise
        if tracker is not None:
            tracker.ended(job_id)
        return state


def _wait(
    core: EndpointCore,
    job_id: str,
    deadline: Deadline,
    last: JobState | None,
    cancel_on_timeout: bool,
    on_state: OnState | None,
) -> Operation[JobState]:
    polls = 0
    first = True
    cause: RunpodError | None = None
    # Look at least once, also with nothing left of the deadline.
    while first or not deadline.expired():
        # One step: a long-poll when one fits in the deadline, else one /status poll.
        request = _state_request(core, job_id, deadline)
        started = core.clock()
        try:
            try:
                state: JobState = yield from core.call(
                    request,
                    deadline,
                    floor=LOOK_FLOOR if first and request.hold is None else 0.0,
                    # Without a deadline a retry would rebuild the very same request.
                    refit=None
                    if deadline.timeout is None
                    else functools.partial(_state_request, core, job_id, deadline),
                )
            except APIStatusError as exc:
                state = yield from _without_long_poll(core, job_id, deadline, exc)
                polled = True
            else:
                # A poll, or a long-poll answered at once (not held): back off before the next.
                polled = request.hold is None or core.clock() - started < NOT_HELD
        except DeadlineReached as reached:
            cause = reached.error
            break
        except APIConnectionError as exc:
            if not deadline.expired():
                raise
            cause = exc
            break
        first = False
        last = state
        if on_state is not None:
            on_state(state)
        if state.status in TERMINAL_STATUSES:  # state.is_terminal, without its call
            return state  # settle() raises for an end other than COMPLETED
        if polled:
            yield Sleep(deadline.cap(core.poll.interval(polls)))
            polls += 1
    cancelled = False
    if cancel_on_timeout:
        reply = yield from core.cancel_quietly(job_id)
        cancelled = reply is not None and reply.status == JobStatus.CANCELLED
    raise WaitTimeout(
        job_id, timeout=deadline.timeout, last_state=last, cancelled=cancelled
    ) from cause


def _without_long_poll(
    core: EndpointCore, job_id: str, deadline: Deadline, error: APIStatusError
) -> Operation[JobState]:
    """After ``error`` on a long-poll: a 404/405 means the route is gone or the job is, and
    ``/status`` tells which (the route's absence is remembered); any other error is raised."""
    if error.operation != "status-sync" or error.status_code not in (404, 405):
        raise error
    state: JobState = yield from core.perform("status", deadline, job_id=job_id)
    core.long_poll_unavailable = True
    logger.info("/status-sync unavailable (HTTP %d); polling /status", error.status_code)
    return state


def _state_request(core: EndpointCore, job_id: str, deadline: Deadline) -> ApiRequest:
    """A long-poll whose hold fits in what remains of the deadline, or a ``/status`` poll."""
    if core.long_poll and not core.long_poll_unavailable:
        if deadline.timeout is None:  # no deadline: the longest hold, as hold_for gives it
            return route("status-sync", core.endpoint_id).request(job_id, None, LONG_POLL_WAIT_MS)
        hold = hold_for(deadline)
        if hold is not None:
            return route("status-sync", core.endpoint_id).request(job_id, None, wait_ms(hold))
    return route("status", core.endpoint_id).request(job_id, None, None)
