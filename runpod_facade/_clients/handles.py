"""The pure parts of job handles and streams, shared by the blocking and asyncio classes:
identity, the last state seen, ``repr``, argument checks and the operations themselves.
``Job``/``AsyncJob`` and ``JobStream``/``AsyncJobStream`` add only how they are run."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any, NoReturn

from .._core import streaming as _streaming
from .._core.effects import Operation
from .._core.streaming import StreamProgress
from .._drivers.api import api
from .._status import JobStatus
from .._types import JobState
from .._validation import check_callback, check_flag, optional_seconds
from .api import EndpointLink
from .base import EndpointBase, OnStatus, wait_operation
from .derived import derive_job_methods

__all__ = ["JobBase", "StreamBase"]


def _not_picklable(what: str) -> NoReturn:
    raise TypeError(
        f"a {what} cannot be pickled (it belongs to a client, which holds connections and the "
        "API key); pickle job.id or a JobState, and reattach with ep.job(job_id)"
    )


class JobBase:
    """A handle to one job: its id, its endpoint and the last state seen. Cheap to create;
    ``ep.job(job_id)`` reattaches to a job submitted elsewhere."""

    __slots__ = ("_last_state", "_link", "endpoint", "id")

    endpoint: EndpointBase

    def __init__(
        self,
        endpoint: EndpointBase,
        job_id: str,
        state: JobState | None = None,
        *,
        link: EndpointLink[Any],
    ) -> None:
        self.endpoint = endpoint
        self.id = job_id
        self._last_state = state
        self._link = link  # the core and the driver, for the handle and its streams

    def __repr__(self) -> str:
        status = self._last_state.status if self._last_state else "unknown"
        return f"{type(self).__name__}(id={self.id!r}, last_status={str(status)!r})"

    def __reduce__(self) -> NoReturn:
        _not_picklable(type(self).__name__)

    @property
    def last_state(self) -> JobState | None:
        """The most recent state this handle has seen (no request)."""
        return self._last_state

    def _seen(self, state: JobState) -> None:
        self._last_state = state

    def _recording(self, operation: Operation[JobState]) -> Operation[JobState]:
        state = yield from operation
        self._seen(state)
        return state

    def _observer(self, on_status: OnStatus) -> Callable[[JobState], None]:
        """What a wait calls with each state: record it, then ``on_status`` (checked here)."""
        check_callback(on_status, "on_status")

        def seen(state: JobState) -> None:
            self._seen(state)
            on_status(state)

        return seen

    @api
    def status(self) -> Operation[JobState]:
        """Fetch the job's current state."""
        return self._recording(self._link.core.status(self.id))

    @api
    def wait(
        self,
        *,
        timeout: float | timedelta | None = None,
        cancel_on_timeout: bool = False,
        cancel_on_interrupt: bool = False,
        on_status: OnStatus | None = None,
        retry_failed: int = 0,
    ) -> Operation[JobState]:
        """Wait until the job finishes and return its COMPLETED state (``.output`` is the
        handler's result).

        Long-polls the server (``/status-sync``) while the deadline allows the server's 1 s
        minimum hold, and polls ``/status`` with capped, jittered backoff otherwise (or when
        long-poll is unavailable). ``timeout`` is one deadline for the whole wait;
        ``timeout=0`` looks once. ``retry_failed=N`` requeues a FAILED or TIMED_OUT job
        (``/retry``, same id) up to N times within that deadline; the error finally raised
        lists every attempt.

        Raises:
            JobFailed / JobCancelled / JobTimedOut: the job ended otherwise (``.state`` has it).
            WaitTimeout: ``timeout`` passed; with ``cancel_on_timeout`` the job is cancelled.
            KeyboardInterrupt / CancelledError: re-raised with a note naming the job; with
                ``cancel_on_interrupt`` the job is cancelled first.
        """
        return wait_operation(
            self._link.core,
            self.id,
            timeout,
            cancel_on_timeout,
            cancel_on_interrupt,
            self._seen if on_status is None else self._observer(on_status),  # no closure if None
            retry_failed,
        )

    @api
    def cancel(self) -> Operation[JobState]:
        """Cancel the job; returns its state. Cancelling a job that has already ended changes
        nothing, and its reply is a bare ``{id, status}``: then the ended state this handle
        had seen, output and all, is kept and returned."""
        return self._cancelling(self._link.core.cancel(self.id))

    def _cancelling(self, operation: Operation[JobState]) -> Operation[JobState]:
        reply = yield from operation
        known = self._last_state
        if known is not None and known.is_terminal and reply.status == known.status:
            return known
        self._seen(reply)
        return reply

    @api
    def retry(self) -> Operation[JobState]:
        """Requeue this FAILED or TIMED_OUT job (``/retry``; the id stays the same) and
        return its state as the reply reports it (``IN_QUEUE``); follow up with :meth:`wait`."""
        return self._recording(self._link.core.retry_job(self.id))

    def _stream_args(
        self, timeout: float | timedelta | None, idle_timeout: float | timedelta | None
    ) -> tuple[float | None, float | None]:
        return optional_seconds(timeout, "timeout"), optional_seconds(idle_timeout, "idle_timeout")


class StreamBase:
    """The pure part of a stream: its job, its progress and its operation."""

    def __init__(
        self,
        job: JobBase,
        link: EndpointLink[Any],
        timeout: float | None,
        idle_timeout: float | None,
        raw: bool,
    ) -> None:
        self.job = job
        self.progress = StreamProgress(job.id)
        self._operation = _streaming.stream(
            link.core,
            job.id,
            timeout=timeout,
            idle_timeout=idle_timeout,
            progress=self.progress,
            raw=check_flag(raw, "raw"),
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}(job_id={self.job.id!r}, chunks={self.progress.chunks})"

    def __reduce__(self) -> NoReturn:
        _not_picklable(type(self).__name__)

    @property
    def status(self) -> JobStatus | str | None:
        """The job status the stream last reported (terminal once iteration ends)."""
        return self.progress.status

    @property
    def state(self) -> JobState | None:
        """The job's final state once the stream has ended — ``output`` is the handler's
        result, also for a handler that streamed nothing — else ``None``."""
        return self.progress.state


_derived = False


def _missing(self: JobBase, name: str) -> Any:
    # A job-scoped read added to the spec gets its handle method from its endpoint method,
    # derived at the first miss, not at import: ``import runpod_facade`` loads no generated code.
    global _derived
    if not name.startswith("_") and not _derived:
        _derived = True
        derive_job_methods(JobBase, EndpointBase)
        return getattr(self, name)
    raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")


if not TYPE_CHECKING:  # type checkers see the hand-written methods only (see .derived)
    JobBase.__getattr__ = _missing
