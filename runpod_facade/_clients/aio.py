"""The asyncio client: :class:`AsyncEndpoint`, :class:`AsyncJob`, :class:`AsyncJobStream`.
Same operations and semantics as the blocking client, the shared methods the very same
definitions (``base``, ``handles``); these add awaiting and the methods whose type differs."""

from __future__ import annotations

import os
from collections.abc import AsyncIterable, AsyncIterator, Iterable
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Literal, Self, Unpack, cast, overload

from .._batches.plan import (
    DEFAULT_CONCURRENCY,
    DEFAULT_RETRY_FAILED,
    Ordered,
    PerJob,
    fail_fast_notes,
    plan_batch,
    prepare_bodies,
)
from .._config import resolve_settings
from .._constants import DEFAULT_MAX_RETRIES, HTTP_BACKENDS
from .._core.retry import PollPolicy, RetryPolicy
from .._deferred import deferred_module
from .._drivers.aio import AsyncDriver
from .._drivers.api import AsyncClosing
from .._exceptions import InvalidInputError, RunpodError
from .._options import ExecutionPolicy, S3Config
from .._rate_limits import RateLimitsOption
from .._timeout import DEFAULT_TIMEOUT, Timeout
from .._transports.base import AsyncTransport
from .._types import JobState
from .._wire.requests import encode_job
from .api import AsyncRunner, EndpointLink
from .base import BatchApiMapOptions, EndpointBase, MapOptions, RunManyErrorsInPlace, RunManyOptions
from .handles import JobBase, StreamBase

# The backends, the batch machinery and the Batch Jobs API: imported on first use, or when
# something evaluates the annotations that name them (hence those name the module, not the class).
if TYPE_CHECKING:
    import aiohttp
    import httpx

    from .._batches import tasks as batch_tasks
    from .._batchjobs import _async as batchjobs_async
else:
    aiohttp = deferred_module("aiohttp")
    httpx = deferred_module("httpx")
    batch_tasks = deferred_module("runpod_facade._batches.tasks")
    batchjobs_async = deferred_module("runpod_facade._batchjobs._async")

__all__ = ["AsyncEndpoint", "AsyncJob", "AsyncJobStream", "HttpBackend"]

#: The HTTP libraries ``AsyncEndpoint`` can send with.
HttpBackend = Literal["httpx", "aiohttp"]


def _transport(
    backend: object, base_url: str, headers: dict[str, str], http_client: object
) -> AsyncTransport:
    # Each backend's library is imported by the first endpoint that sends with it: an aiohttp
    # user never pays httpx's import nor has its objects in the garbage collector's passes.
    if backend == "httpx":
        import httpx

        from .._transports.async_httpx import AsyncHttpxTransport

        if http_client is not None and not isinstance(http_client, httpx.AsyncClient):
            raise InvalidInputError(
                "http_client must be an httpx.AsyncClient (use Endpoint for httpx.Client; "
                'pass http_backend="aiohttp" for an aiohttp.ClientSession)'
            )
        return AsyncHttpxTransport(base_url, headers, http_client)
    if backend == "aiohttp":
        try:
            import aiohttp

            from .._transports.aiohttp import AiohttpTransport
        except ImportError as exc:
            raise ImportError(
                'http_backend="aiohttp" needs aiohttp: pip install "runpod-facade[aiohttp]"'
            ) from exc
        if http_client is not None and not isinstance(http_client, aiohttp.ClientSession):
            raise InvalidInputError(
                'with http_backend="aiohttp", http_client must be an aiohttp.ClientSession, '
                f"got {type(http_client).__name__}"
            )
        return AiohttpTransport(base_url, headers, http_client)
    raise InvalidInputError(
        f"http_backend must be one of {', '.join(map(repr, HTTP_BACKENDS))}, got {backend!r}"
    )


class AsyncEndpoint(EndpointBase, AsyncRunner, AsyncClosing):
    """A RunPod serverless endpoint, used from asyncio. Arguments as for ``Endpoint``, and:

    Args:
        timeout: per-request HTTP timeouts: seconds (or a ``timedelta``) or a :class:`Timeout`
            per phase, the same for both backends (an ``httpx.Timeout`` is read the same way,
            phase by phase).
        http_backend: the HTTP library: ``"httpx"`` (default) or ``"aiohttp"`` (faster under
            load; ``pip install 'runpod-facade[aiohttp]'``). Both behave the same: timeouts,
            retries, what counts as a request that may have reached the server.
        http_client: an ``httpx.AsyncClient``, or with ``http_backend="aiohttp"`` an
            ``aiohttp.ClientSession``, to send with (its TLS, proxies); not closed by us.
            An ``httpx.AsyncClient`` sends every call, ``batches`` and
            ``map(via="batch-api")`` included. An aiohttp session sends the job calls
            only: the Batch Jobs API is sent with httpx, so ``batches`` and
            ``map(via="batch-api")`` raise InvalidInputError rather than bypass it.

    Use ``async with`` or ``await aclose()``. At most 110 requests are in flight at once
    (more calls queue in the client), of which at most 100 long ones (waits, ``run_sync``,
    streams, a batch's ``/runsync``), so short calls such as ``status`` never queue behind
    pending waits. Through your own ``http_client`` (most likely a pool of 100): 100, of which
    90 long.

    It may be used from one event loop after another (each ``asyncio.run()``): its own
    connections are closed when a loop shuts down and made anew on the next. A caller's
    ``http_client`` is bound to its loop.
    """

    def __init__(
        self,
        endpoint_id: str | None = None,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        timeout: float | timedelta | Timeout | None = DEFAULT_TIMEOUT,
        max_retries: int = DEFAULT_MAX_RETRIES,
        retry_policy: RetryPolicy | None = None,
        poll_policy: PollPolicy | None = None,
        long_poll: bool = True,
        http_client: httpx.AsyncClient | aiohttp.ClientSession | None = None,
        allow_insecure_http: bool = False,
        rate_limits: RateLimitsOption = "learn",
        http_backend: HttpBackend = "httpx",
    ) -> None:
        self._settings = resolve_settings(
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
        core = self._new_core(rate_limits)  # checked before a transport is made
        transport = _transport(
            http_backend, self._settings.base_url, self._settings.headers(), http_client
        )
        self._link = EndpointLink(core, AsyncDriver(transport))
        # The Batch Jobs API sends through an httpx.AsyncClient of the caller's; it cannot
        # use an aiohttp session (``_batch_client``).
        self._http_client: object = http_client
        self._http_backend = http_backend

    def _batch_client(self) -> httpx.AsyncClient | None:
        """The caller's client for the Batch Jobs API (``None``: clients of its own)."""
        client = self._http_client
        if client is None or self._http_backend == "httpx":
            return cast("httpx.AsyncClient | None", client)
        # Our own httpx clients would bypass the session's proxy and TLS settings.
        raise InvalidInputError(
            'ep.batches and map(via="batch-api") send with httpx and cannot use the '
            "aiohttp.ClientSession given as http_client: use another AsyncEndpoint for them, "
            'with an httpx.AsyncClient (http_backend="httpx") or without http_client'
        )

    @property
    def batches(self) -> batchjobs_async.AsyncBatches:
        """The Batch Jobs API of this endpoint: ``create``, ``add``, ``finalize``, ``wait``,
        ``results`` … (RunPod runs the batch on its own batch workers). Sent through the
        ``httpx.AsyncClient`` you passed as ``http_client``, if any; an aiohttp session
        cannot send them (InvalidInputError)."""
        client = self._batch_client()
        from .._batchjobs._async import AsyncBatches

        return AsyncBatches(self._settings, http_client=client, check_open=self._driver.check_open)

    async def aclose(self) -> None:
        """Release pooled connections (not those of an ``http_client`` you passed in). Any
        later call raises ClientClosedError."""
        await self._driver.aclose()

    async def __aenter__(self) -> Self:
        self._driver.check_open()
        return self

    async def run(
        self,
        input: Any,
        *,
        policy: ExecutionPolicy | None = None,
        webhook: str | None = None,
        s3_config: S3Config | None = None,
    ) -> AsyncJob:
        """Queue a job (``/run``) and return its handle at once; see ``Endpoint.run``."""
        body = encode_job(input, policy=policy, webhook=webhook, s3_config=s3_config)
        link = self._link  # its core and driver, as a handle's method reads them
        state = await link.driver.run(link.core.run(body))
        return AsyncJob(self, state.id, state, link=link)

    def job(self, job_id: str) -> AsyncJob:
        """A handle to an existing job, e.g. one submitted by another process."""
        return AsyncJob(self, self._job_id(job_id), link=self._link)

    async def retry(self, job_id: str) -> AsyncJob:
        """Requeue a FAILED or TIMED_OUT job under the same id (``/retry``) and return its
        handle, to follow up (``await job.wait()``); ``job.last_state`` is the reply's state."""
        job = self.job(job_id)
        await job.retry()
        return job

    def stream(
        self,
        job_id: str,
        *,
        timeout: float | timedelta | None = None,
        idle_timeout: float | timedelta | None = None,
        raw: bool = False,
    ) -> AsyncJobStream:
        """``async for`` over a generator handler's outputs: ``ep.job(job_id).stream(...)``."""
        return self.job(job_id).stream(timeout=timeout, idle_timeout=idle_timeout, raw=raw)

    @overload
    def map(
        self, inputs: Iterable[Any], **options: Unpack[BatchApiMapOptions]
    ) -> batchjobs_async.AsyncBatchApiResults: ...

    @overload
    def map(
        self, inputs: Iterable[Any] | AsyncIterable[Any], **options: Unpack[MapOptions]
    ) -> batch_tasks.AsyncBatchResults: ...

    def map(
        self,
        inputs: Iterable[Any] | AsyncIterable[Any],
        *,
        concurrency: int = DEFAULT_CONCURRENCY,
        timeout: float | timedelta | None = None,
        journal: str | os.PathLike[str] | None = None,
        replay: bool = True,
        retry_failed: int = DEFAULT_RETRY_FAILED,
        policy: ExecutionPolicy | None = None,
        webhook: str | None = None,
        s3_config: S3Config | None = None,
        cancel_on_interrupt: bool = False,
        via: Literal["jobs", "batch-api"] = "jobs",
        batch_size: int | None = None,
    ) -> batch_tasks.AsyncBatchResults | batchjobs_async.AsyncBatchApiResults:
        """``async for item in ep.map(inputs): ...`` — each input as its own job, at most
        ``concurrency`` tasks at a time, items in the order the jobs end; see
        ``Endpoint.map``. ``inputs`` may also be an async iterable. Cancelling the task that
        iterates stops the batch like Ctrl-C: the CancelledError carries the notes, and since
        asyncio may replace it (on Ctrl-C ``asyncio.run`` raises a fresh KeyboardInterrupt,
        ``wait_for`` a TimeoutError), the jobs left running are also logged at WARNING on the
        ``runpod_facade`` logger — on stderr when logging is not configured. For SIGTERM to
        do the same, ``loop.add_signal_handler(signal.SIGTERM, main_task.cancel)``.
        ``via="batch-api"``: see ``Endpoint.map`` (its steps run on a worker thread; through
        your ``http_client`` they send on the loop map() was called in)."""
        options = PerJob(concurrency, retry_failed, policy, webhook, s3_config, cancel_on_interrupt)
        if via != "jobs" or batch_size is not None:
            if isinstance(inputs, AsyncIterable):
                raise InvalidInputError("via='batch-api' takes an iterable, not an async one")
            client = self._batch_client()  # the thread's steps send on this loop through it
            from .._batchjobs._http import BatchRequests, loop_send

            send = None if client is None else loop_send(client, BatchRequests(self._settings))
            from .._batchjobs import Batches
            from .._batchjobs._async import AsyncBatchApiResults
            from .._batchjobs._mapper import map_via

            return AsyncBatchApiResults(
                lambda pause: map_via(
                    Batches(self._settings, send=send, check_open=self._driver.check_open),
                    inputs,
                    options,
                    via=via,
                    endpoint_id=self.endpoint_id,
                    journal=journal,
                    timeout=timeout,
                    replay=replay,
                    batch_size=batch_size,
                    sleep=pause,
                )
            )
        run, encode = plan_batch(
            self._core,
            inputs,
            options,
            timeout=timeout,
            journal=journal,
            replay=replay,
            allow_async=True,
        )
        from .._batches.run import encoded_inputs
        from .._batches.tasks import AsyncBatchResults

        if isinstance(inputs, AsyncIterable):
            return AsyncBatchResults(self._driver, run, None, aiter(inputs), encode)
        return AsyncBatchResults(self._driver, run, encoded_inputs(inputs, encode))

    @overload
    async def run_many(
        self, inputs: Iterable[Any], **options: Unpack[RunManyOptions]
    ) -> list[JobState]: ...

    @overload
    async def run_many(
        self, inputs: Iterable[Any], **options: Unpack[RunManyErrorsInPlace]
    ) -> list[JobState | RunpodError]: ...

    async def run_many(
        self,
        inputs: Iterable[Any],
        *,
        concurrency: int = DEFAULT_CONCURRENCY,
        timeout: float | timedelta | None = None,
        policy: ExecutionPolicy | None = None,
        webhook: str | None = None,
        s3_config: S3Config | None = None,
        retry_failed: int = DEFAULT_RETRY_FAILED,
        return_exceptions: bool = False,
        cancel_on_interrupt: bool = False,
    ) -> list[JobState] | list[JobState | RunpodError]:
        """Run each input as its own job, at most ``concurrency`` at a time, and return the
        final states in input order; see ``Endpoint.run_many``."""
        options = PerJob(concurrency, retry_failed, policy, webhook, s3_config, cancel_on_interrupt)
        bodies = prepare_bodies(inputs, options)
        run, _ = plan_batch(self._core, bodies, options, timeout=timeout, journal=None, replay=True)
        from .._batches.tasks import AsyncBatchResults
        from .._batches.types import BatchTimeout

        ordered = Ordered(len(bodies), return_exceptions)
        async with AsyncBatchResults(self._driver, run, iter(bodies)) as results:
            try:
                async for item in results.items:
                    error = ordered.add(item)
                    if error is not None:
                        raise fail_fast_notes(error, await results.aclose(cancel=True))
            except BatchTimeout as timed_out:
                if not return_exceptions:
                    raise
                ordered.fill(timed_out)
        return ordered.results()


class AsyncJob(JobBase, AsyncRunner):
    """A handle to one job, for asyncio code; see ``Job``. Cancelling the task that awaits
    a wait method raises CancelledError with a note naming the job (and cancels the job
    first with ``cancel_on_interrupt=True``); a job left running is also logged at WARNING
    (on stderr when logging is not configured), as asyncio may replace the CancelledError."""

    __slots__ = ()

    endpoint: AsyncEndpoint

    def stream(
        self,
        *,
        timeout: float | timedelta | None = None,
        idle_timeout: float | timedelta | None = None,
        raw: bool = False,
    ) -> AsyncJobStream:
        """``async for chunk in job.stream(): ...``; see ``Job.stream``."""
        return AsyncJobStream(self, self._link, *self._stream_args(timeout, idle_timeout), raw)


class AsyncJobStream(StreamBase, AsyncClosing):
    """An async iterator over a job's streamed outputs; ``async with`` closes it early."""

    job: AsyncJob

    def __init__(
        self,
        job: AsyncJob,
        link: EndpointLink[AsyncDriver],
        timeout: float | None,
        idle_timeout: float | None,
        raw: bool = False,
    ) -> None:
        super().__init__(job, link, timeout, idle_timeout, raw)
        self._iterator = link.driver.iterate(self._operation)

    def __aiter__(self) -> AsyncIterator[Any]:
        return self

    async def __anext__(self) -> Any:
        return await self._iterator.__anext__()

    async def aclose(self) -> None:
        """Stop iterating; nothing is left open."""
        await self._iterator.aclose()  # type: ignore[attr-defined]
