"""The asyncio load-balancing client: :class:`AsyncLoadBalancedEndpoint` (the same decisions
as the blocking client, from :mod:`.core`; only waiting and reading differ)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from datetime import timedelta
from typing import Any, Self, TypeVar, Unpack

import httpx

from .._drivers.api import AsyncClosing
from .._exceptions import InvalidInputError, RunpodError
from .._transports.gate import close_at_loop_shutdown
from .._transports.httpx import DEFAULT_LIMITS
from .._transports.wakeup import InFlight
from .affinity import AffinityMode
from .base import Discard, EndpointBase, Operation, PinnedBase, Send, must_read
from .core import LBRetryPolicy
from .prepare import RequestOptions, _Timeout, spelled_out
from .settings import DEFAULT_LB_TIMEOUT, resolve

__all__ = ["AsyncLoadBalancedEndpoint", "AsyncPinnedSession"]

T = TypeVar("T")


class _AsyncVerbs:
    """``get`` … ``delete``: :meth:`request` with the method filled in."""

    async def request(
        self, method: str, path: str, **options: Unpack[RequestOptions]
    ) -> httpx.Response:
        raise NotImplementedError

    async def get(self, path: str, **options: Unpack[RequestOptions]) -> httpx.Response:
        return await self.request("GET", path, **options)

    async def post(self, path: str, **options: Unpack[RequestOptions]) -> httpx.Response:
        return await self.request("POST", path, **options)

    async def put(self, path: str, **options: Unpack[RequestOptions]) -> httpx.Response:
        return await self.request("PUT", path, **options)

    async def patch(self, path: str, **options: Unpack[RequestOptions]) -> httpx.Response:
        return await self.request("PATCH", path, **options)

    async def delete(self, path: str, **options: Unpack[RequestOptions]) -> httpx.Response:
        return await self.request("DELETE", path, **options)


class _CountedBody(httpx.AsyncByteStream):
    """A streamed reply's body that calls ``ended`` once, when it is closed: httpx closes it
    when it is read to its end, ``aclose()`` (or leaving ``ep.stream()``) otherwise."""

    def __init__(self, body: httpx.AsyncByteStream, ended: Callable[[], None]) -> None:
        self._body = body
        self._ended: Callable[[], None] | None = ended

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._body:
            yield chunk

    async def aclose(self) -> None:
        ended, self._ended = self._ended, None
        try:
            await self._body.aclose()
        finally:
            if ended is not None:
                ended()


class AsyncLoadBalancedEndpoint(EndpointBase, _AsyncVerbs, AsyncClosing):
    """The asyncio twin of :class:`LoadBalancedEndpoint` (same arguments and rules).

    A RunPod load-balancing endpoint: HTTP straight to a worker's own server.

    ``LoadBalancedEndpoint("ENDPOINT_ID")`` sends to ``https://ENDPOINT_ID.api.runpod.ai``
    with the key from ``RUNPOD_API_KEY``. Each call returns the worker's reply as an
    :class:`httpx.Response`, whatever its status; the platform's own failures raise typed
    errors (:class:`NoWorkersAvailableError`, :class:`AffinityWorkerGoneError` …).

    ``timeout`` is one deadline per call, cold-start retries included (default 480 s: the
    router may wait 2 min for a worker, which may then process for 5.5 min).
    ``max_retries`` bounds resends of a call that may have reached a worker (only for
    idempotent methods unless ``idempotent=True``) and of failed connections.
    """

    _http: httpx.AsyncClient

    def __init__(
        self,
        endpoint_id: str | None = None,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        timeout: float | timedelta | None = DEFAULT_LB_TIMEOUT,
        max_retries: int | None = None,
        retry_policy: LBRetryPolicy | None = None,
        allow_insecure_http: bool = False,
        http_client: httpx.AsyncClient | None = None,
    ) -> None:
        self._settings = resolve(
            endpoint_id,
            api_key=api_key,
            base_url=base_url,
            timeout=timeout,
            max_retries=max_retries,
            retry_policy=retry_policy,
            allow_insecure_http=allow_insecure_http,
        )
        if http_client is not None and not isinstance(http_client, httpx.AsyncClient):
            raise InvalidInputError(
                "http_client must be an httpx.AsyncClient (use LoadBalancedEndpoint for "
                f"httpx.Client), got {type(http_client).__name__}"
            )
        # What waits and reads the time: tests put a fake clock here.
        self._clock: Callable[[], float] = time.monotonic
        self._sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
        self._owns_client = http_client is None
        self._http = http_client or self._new_client()
        #: The loop ``_http`` is used on (``None`` before the first request).
        self._http_loop: asyncio.AbstractEventLoop | None = None
        self._closer: AsyncGenerator[None, None] | None = None
        # Waits now (a request, a backoff, a streamed body until it ends): while any is,
        # the main thread's loop keeps waking, so a Ctrl-C is not left waiting for a
        # worker's reply or the next attempt (see ``_transports.wakeup``).
        self._in_flight = InFlight()

    def _new_client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.url, limits=DEFAULT_LIMITS, follow_redirects=False)

    async def _bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """Use the client on ``loop``: its connections belong to the loop they were opened
        on, so a second ``asyncio.run()`` gets a pool of its own (as ``AsyncEndpoint`` does),
        and a client passed in, which cannot be renewed here, is refused there."""
        if self._http_loop is not None:
            if not self._owns_client:
                raise RunpodError(
                    "this AsyncLoadBalancedEndpoint's http_client was used on another event "
                    "loop; it works on one loop only (create it and the endpoint inside the "
                    "same asyncio.run()), or let the endpoint make its own"
                )
            self._http = self._new_client()
        self._http_loop = loop
        if self._owns_client:
            # Closed at the loop's shutdown, while it still runs: a later loop cannot.
            self._closer = await close_at_loop_shutdown(self._http.aclose)

    async def _exchange(self, send: Send) -> httpx.Response:
        """``send``'s reply, counted in flight while awaited; a streamed body (read later, by
        the caller) stays counted until it is read to its end or closed, for the loop waits
        on it just as it waited on the reply."""
        self._in_flight.enter()
        try:
            reply = await self._http.send(send.request, stream=send.stream)
        except BaseException:
            self._in_flight.leave()
            raise
        if not send.stream or reply.is_closed:
            self._in_flight.leave()  # the body came with it (or, mocked, was given whole)
            return reply
        assert isinstance(reply.stream, httpx.AsyncByteStream)
        reply.stream = _CountedBody(reply.stream, self._in_flight.leave)
        if must_read(reply):
            try:
                await reply.aread()
            except BaseException:
                await reply.aclose()
                raise
        return reply

    async def _run(self, operation: Operation[T]) -> T:
        """Perform ``operation``'s I/O on the running loop and return what it returns."""
        reply: Any = None
        error: httpx.TransportError | None = None
        while True:
            try:
                effect = operation.send(reply) if error is None else operation.throw(error)
            except StopIteration as stop:
                return stop.value  # type: ignore[no-any-return]
            reply, error = None, None
            if isinstance(effect, Send):
                if (loop := asyncio.get_running_loop()) is not self._http_loop:
                    await self._bind(loop)
                try:
                    reply = await self._exchange(effect)
                except httpx.TransportError as exc:
                    error = exc
            elif isinstance(effect, Discard):
                async with contextlib.aclosing(effect.response):
                    with contextlib.suppress(httpx.TransportError):
                        await effect.response.aread()
            else:
                with self._in_flight:  # a backoff, up to seconds long, is awaited as well
                    await self._sleep(effect)

    # ------------------------------------------------------------------ requests

    @spelled_out
    async def request(
        self, method: str, path: str, **options: Unpack[RequestOptions]
    ) -> httpx.Response:
        """Send ``method path`` to a worker and return its reply (body read).

        Options, all keyword-only and optional: ``json=`` or ``content=`` (the body),
        ``params=``, ``headers=``, ``timeout=`` (seconds; default the client's, ``None``: no
        limit); ``affinity=`` pins the call to a worker (an :class:`Affinity` or the header
        form ``"strict <worker-id>"``); ``idempotent=True`` lets a POST be sent again after
        its reply was lost (``False`` forbids it for any method).
        """
        return await self._run(self._send(self._prepare(method, path, options), stream=False))

    async def head(self, path: str, **options: Unpack[RequestOptions]) -> httpx.Response:
        return await self.request("HEAD", path, **options)

    async def options(self, path: str, **options: Unpack[RequestOptions]) -> httpx.Response:
        return await self.request("OPTIONS", path, **options)

    @contextlib.asynccontextmanager
    @spelled_out
    async def stream(
        self, method: str, path: str, **options: Unpack[RequestOptions]
    ) -> AsyncIterator[httpx.Response]:
        """``async with ep.stream("POST", "/generate", json=...) as r:`` then
        ``r.aiter_lines()`` (SSE) or ``r.aiter_bytes()``. The deadline covers getting the
        reply's headers (cold-start retries included); each chunk after that may take up to
        ``timeout``."""
        prep = self._prepare(method, path, options)
        async with contextlib.aclosing(await self._run(self._send(prep, stream=True))) as response:
            yield response

    # ------------------------------------------------------------------ health

    async def ping(self, *, timeout: _Timeout = ...) -> httpx.Response:
        """One ``GET /ping``, never resent, its reply returned whatever it is: 200 a worker
        is healthy, 204 one is initializing, the router's 400 "no workers available" …
        Raises only when no reply came (:class:`APIConnectionError`, ``APITimeoutError``)."""
        return await self._run(self._ping(timeout))

    async def wait_ready(self, *, timeout: float | timedelta | None = 120.0) -> httpx.Response:
        """Poll ``/ping`` until a worker answers 200 and return that reply (its worker id
        names the ready worker). 204 (initializing) is polled again every few tens of ms,
        other answers with backoff. Raises :class:`NotReadyError` (a ``TimeoutError``) when
        ``timeout`` passes, :class:`AuthenticationError` (401) or
        :class:`PermissionDeniedError` (403) when the key is refused."""
        return await self._run(self._wait_ready(timeout))

    # ------------------------------------------------------------------ affinity

    def pinned(
        self, mode: AffinityMode = "strict", *, worker_id: str | None = None
    ) -> AsyncPinnedSession:
        """``async with ep.pinned() as s:``: ``await s.post(...)`` calls go to the worker
        that served the session's first call (or ``worker_id``), with ``mode`` affinity;
        nothing is pinned after the block, so the worker can go idle."""
        return AsyncPinnedSession(self, mode, worker_id)

    # ------------------------------------------------------------------ lifecycle

    async def aclose(self) -> None:
        """Close the connection pool (unless it was passed in); idempotent."""
        self._closed = True
        closer, self._closer = self._closer, None
        if closer is not None:
            await closer.aclose()  # closes the pool (a no-op once its loop closed it)
        elif self._owns_client:
            await self._http.aclose()

    async def __aenter__(self) -> Self:
        self._check_not_closed()
        return self


class AsyncPinnedSession(PinnedBase, _AsyncVerbs):
    """Calls pinned to one worker: the first goes anywhere (or to ``worker_id``), the next
    ones to the worker that served the last reply. Outside its ``async with`` block it refuses."""

    def __init__(
        self, endpoint: AsyncLoadBalancedEndpoint, mode: AffinityMode, worker_id: str | None
    ) -> None:
        self._endpoint = endpoint
        super().__init__(mode, worker_id)

    async def request(
        self, method: str, path: str, **options: Unpack[RequestOptions]
    ) -> httpx.Response:
        return self._served(await self._endpoint.request(method, path, **self._pin(options)))

    @contextlib.asynccontextmanager
    async def stream(
        self, method: str, path: str, **options: Unpack[RequestOptions]
    ) -> AsyncIterator[httpx.Response]:
        async with self._endpoint.stream(method, path, **self._pin(options)) as response:
            yield self._served(response)

    _block = "async with"

    async def __aenter__(self) -> Self:
        self._begin()
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._end()
