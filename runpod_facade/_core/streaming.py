"""Streaming a generator handler's chunks (``/stream`` long-polls) under two deadlines: the
whole stream's ``timeout`` and ``idle_timeout`` between chunks.

Each ``/stream`` call drains what the server buffered. Its hold is fitted into whichever
deadline ends first; when less than the server's 1 s minimum hold remains, the request is
still sent but its read is cut at the deadline, so a deadline of 0.2 s ends at 0.2 s. A read
cut that way — like any reply lost in transit — loses the chunks it would have carried: the
error says so, and ``ep.stream(job_id)`` resumes with what comes next. So after the first
request none is sent with less than ``MIN_REQUEST_TIMEOUT`` left (its read could not end in
time): the stream sleeps out the deadline instead, leaving later chunks on the server.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from typing import NoReturn

from .._constants import MIN_REQUEST_TIMEOUT
from .._exceptions import APIConnectionError, RunpodError, StreamIdleTimeout, WaitTimeout
from .._status import JobStatus, is_terminal
from .._transports.base import ApiRequest
from .._types import JobState
from .._wire.replies import StreamBatch
from .deadline import Deadline
from .effects import Emit, Operation, Sleep
from .engine import DeadlineReached, EndpointCore
from .interrupts import JobTracker, interruptible
from .waiting import NOT_HELD, REPLY_GRACE, check_terminal, wait_ms

logger = logging.getLogger("runpod_facade")

__all__ = ["STREAM_HOLD", "StreamProgress", "stream"]

#: Hold of one /stream long-poll. Short enough that idle and total deadlines act promptly.
STREAM_HOLD = 10.0


@dataclass
class StreamProgress:
    """What a stream has seen so far; readable while and after iterating. ``state`` is the
    job's final state once the stream has ended (its ``output`` is the handler's result)."""

    job_id: str
    status: JobStatus | str | None = None
    chunks: int = 0
    state: JobState | None = None


def stream(
    core: EndpointCore,
    job_id: str,
    *,
    timeout: float | None,
    idle_timeout: float | None,
    progress: StreamProgress,
    raw: bool = False,
) -> Operation[None]:
    """Emit each chunk's ``output`` (the whole chunk object with ``raw``) until the job ends.

    Ends on COMPLETED and CANCELLED; raises JobFailed / JobTimedOut with the job's state,
    WaitTimeout when ``timeout`` passes and StreamIdleTimeout when no chunk arrives for
    ``idle_timeout`` seconds. An interrupt is re-raised with a note naming the job.
    """
    tracker = JobTracker()
    tracker.started(job_id)

    def follow() -> Operation[None]:
        deadline = core.deadline(timeout)
        idle = core.deadline(idle_timeout)
        quiet_polls = 0
        last: JobState | None = None

        def timed_out(cause: RunpodError | None) -> NoReturn:
            """StreamIdleTimeout when the idle deadline ends (or ended) first — or with the
            other — else WaitTimeout for the whole stream's."""
            idle_left, total_left = idle.remaining(), deadline.remaining()
            if idle_left is not None and (total_left is None or idle_left <= total_left):
                raise StreamIdleTimeout(
                    job_id, timeout=idle.timeout, last_state=last, reason="sent no chunk"
                ) from cause
            raise WaitTimeout(
                job_id, timeout=deadline.timeout, last_state=last, reason="did not end"
            ) from cause

        while True:
            window = Deadline.earliest(deadline, idle)
            request = _stream_request(core, job_id, window)
            refit = functools.partial(_stream_request, core, job_id, window)
            started = core.clock()
            try:
                batch: StreamBatch = yield from core.call(request, window, refit=refit)
            except DeadlineReached as reached:
                # A retry would outlast a deadline: that deadline's error, as for wait.
                timed_out(reached.error)
            except APIConnectionError as exc:
                if window.expired():
                    timed_out(exc)
                raise
            progress.status = batch.status
            last = _state_of(job_id, batch)
            for chunk in batch.chunks:
                progress.chunks += 1
                yield Emit(chunk if raw else chunk.get("output"))
            if batch.chunks:
                idle = core.deadline(idle_timeout)
                quiet_polls = 0
            if is_terminal(batch.status):
                progress.state = yield from _final_state(core, job_id, batch)
                if progress.state.status != JobStatus.CANCELLED:
                    check_terminal(progress.state)  # a stream ends quietly on CANCELLED
                return
            window = Deadline.earliest(deadline, idle)
            if window.expired():
                timed_out(None)
            remaining = window.remaining()
            if remaining is not None and remaining < MIN_REQUEST_TIMEOUT:
                # A /stream sent now would be cut past the deadline, and the chunks it drained
                # lost. Leave them buffered on the server (ep.stream(job_id) resumes with
                # them) and end at the deadline.
                yield Sleep(remaining)
                timed_out(None)
            if not batch.chunks and core.clock() - started < NOT_HELD:
                # The server did not hold the empty poll: back off instead of spinning.
                yield Sleep(window.cap(core.poll.interval(quiet_polls)))
                quiet_polls += 1

    return (yield from interruptible(core, follow(), tracker, cancel=False))


def _stream_request(core: EndpointCore, job_id: str, window: Deadline) -> ApiRequest:
    """A ``/stream`` long-poll whose hold fits in ``window`` (the earlier deadline). Under the
    server's 1 s minimum the hold stays at the minimum and the read is cut at the deadline."""
    hold = window.cap(STREAM_HOLD) - REPLY_GRACE
    return core.request("stream", job_id=job_id, wait_ms=wait_ms(hold))


def _final_state(core: EndpointCore, job_id: str, batch: StreamBatch) -> Operation[JobState]:
    """The job's whole final state: the handler's result (``output``), error and timings are
    in ``/status``, not in the last stream reply. If ``/status`` cannot say, the stream's
    own reply stands in."""
    try:
        state: JobState = yield from core.status(job_id)
    except RunpodError as exc:
        logger.info("stream of job %s ended; /status for its result failed: %s", job_id, exc)
    else:
        if state.is_terminal:
            return state
    return _state_of(job_id, batch)


def _state_of(job_id: str, batch: StreamBatch) -> JobState:
    """The job's state as one stream reply reports it."""
    return JobState(id=job_id, status=batch.status, error=batch.error, raw_json=batch.raw_json)
