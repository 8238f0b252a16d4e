"""The blocking client: :class:`Endpoint`, its :class:`Job` handles and :class:`JobStream`."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from datetime import timedelta
from types import TracebackType
from typing import Any, Literal, Self, overload

import httpx

from ._common import EndpointBase, check_retry_failed, optional_seconds
from ._constants import DEFAULT_LIMITS, DEFAULT_MAX_RETRIES, DEFAULT_TIMEOUT
from ._core import PollPolicy, StreamProgress
from ._drivers import SyncDriver
from ._errors import InvalidInputError, RunpodError
from ._policy import ExecutionPolicy, S3Config
from ._retry import RetryPolicy
from ._status import JobStatus
from ._types import Health, JobState, PurgeResult

__all__ = ["Endpoint", "Job", "JobStream"]

DEFAULT_RUN_SYNC_TIMEOUT = 90.0


class Endpoint(EndpointBase):
    """A RunPod serverless endpoint, used from blocking code.

    Args:
        endpoint_id: the endpoint's id; defaults to ``RUNPOD_ENDPOINT_ID``.
        api_key: defaults to ``RUNPOD_API_KEY``. Required unless ``base_url`` is loopback.
        base_url: defaults to ``RUNPOD_BASE_URL``, then ``https://api.runpod.ai/v2``.
        timeout: per-request HTTP timeout (seconds or ``httpx.Timeout``). Long-polls extend
            the read timeout past their server-side hold by themselves.
        max_retries: retries per call for transient failures (see ``RetryPolicy``).
        retry_policy: full control over retries; overrides ``max_retries``.
        poll_policy: the ``/status`` polling cadence used when long-poll is not available.
        long_poll: use the server's long-poll (``/status-sync``) while waiting.
        http_client: your own ``httpx.Client`` (its timeouts are replaced per request; you
            close it).
        allow_insecure_http: allow ``http://`` to a non-loopback host.

    Use it as a context manager, or call :meth:`close`, to release connections.
    """

    def __init__(
        self,
        endpoint_id: str | None = None,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        timeout: float | httpx.Timeout | None = DEFAULT_TIMEOUT,
        max_retries: int = DEFAULT_MAX_RETRIES,
        retry_policy: RetryPolicy | None = None,
        poll_policy: PollPolicy | None = None,
        long_poll: bool = True,
        http_client: httpx.Client | None = None,
        allow_insecure_http: bool = False,
    ) -> None:
        self._configure(
            endpoint_id,
            api_key=api_key,
            base_url=base_url,
            timeout=timeout,
            max_retries=max_retries,
            retry_policy=retry_policy,
            poll_policy=poll_policy,
            long_poll=long_poll,
            allow_insecure_http=allow_insecure_http,
        )
        if http_client is not None and not isinstance(http_client, httpx.Client):
            raise InvalidInputError(
                "http_client must be an httpx.Client (use AsyncEndpoint for httpx.AsyncClient)"
            )
        self._owns_client = http_client is None
        self._http = http_client or httpx.Client(limits=DEFAULT_LIMITS, follow_redirects=False)
        self._driver = SyncDriver(
            self._http, self._settings.base_url, self._settings.headers(), self._settings.timeout
        )

    # --- lifecycle ------------------------------------------------------------------------

    def close(self) -> None:
        """Release pooled connections (not those of an ``http_client`` you passed in)."""
        if self._owns_client:
            self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # --- submitting -----------------------------------------------------------------------

    def run(
        self,
        input: Any,
        *,
        policy: ExecutionPolicy | None = None,
        webhook: str | None = None,
        s3_config: S3Config | None = None,
    ) -> Job:
        """Queue a job (``/run``) and return its handle at once.

        ``input`` is any JSON-serializable value; it is sent as the request's ``input``.
        Raises InvalidInputError before sending if it is not serializable or over 10 MiB.
        """
        body = self._job_body(input, policy, webhook, s3_config)
        state = self._driver.run(self._core.run(body))
        return Job(self, state.id, state)

    def run_sync(
        self,
        input: Any,
        *,
        timeout: float | timedelta | None = DEFAULT_RUN_SYNC_TIMEOUT,
        policy: ExecutionPolicy | None = None,
        webhook: str | None = None,
        s3_config: S3Config | None = None,
        cancel_on_timeout: bool = False,
        retry_failed: int = 0,
        on_status: Callable[[JobState], None] | None = None,
    ) -> JobState:
        """Run a job and wait for it: ``/runsync`` holds up to 90 s, then long-polls.

        Returns the COMPLETED state. Raises JobFailed / JobCancelled / JobTimedOut with the
        state, or WaitTimeout (with the job id) when ``timeout`` passes first.
        """
        seconds = optional_seconds(timeout, "timeout")
        body = self._job_body(input, policy, webhook, s3_config)
        return self._driver.run(
            self._core.run_sync(
                body,
                timeout=seconds,
                cancel_on_timeout=cancel_on_timeout,
                on_state=on_status,
                retry_failed=check_retry_failed(retry_failed),
            )
        )

    @overload
    def run_many(
        self,
        inputs: Iterable[Any],
        *,
        concurrency: int = ...,
        timeout: float | timedelta | None = ...,
        policy: ExecutionPolicy | None = ...,
        webhook: str | None = ...,
        s3_config: S3Config | None = ...,
        retry_failed: int = ...,
        return_exceptions: Literal[False] = ...,
    ) -> list[JobState]: ...

    @overload
    def run_many(
        self,
        inputs: Iterable[Any],
        *,
        concurrency: int = ...,
        timeout: float | timedelta | None = ...,
        policy: ExecutionPolicy | None = ...,
        webhook: str | None = ...,
        s3_config: S3Config | None = ...,
        retry_failed: int = ...,
        return_exceptions: Literal[True],
    ) -> list[JobState | RunpodError]: ...

    def run_many(
        self,
        inputs: Iterable[Any],
        *,
        concurrency: int = 16,
        timeout: float | timedelta | None = None,
        policy: ExecutionPolicy | None = None,
        webhook: str | None = None,
        s3_config: S3Config | None = None,
        retry_failed: int = 0,
        return_exceptions: bool = False,
    ) -> list[JobState] | list[JobState | RunpodError]:
        """Run each input as its own job, at most ``concurrency`` in flight, and return the
        final states in input order. ``timeout`` is one deadline for the whole batch.

        Jobs run in parallel on the endpoint while this thread waits on the oldest one (a
        sliding window). Every input is checked before anything is sent. By default the first
        error cancels the jobs still in flight and is raised; with ``return_exceptions=True``
        each failed item's error takes its place instead.
        """
        batch = self._batch(inputs, concurrency, timeout, policy, webhook, s3_config, retry_failed)
        results: list[JobState | RunpodError] = []
        # Submitted jobs not yet settled, oldest first; a failed submit holds its error.
        window: deque[str | RunpodError] = deque()
        pending = deque(batch.requests)
        try:
            while pending or window:
                while pending and len(window) < batch.concurrency:
                    request = pending.popleft()
                    try:
                        window.append(self._driver.run(self._core.submit(request)).id)
                    except RunpodError as exc:
                        if not return_exceptions:
                            raise
                        window.append(exc)
                head = window[0]
                outcome: JobState | RunpodError
                if isinstance(head, RunpodError):
                    outcome = head
                else:
                    try:
                        outcome = self._driver.run(batch.wait(head))
                    except RunpodError as exc:
                        if not return_exceptions:
                            raise
                        outcome = exc
                window.popleft()
                results.append(outcome)
        except BaseException:
            for job_id in window:
                if isinstance(job_id, str):
                    self._driver.run(self._core._cancel_quietly(job_id))
            raise
        return results

    def job(self, job_id: str) -> Job:
        """A handle to an existing job, e.g. one submitted by another process."""
        return Job(self, self._job_id(job_id))

    # --- by job id ------------------------------------------------------------------------

    def status(self, job_id: str, *, ttl: float | timedelta | None = None) -> JobState:
        """The job's current state. ``ttl`` shortens how long the server keeps the result."""
        return self._driver.run(self._core.status(self._job_id(job_id), ttl_ms=self._ttl_ms(ttl)))

    def wait(
        self,
        job_id: str,
        *,
        timeout: float | timedelta | None = None,
        cancel_on_timeout: bool = False,
        on_status: Callable[[JobState], None] | None = None,
        retry_failed: int = 0,
    ) -> JobState:
        """Wait for the job to finish; see :meth:`Job.wait_state`."""
        return self.job(job_id).wait_state(
            timeout=timeout,
            cancel_on_timeout=cancel_on_timeout,
            on_status=on_status,
            retry_failed=retry_failed,
        )

    def stream(
        self,
        job_id: str,
        *,
        timeout: float | timedelta | None = None,
        idle_timeout: float | timedelta | None = None,
    ) -> JobStream:
        """Iterate the outputs of a generator handler; see :meth:`Job.stream`."""
        return self.job(job_id).stream(timeout=timeout, idle_timeout=idle_timeout)

    def cancel(self, job_id: str) -> JobState:
        """Cancel a queued or running job; returns its state as the API reports it."""
        return self._driver.run(self._core.cancel(self._job_id(job_id)))

    def retry(self, job_id: str) -> Job:
        """Requeue a FAILED or TIMED_OUT job under the same id (``/retry``)."""
        job_id = self._job_id(job_id)
        state = self._driver.run(self._core.retry_job(job_id))
        return Job(self, state.id, state)

    # --- endpoint -------------------------------------------------------------------------

    def health(self) -> Health:
        """Job and worker counters of the endpoint."""
        return self._driver.run(self._core.health())

    def purge_queue(self) -> PurgeResult:
        """Remove every queued job; jobs in progress keep running."""
        return self._driver.run(self._core.purge_queue())


class Job:
    """A handle to one job. Cheap: it holds the id, the endpoint and the last state seen."""

    __slots__ = ("_last_state", "endpoint", "id")

    def __init__(self, endpoint: Endpoint, job_id: str, state: JobState | None = None) -> None:
        self.endpoint = endpoint
        self.id = job_id
        self._last_state = state

    def __repr__(self) -> str:
        status = self._last_state.status if self._last_state else "unknown"
        return f"Job(id={self.id!r}, last_status={str(status)!r})"

    @property
    def last_state(self) -> JobState | None:
        """The most recent state this handle has seen (no request)."""
        return self._last_state

    def _seen(self, state: JobState) -> None:
        self._last_state = state

    def status(self) -> JobState:
        """Fetch the job's current state."""
        state = self.endpoint.status(self.id)
        self._seen(state)
        return state

    def wait_state(
        self,
        timeout: float | timedelta | None = None,
        *,
        cancel_on_timeout: bool = False,
        cancel_on_interrupt: bool = False,
        on_status: Callable[[JobState], None] | None = None,
        retry_failed: int = 0,
    ) -> JobState:
        """Wait until the job finishes and return its COMPLETED state.

        Long-polls the server (``/status-sync``), falling back to ``/status`` polling with
        capped, jittered backoff. ``timeout`` is one deadline for the whole wait.
        ``retry_failed=N`` requeues a FAILED or TIMED_OUT job (``/retry``, same id) up to N
        times within that deadline; the error finally raised lists every attempt.

        Raises:
            JobFailed / JobCancelled / JobTimedOut: the job ended otherwise (``.state`` has it).
            WaitTimeout: ``timeout`` passed; with ``cancel_on_timeout`` the job is cancelled.
            KeyboardInterrupt: re-raised after cancelling the job if ``cancel_on_interrupt``.
        """
        seconds = optional_seconds(timeout, "timeout")

        def seen(state: JobState) -> None:
            self._seen(state)
            if on_status is not None:
                on_status(state)

        core = self.endpoint._core
        try:
            state = self.endpoint._driver.run(
                core.wait(
                    self.id,
                    timeout=seconds,
                    cancel_on_timeout=cancel_on_timeout,
                    on_state=seen,
                    retry_failed=check_retry_failed(retry_failed),
                )
            )
        except KeyboardInterrupt:
            if cancel_on_interrupt:
                self.endpoint._driver.run(core._cancel_quietly(self.id))
            raise
        return state

    def wait(
        self,
        timeout: float | timedelta | None = None,
        *,
        cancel_on_timeout: bool = False,
        cancel_on_interrupt: bool = False,
        on_status: Callable[[JobState], None] | None = None,
        retry_failed: int = 0,
    ) -> Any:
        """Wait until the job finishes and return its output. Raises as :meth:`wait_state`."""
        return self.wait_state(
            timeout,
            cancel_on_timeout=cancel_on_timeout,
            cancel_on_interrupt=cancel_on_interrupt,
            on_status=on_status,
            retry_failed=retry_failed,
        ).output

    def stream(
        self,
        timeout: float | timedelta | None = None,
        *,
        idle_timeout: float | timedelta | None = None,
    ) -> JobStream:
        """Iterate the outputs a generator handler yields, as they arrive.

        ``timeout`` bounds the whole stream; ``idle_timeout`` the gap between chunks. Ends on
        COMPLETED or CANCELLED (see ``JobStream.status``); raises JobFailed or JobTimedOut.
        """
        return JobStream(
            self,
            optional_seconds(timeout, "timeout"),
            optional_seconds(idle_timeout, "idle_timeout"),
        )

    def cancel(self) -> JobState:
        state = self.endpoint.cancel(self.id)
        self._seen(state)
        return state

    def retry(self) -> Job:
        """Requeue this FAILED or TIMED_OUT job; the id stays the same."""
        job = self.endpoint.retry(self.id)
        if job.last_state is not None:
            self._seen(job.last_state)
        return self


class JobStream:
    """An iterator over a job's streamed outputs. Use it in a ``for`` loop or ``with`` block;
    breaking out early is safe (no request is left open between chunks)."""

    def __init__(self, job: Job, timeout: float | None, idle_timeout: float | None) -> None:
        self.job = job
        self.progress = StreamProgress(job.id)
        core = job.endpoint._core
        operation = core.stream(
            job.id, timeout=timeout, idle_timeout=idle_timeout, progress=self.progress
        )
        self._iterator = job.endpoint._driver.iterate(operation)

    @property
    def status(self) -> JobStatus | str | None:
        """The job status the stream last reported (terminal once iteration ends)."""
        return self.progress.status

    def __iter__(self) -> Iterator[Any]:
        return self

    def __next__(self) -> Any:
        return next(self._iterator)

    def close(self) -> None:
        self._iterator.close()  # type: ignore[attr-defined]

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
