"""``ep.batches`` of an :class:`~runpod_facade.AsyncEndpoint`: the Batch Jobs API from asyncio.

The same calls and decisions as the blocking :class:`~._sync.Batches` (:mod:`._plan`), sent
with a short-lived ``httpx.AsyncClient`` built from the endpoint's settings.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from types import TracebackType
from typing import Any, Self

import httpx

from .._config import Settings
from .._exceptions import WaitTimeout
from ._model import (
    BatchRequestResult,
    BatchSummary,
    CreatedBatch,
    parse_created,
    parse_list,
    parse_page,
    parse_summary,
)
from ._plan import (
    DEFAULT_PAGE_SIZE,
    FIRST_PAUSE,
    Call,
    add_call,
    check_batch_id,
    check_page_size,
    create_call,
    decide,
    encode_items,
    next_offset,
    next_pause,
    retry_delay,
    simple_call,
    wait_step,
)
from ._sync import (
    DEFAULT_WAIT_INTERVAL,
    check_interval,
    check_name,
    check_offset,
    check_timeout,
    progress,
    tls_context,
    transport_error,
)

__all__ = ["AsyncBatches"]


class AsyncBatches:
    """The Batch Jobs API of one endpoint, awaited (``AsyncEndpoint.batches``); the methods
    of :class:`~runpod_facade.Batches`, as coroutines, and :meth:`results` an async iterator."""

    def __init__(
        self,
        settings: Settings,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._settings = settings
        self._clock = clock
        self._sleep = sleep
        self._shared: httpx.AsyncClient | None = None

    def __repr__(self) -> str:
        return f"AsyncBatches(endpoint_id={self._settings.endpoint_id!r})"

    async def __aenter__(self) -> Self:
        """See :meth:`runpod_facade.Batches.__enter__`."""
        if self._shared is None:
            self._shared = self._client()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the pool of an ``async with`` block (a no-op otherwise)."""
        shared, self._shared = self._shared, None
        if shared is not None:
            await shared.aclose()

    def _client(self) -> httpx.AsyncClient:
        settings = self._settings
        return httpx.AsyncClient(
            base_url=settings.base_url,
            headers=settings.headers(),
            timeout=httpx.Timeout(
                connect=settings.timeout.connect,
                read=settings.timeout.read,
                write=settings.timeout.write,
                pool=settings.timeout.pool,
            ),
            verify=tls_context(),
        )

    @contextlib.asynccontextmanager
    async def _http(self) -> AsyncIterator[httpx.AsyncClient]:
        if self._shared is not None:
            yield self._shared
        else:
            async with self._client() as http:
                yield http

    async def _send(self, http: httpx.AsyncClient, call: Call) -> Any:
        retry = self._settings.retry
        attempt = 0
        while True:
            try:
                try:
                    reply = await http.request(
                        call.method,
                        call.path,
                        params=dict(call.params),
                        content=call.body,
                        headers={"Content-Type": "application/json"} if call.body else None,
                    )
                except httpx.TransportError as exc:
                    raise transport_error(call, exc) from exc
                return decide(call, reply.status_code, reply.headers, reply.content)
            except Exception as error:
                delay = retry_delay(call, attempt, retry.max_retries, retry.backoff(attempt), error)
                if delay is None:
                    raise
            await self._sleep(delay)
            attempt += 1

    async def _one(self, call: Call) -> Any:
        async with self._http() as http:
            return await self._send(http, call)

    async def create(self, inputs: Iterable[Any] = ()) -> CreatedBatch:
        """See :meth:`runpod_facade.Batches.create`."""
        call = create_call(self._settings.endpoint_id, encode_items(inputs))
        return parse_created(await self._one(call))

    async def add(self, batch_id: str, inputs: Iterable[Any]) -> BatchSummary:
        """See :meth:`runpod_facade.Batches.add`."""
        batch_id = check_batch_id(batch_id)
        call = add_call(self._settings.endpoint_id, batch_id, encode_items(inputs))
        return parse_summary(await self._one(call), call.operation, batch_id)

    async def _simple(self, operation: str, batch_id: str, **extra: Any) -> BatchSummary:
        batch_id = check_batch_id(batch_id)
        call = simple_call(operation, self._settings.endpoint_id, batch_id, **extra)
        return parse_summary(await self._one(call), operation, batch_id)

    async def finalize(self, batch_id: str) -> BatchSummary:
        """See :meth:`runpod_facade.Batches.finalize`."""
        return await self._simple("batch-finalize", batch_id)

    async def get(self, batch_id: str) -> BatchSummary:
        """See :meth:`runpod_facade.Batches.get`."""
        return await self._simple("batch-get", batch_id)

    async def cancel(self, batch_id: str) -> BatchSummary:
        """See :meth:`runpod_facade.Batches.cancel`."""
        return await self._simple("batch-cancel", batch_id)

    async def remove(self, batch_id: str, request_id: str) -> BatchSummary:
        """See :meth:`runpod_facade.Batches.remove`."""
        request_id = check_batch_id(request_id, "request_id")
        return await self._simple("batch-remove", batch_id, request_id=request_id)

    async def update(self, batch_id: str, *, name: str) -> BatchSummary:
        """See :meth:`runpod_facade.Batches.update`."""
        return await self._simple("batch-update", batch_id, body=check_name(name))

    async def list(self, *, page_size: int = DEFAULT_PAGE_SIZE) -> list[BatchSummary]:
        """See :meth:`runpod_facade.Batches.list`."""
        size = check_page_size(page_size)
        found: list[BatchSummary] = []
        offset: int | None = 0
        async with self._http() as http:
            while offset is not None:
                params = {"offset": offset, "limit": size}
                call = simple_call("batch-list", self._settings.endpoint_id, None, params=params)
                page = parse_list(await self._send(http, call), offset)
                found.extend(page.items)
                offset = next_offset(page)
        return found

    def results(
        self, batch_id: str, *, page_size: int = DEFAULT_PAGE_SIZE, offset: int = 0
    ) -> AsyncIterator[BatchRequestResult]:
        """See :meth:`runpod_facade.Batches.results`; ``async for result in ...``."""
        batch_id = check_batch_id(batch_id)
        return self._pages(batch_id, check_page_size(page_size), check_offset(offset))

    async def _pages(
        self, batch_id: str, size: int, start: int
    ) -> AsyncIterator[BatchRequestResult]:
        offset: int | None = start
        async with self._http() as http:
            while offset is not None:
                params = {"offset": offset, "limit": size}
                call = simple_call(
                    "batch-requests", self._settings.endpoint_id, batch_id, params=params
                )
                page = parse_page(await self._send(http, call), batch_id, offset)
                for item in page.items:
                    yield item
                offset = next_offset(page)

    async def wait(
        self,
        batch_id: str,
        *,
        timeout: float | None = None,
        interval: float = DEFAULT_WAIT_INTERVAL,
    ) -> BatchSummary:
        """See :meth:`runpod_facade.Batches.wait`."""
        batch_id = check_batch_id(batch_id)
        interval = check_interval(interval)
        pause = min(FIRST_PAUSE, interval)
        limit = check_timeout(timeout)
        deadline = None if limit is None else self._clock() + limit
        async with self._http() as http:
            while True:
                call = simple_call("batch-get", self._settings.endpoint_id, batch_id)
                summary = parse_summary(await self._send(http, call), call.operation, batch_id)
                step = wait_step(summary, self._clock(), deadline, pause)
                if step.action == "done":
                    return summary
                if step.action == "expired":
                    raise WaitTimeout(batch_id, timeout=limit, reason=progress(summary))
                await self._sleep(step.seconds)
                pause = next_pause(pause, interval)


AsyncBatches.__module__ = "runpod_facade"
