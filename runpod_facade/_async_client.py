"""The asyncio client: :class:`AsyncEndpoint`, :class:`AsyncJob`, :class:`AsyncJobStream`.

Same operations and semantics as the blocking client; both run the same core."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Iterable
from datetime import timedelta
from types import TracebackType
from typing import Any, Literal, Self, overload

import httpx

from ._client import DEFAULT_RUN_SYNC_TIMEOUT
from ._common import EndpointBase, check_retry_failed, optional_seconds
from ._constants import DEFAULT_LIMITS, DEFAULT_MAX_RETRIES, DEFAULT_TIMEOUT
from ._core import PollPolicy, StreamProgress
from ._drivers import AsyncDriver
from ._errors import InvalidInputError, RunpodError
from ._policy import ExecutionPolicy, S3Config
from ._retry import RetryPolicy
from ._status import JobStatus
from ._types import Health, JobState, PurgeResult
from ._wire import ApiRequest

__all__ = ["AsyncEndpoint", "AsyncJob", "AsyncJobStream"]

# How long a cancel sent on behalf of a cancelled task may take.
_CANCEL_GRACE = 10.0


class AsyncEndpoint(EndpointBase):
    """A RunPod serverless endpoint, used from asyncio. Arguments as for ``Endpoint``;
    ``http_client`` is an ``httpx.AsyncClient``. Use ``async with`` or ``await aclose()``."""

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
        http_client: httpx.AsyncClient | None = None,
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
        if http_client is not None and not isinstance(http_client, httpx.AsyncClient):
            raise InvalidInputError(
                "http_client must be an httpx.AsyncClient (use Endpoint for httpx.Client)"
            )
        self._owns_client = http_client is None
        self._http = http_client or httpx.AsyncClient(limits=DEFAULT_LIMITS, follow_redirects=False)
        self._driver = AsyncDriver(
            self._http,
            self._settings.base_url,
            self._settings.headers(),
            self._settings.timeout,
            max_in_flight=DEFAULT_LIMITS.max_connections or 100,
        )

    async def aclose(self) -> None:
        """Release pooled connections (not those of an ``http_client`` you passed in)."""
        if self._owns_client:
            await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def run(
        self,
        input: Any,
        *,
        policy: ExecutionPolicy | None = None,
        webhook: str | None = None,
        s3_config: S3Config | None = None,
    ) -> AsyncJob:
        """Queue a job (``/run``) and return its handle; see ``Endpoint.run``."""
        body = self._job_body(input, policy, webhook, s3_config)
        state = await self._driver.run(self._core.run(body))
        return AsyncJob(self, state.id, state)

    async def run_sync(
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
        """Run a job and wait for it; see ``Endpoint.run_sync``."""
        seconds = optional_seconds(timeout, "timeout")
        body = self._job_body(input, policy, webhook, s3_config)
        return await self._driver.run(
            self._core.run_sync(
                body,
                timeout=seconds,
                cancel_on_timeout=cancel_on_timeout,
                on_state=on_status,
                retry_failed=check_retry_failed(retry_failed),
            )
        )

    @overload
    async def run_many(
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
    async def run_many(
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

    async def run_many(
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
        """Run each input as its own job, at most ``concurrency`` at a time, and return the
        final states in input order. ``timeout`` is one deadline for the whole batch.

        Every input is checked before anything is sent. By default the first error cancels
        the rest — the local tasks and the remote jobs already submitted — and is raised;
        with ``return_exceptions=True`` each failed item's error takes its place instead.
        """
        batch = self._batch(inputs, concurrency, timeout, policy, webhook, s3_config, retry_failed)
        semaphore = asyncio.Semaphore(batch.concurrency)
        unfinished: set[str] = set()

        async def one(request: ApiRequest) -> JobState:
            async with semaphore:
                job_id = (await self._driver.run(self._core.submit(request))).id
                unfinished.add(job_id)
                state = await self._driver.run(batch.wait(job_id))
                unfinished.discard(job_id)
                return state

        tasks = [asyncio.ensure_future(one(request)) for request in batch.requests]
        if return_exceptions:
            results: list[JobState | RunpodError] = []
            for item in await asyncio.gather(*tasks, return_exceptions=True):
                if not isinstance(item, (JobState, RunpodError)):
                    raise item  # a bug or a cancellation, not a job's outcome
                results.append(item)
            return results
        try:
            return list(await asyncio.gather(*tasks))
        except BaseException:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await asyncio.gather(
                *(self._driver.run(self._core._cancel_quietly(j)) for j in list(unfinished)),
                return_exceptions=True,
            )
            raise

    def job(self, job_id: str) -> AsyncJob:
        """A handle to an existing job."""
        return AsyncJob(self, self._job_id(job_id))

    async def status(self, job_id: str, *, ttl: float | timedelta | None = None) -> JobState:
        return await self._driver.run(
            self._core.status(self._job_id(job_id), ttl_ms=self._ttl_ms(ttl))
        )

    async def wait(
        self,
        job_id: str,
        *,
        timeout: float | timedelta | None = None,
        cancel_on_timeout: bool = False,
        on_status: Callable[[JobState], None] | None = None,
        retry_failed: int = 0,
    ) -> JobState:
        return await self.job(job_id).wait_state(
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
    ) -> AsyncJobStream:
        return self.job(job_id).stream(timeout=timeout, idle_timeout=idle_timeout)

    async def cancel(self, job_id: str) -> JobState:
        return await self._driver.run(self._core.cancel(self._job_id(job_id)))

    async def retry(self, job_id: str) -> AsyncJob:
        job_id = self._job_id(job_id)
        state = await self._driver.run(self._core.retry_job(job_id))
        return AsyncJob(self, state.id, state)

    async def health(self) -> Health:
        return await self._driver.run(self._core.health())

    async def purge_queue(self) -> PurgeResult:
        return await self._driver.run(self._core.purge_queue())


class AsyncJob:
    """A handle to one job, for asyncio code."""

    __slots__ = ("_last_state", "endpoint", "id")

    def __init__(self, endpoint: AsyncEndpoint, job_id: str, state: JobState | None = None) -> None:
        self.endpoint = endpoint
        self.id = job_id
        self._last_state = state

    def __repr__(self) -> str:
        status = self._last_state.status if self._last_state else "unknown"
        return f"AsyncJob(id={self.id!r}, last_status={str(status)!r})"

    @property
    def last_state(self) -> JobState | None:
        return self._last_state

    async def status(self) -> JobState:
        state = await self.endpoint.status(self.id)
        self._last_state = state
        return state

    async def wait_state(
        self,
        timeout: float | timedelta | None = None,
        *,
        cancel_on_timeout: bool = False,
        cancel_on_interrupt: bool = False,
        on_status: Callable[[JobState], None] | None = None,
        retry_failed: int = 0,
    ) -> JobState:
        """Wait until the job finishes; see ``Job.wait_state``. With ``cancel_on_interrupt``,
        cancelling the awaiting task also cancels the remote job."""
        seconds = optional_seconds(timeout, "timeout")

        def seen(state: JobState) -> None:
            self._last_state = state
            if on_status is not None:
                on_status(state)

        core = self.endpoint._core
        try:
            return await self.endpoint._driver.run(
                core.wait(
                    self.id,
                    timeout=seconds,
                    cancel_on_timeout=cancel_on_timeout,
                    on_state=seen,
                    retry_failed=check_retry_failed(retry_failed),
                )
            )
        except (asyncio.CancelledError, KeyboardInterrupt):
            if cancel_on_interrupt:
                # The task is being cancelled: give the remote cancel its own bounded time.
                cancel = asyncio.ensure_future(
                    self.endpoint._driver.run(core._cancel_quietly(self.id))
                )
                with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                    await asyncio.wait_for(asyncio.shield(cancel), _CANCEL_GRACE)
            raise

    async def wait(
        self,
        timeout: float | timedelta | None = None,
        *,
        cancel_on_timeout: bool = False,
        cancel_on_interrupt: bool = False,
        on_status: Callable[[JobState], None] | None = None,
        retry_failed: int = 0,
    ) -> Any:
        """Wait until the job finishes and return its output."""
        state = await self.wait_state(
            timeout,
            cancel_on_timeout=cancel_on_timeout,
            cancel_on_interrupt=cancel_on_interrupt,
            on_status=on_status,
            retry_failed=retry_failed,
        )
        return state.output

    def stream(
        self,
        timeout: float | timedelta | None = None,
        *,
        idle_timeout: float | timedelta | None = None,
    ) -> AsyncJobStream:
        """``async for chunk in job.stream(): ...``; see ``Job.stream``."""
        return AsyncJobStream(
            self,
            optional_seconds(timeout, "timeout"),
            optional_seconds(idle_timeout, "idle_timeout"),
        )

    async def cancel(self) -> JobState:
        state = await self.endpoint.cancel(self.id)
        self._last_state = state
        return state

    async def retry(self) -> AsyncJob:
        job = await self.endpoint.retry(self.id)
        if job.last_state is not None:
            self._last_state = job.last_state
        return self


class AsyncJobStream:
    """An async iterator over a job's streamed outputs; ``async with`` closes it early."""

    def __init__(self, job: AsyncJob, timeout: float | None, idle_timeout: float | None) -> None:
        self.job = job
        self.progress = StreamProgress(job.id)
        core = job.endpoint._core
        operation = core.stream(
            job.id, timeout=timeout, idle_timeout=idle_timeout, progress=self.progress
        )
        self._iterator = job.endpoint._driver.iterate(operation)

    @property
    def status(self) -> JobStatus | str | None:
        return self.progress.status

    def __aiter__(self) -> AsyncIterator[Any]:
        return self

    async def __anext__(self) -> Any:
        return await self._iterator.__anext__()

    async def aclose(self) -> None:
        await self._iterator.aclose()  # type: ignore[attr-defined]

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
