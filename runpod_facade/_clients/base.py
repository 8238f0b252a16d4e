"""What ``Endpoint`` and ``AsyncEndpoint`` share: settings, argument checks, the keyword
bundles of ``map``/``run_many``, and every public method that does not hand back a job
handle, each written once (see ``api``)."""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import timedelta
from typing import Any, Literal, NoReturn, Required, TypedDict

from .._config import Settings
from .._core import waiting as _waiting
from .._core.effects import Operation
from .._core.engine import EndpointCore
from .._core.pacing import Pacer, RouteStats
from .._drivers.api import api
from .._exceptions import InvalidInputError
from .._options import ExecutionPolicy, S3Config, to_seconds
from .._rate_limits import RateLimitsOption, rate_limits_from
from .._types import Health, JobState, PurgeResult
from .._validation import (
    check_callback,
    check_flag,
    check_id,
    check_retry_failed,
    optional_seconds,
)
from .._wire.requests import encode_job
from .api import EndpointLink

__all__ = [
    "DEFAULT_RUN_SYNC_TIMEOUT",
    "BatchApiMapOptions",
    "EndpointBase",
    "MapOptions",
    "OnStatus",
    "RunManyErrorsInPlace",
    "RunManyOptions",
    "wait_operation",
]

#: ``run_sync``'s default deadline: the server's default ``/runsync`` hold.
DEFAULT_RUN_SYNC_TIMEOUT = 90.0

OnStatus = Callable[[JobState], None]


def wait_operation(
    core: EndpointCore,
    job_id: str,
    timeout: float | timedelta | None,
    cancel_on_timeout: bool,
    cancel_on_interrupt: bool,
    on_state: OnStatus | None,
    retry_failed: int,
) -> Operation[JobState]:
    """``ep.wait``'s and ``job.wait``'s operation, from their arguments once the job id and
    the callback are checked (by each: a handle's id was checked when the handle was made)."""
    # The defaults (no timeout, no requeue) need no call to check them.
    return _waiting.wait(
        core,
        job_id,
        timeout=None if timeout is None else to_seconds(timeout, "timeout"),
        cancel_on_timeout=check_flag(cancel_on_timeout, "cancel_on_timeout"),
        cancel_on_interrupt=check_flag(cancel_on_interrupt, "cancel_on_interrupt"),
        on_state=on_state,
        retry_failed=0
        if retry_failed.__class__ is int and retry_failed == 0
        else check_retry_failed(retry_failed),
    )


class _BatchOptions(TypedDict, total=False):
    """The keyword arguments ``map`` and ``run_many`` share (see ``Endpoint.map``)."""

    concurrency: int
    timeout: float | timedelta | None
    retry_failed: int
    policy: ExecutionPolicy | None
    webhook: str | None
    s3_config: S3Config | None
    cancel_on_interrupt: bool


class MapOptions(_BatchOptions, total=False):
    """``map``'s keyword arguments when each input runs as its own job (``via="jobs"``)."""

    journal: str | os.PathLike[str] | None
    replay: bool
    via: Literal["jobs"]


class BatchApiMapOptions(TypedDict, total=False):
    """``map``'s keyword arguments with ``via="batch-api"`` (RunPod's Batch Jobs API)."""

    via: Required[Literal["batch-api"]]
    timeout: float | timedelta | None
    journal: str | os.PathLike[str] | None
    replay: bool
    batch_size: int | None


class RunManyOptions(_BatchOptions, total=False):
    """``run_many``'s keyword arguments when the first error is raised."""

    return_exceptions: Literal[False]


class RunManyErrorsInPlace(_BatchOptions, total=False):
    """``run_many``'s keyword arguments when each error takes its input's place."""

    return_exceptions: Required[Literal[True]]


class EndpointBase:
    """Settings, argument checks and the shared public methods of both endpoints."""

    _settings: Settings
    #: Its core and driver (``api.EndpointLink``), set by the subclass and handed to every handle.
    _link: EndpointLink[Any]

    @property
    def _core(self) -> EndpointCore:
        return self._link.core

    def _new_core(self, rate_limits: RateLimitsOption) -> EndpointCore:
        """The core of ``_settings`` (resolved by the subclass), its requests paced by
        ``rate_limits``; the subclass links it to its driver."""
        limits = rate_limits_from(rate_limits)
        return EndpointCore(
            self._settings.endpoint_id,
            retry=self._settings.retry,
            poll=self._settings.poll,
            timeouts=self._settings.timeout,
            long_poll=self._settings.long_poll,
            pacer=None if limits is None else Pacer(limits),
        )

    @property
    def endpoint_id(self) -> str:
        """The endpoint's id, as passed or read from ``RUNPOD_ENDPOINT_ID``."""
        return self._settings.endpoint_id

    def pacing(self) -> dict[str, RouteStats]:
        """How this client paced each route so far: the rate it sends at (``None`` while no
        429 set one), requests accepted and refused with 429, seconds calls waited."""
        pacer = self._core.pacer
        return {} if pacer is None else pacer.stats()

    @property
    def base_url(self) -> str:
        """The API root the client sends to (``https://api.runpod.ai/v2`` unless set)."""
        return self._settings.base_url

    @property
    def openai_base_url(self) -> str:
        """The OpenAI-compatible base URL of this endpoint (vLLM and similar workers): hand
        it to ``openai.OpenAI(base_url=..., api_key=...)`` with your RunPod API key."""
        return f"{self.base_url}/{self.endpoint_id}/openai/v1"

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(endpoint_id={self.endpoint_id!r}, base_url={self.base_url!r})"
        )

    def __reduce__(self) -> NoReturn:
        # A client holds connections and the API key: neither belongs in a pickle.
        raise TypeError(
            f"{type(self).__name__} cannot be pickled (it holds connections and the API key); "
            "pickle job ids or JobState values and create a client in each process"
        )

    @staticmethod
    def _job_id(job_id: object) -> str:
        return check_id(job_id, "job_id")

    @staticmethod
    def _ttl_ms(ttl: float | timedelta | None) -> int | None:
        seconds = optional_seconds(ttl, "ttl")
        if seconds is None:
            return None
        ms = round(seconds * 1000)
        if ms < 1:
            raise InvalidInputError("ttl must be at least 1 ms")
        return ms

    @api
    def run_sync(
        self,
        input: Any,
        *,
        timeout: float | timedelta | None = DEFAULT_RUN_SYNC_TIMEOUT,
        policy: ExecutionPolicy | None = None,
        webhook: str | None = None,
        s3_config: S3Config | None = None,
        cancel_on_timeout: bool = False,
        cancel_on_interrupt: bool = False,
        retry_failed: int = 0,
        on_status: OnStatus | None = None,
    ) -> Operation[JobState]:
        """Run a job and wait for it under one deadline; return its COMPLETED state.

        Submits with ``/runsync?wait=`` (the server holds up to 90 s, so a short job takes one
        request), then long-polls until done or ``timeout``. ``/runsync`` hands out the job id
        only with its reply, so with ``cancel_on_interrupt=True`` — or a ``timeout`` under
        1.5 s, too short for the server's minimum hold — the job is submitted with ``/run``
        (id at once) and then waited for: one more request, and the job can always be named.

        Raises:
            JobFailed / JobCancelled / JobTimedOut: the job ended otherwise (``.state``).
            WaitTimeout: ``timeout`` passed (``job_id`` on it); ``cancel_on_timeout`` cancels.
            KeyboardInterrupt / CancelledError: re-raised with a note naming the job (or
                saying no id had arrived); ``cancel_on_interrupt`` cancels it first.
        """
        seconds = optional_seconds(timeout, "timeout")
        check_callback(on_status, "on_status")
        body = encode_job(input, policy=policy, webhook=webhook, s3_config=s3_config)
        return _waiting.run_sync(
            self._core,
            body,
            timeout=seconds,
            cancel_on_timeout=check_flag(cancel_on_timeout, "cancel_on_timeout"),
            cancel_on_interrupt=check_flag(cancel_on_interrupt, "cancel_on_interrupt"),
            on_state=on_status,
            retry_failed=check_retry_failed(retry_failed),
        )

    @api
    def status(self, job_id: str, *, ttl: float | timedelta | None = None) -> Operation[JobState]:
        """The job's current state. ``ttl`` shortens how long the server keeps the result."""
        return self._core.status(self._job_id(job_id), ttl_ms=self._ttl_ms(ttl))

    @api
    def wait(
        self,
        job_id: str,
        *,
        timeout: float | timedelta | None = None,
        cancel_on_timeout: bool = False,
        cancel_on_interrupt: bool = False,
        on_status: OnStatus | None = None,
        retry_failed: int = 0,
    ) -> Operation[JobState]:
        """Wait for the job to finish and return its COMPLETED state:
        ``ep.job(job_id).wait(...)``."""
        check_callback(on_status, "on_status")
        return wait_operation(
            self._core,
            self._job_id(job_id),
            timeout,
            cancel_on_timeout,
            cancel_on_interrupt,
            on_status,
            retry_failed,
        )

    @api
    def cancel(self, job_id: str) -> Operation[JobState]:
        """Cancel a queued or running job; returns its state as the API reports it."""
        return self._core.cancel(self._job_id(job_id))

    @api
    def health(self) -> Operation[Health]:
        """Job and worker counters of the endpoint."""
        return self._core.health()

    @api
    def purge_queue(self) -> Operation[PurgeResult]:
        """Remove every queued job; jobs in progress keep running."""
        return self._core.purge_queue()
