"""Drivers: run the core's effect generators over httpx, blocking or with asyncio."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from typing import Any, TypeVar

import httpx

from ._effects import Emit, Operation, Send, Sleep, TransportFailure
from ._logging import logger
from ._retry import Delivery, Safety
from ._wire import ApiRequest, ApiResponse

__all__ = ["AsyncDriver", "SyncDriver"]

T = TypeVar("T")

_SUBMIT_READ_GRACE = 2.0


def _timeout_for(default: httpx.Timeout, send: Send) -> httpx.Timeout:
    """The client's timeout, with a long-poll's read override, every phase capped at ``cap``."""
    read = send.request.read_timeout if send.request.read_timeout is not None else default.read

    def capped(value: float | None) -> float | None:
        if send.cap is None:
            return value
        # Never zero: httpx treats 0 as "fail at once", and the core decides expiry itself.
        floor = max(send.cap, 0.05)
        return floor if value is None else min(value, floor)

    # A long-poll waiting for a pooled connection is still waiting for its job: let it queue
    # for as long as the deadline allows, so thousands of waiters share a bounded pool.
    pool = None if send.request.read_timeout is not None else default.pool
    # A submit's reply carries the job id, so its read gets a grace period past the deadline
    # (the core already fits the server's hold inside it): a late reply still yields the id,
    # while a hung server costs at most the grace.
    if send.request.safety is Safety.SUBMIT and send.cap is not None and read is not None:
        read = min(read, send.cap + _SUBMIT_READ_GRACE)
    else:
        read = capped(read)
    return httpx.Timeout(
        connect=capped(default.connect),
        read=read,
        write=capped(default.write),
        pool=capped(pool),
    )


def _classify(exc: httpx.TransportError) -> TransportFailure:
    # A connect failure or an exhausted pool means the request never left this process.
    not_sent = isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout))
    kind = type(exc).__name__
    detail = str(exc) or "no detail"
    return TransportFailure(
        delivery=Delivery.NOT_SENT if not_sent else Delivery.MAYBE_SENT,
        timeout=isinstance(exc, httpx.TimeoutException),
        message=f"{kind}: {detail}",
    )


class _DriverBase:
    def __init__(self, base_url: str, headers: Mapping[str, str], timeout: httpx.Timeout) -> None:
        self.base_url = base_url
        self.headers = dict(headers)
        self.timeout = timeout

    def _build(self, client: httpx.Client | httpx.AsyncClient, send: Send) -> httpx.Request:
        request: ApiRequest = send.request
        headers = self.headers
        if request.content is not None:
            headers = {**headers, "Content-Type": "application/json"}
        return client.build_request(
            request.method,
            self.base_url + request.path,
            params=dict(request.params) or None,
            content=request.content,
            headers=headers,
            timeout=_timeout_for(self.timeout, send),
        )

    @staticmethod
    def _log(send: Send, outcome: ApiResponse | TransportFailure, started: float) -> None:
        if not logger.isEnabledFor(10):
            return
        ms = (time.perf_counter() - started) * 1000
        result = (
            f"HTTP {outcome.status_code}" if isinstance(outcome, ApiResponse) else outcome.message
        )
        logger.debug(
            "%s %s -> %s in %.0f ms (attempt %d)",
            send.request.method,
            send.request.path,
            result,
            ms,
            send.attempt + 1,
        )


class SyncDriver(_DriverBase):
    """Performs effects with an ``httpx.Client`` and ``time.sleep``."""

    def __init__(
        self,
        client: httpx.Client,
        base_url: str,
        headers: Mapping[str, str],
        timeout: httpx.Timeout,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        super().__init__(base_url, headers, timeout)
        self.client = client
        self.sleep = sleep

    def send(self, send: Send) -> ApiResponse | TransportFailure:
        started = time.perf_counter()
        try:
            response = self.client.send(self._build(self.client, send))
            outcome: ApiResponse | TransportFailure = ApiResponse(
                response.status_code, response.headers, response.content
            )
        except httpx.TransportError as exc:
            outcome = _classify(exc)
        self._log(send, outcome, started)
        return outcome

    def _perform(self, effect: object) -> Any:
        if isinstance(effect, Send):
            return self.send(effect)
        if isinstance(effect, Sleep):
            if effect.seconds > 0:
                self.sleep(effect.seconds)
            return None
        raise TypeError(f"unexpected effect {effect!r}")

    def run(self, operation: Operation[T]) -> T:
        value: Any = None
        try:
            while True:
                try:
                    effect = operation.send(value)
                except StopIteration as stop:
                    result: T = stop.value
                    return result
                value = self._perform(effect)
        finally:
            operation.close()

    def iterate(self, operation: Operation[None]) -> Iterator[Any]:
        value: Any = None
        try:
            while True:
                try:
                    effect = operation.send(value)
                except StopIteration:
                    return
                if isinstance(effect, Emit):
                    value = None
                    yield effect.value
                else:
                    value = self._perform(effect)
        finally:
            operation.close()


class AsyncDriver(_DriverBase):
    """Performs effects with an ``httpx.AsyncClient`` and ``asyncio.sleep``."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        base_url: str,
        headers: Mapping[str, str],
        timeout: httpx.Timeout,
        sleep: Callable[[float], Any] = asyncio.sleep,
        max_in_flight: int = 100,
    ) -> None:
        super().__init__(base_url, headers, timeout)
        self.client = client
        self.sleep = sleep
        self._gate = asyncio.Semaphore(max_in_flight)

    async def send(self, send: Send) -> ApiResponse | TransportFailure:
        started = time.perf_counter()
        request = self._build(self.client, send)
        # Queue here, not in httpx: httpcore's pool rescans every pending request on each
        # event, which costs O(n²) CPU with thousands of calls pending on one client.
        try:
            async with asyncio.timeout(request.extensions["timeout"].get("pool")):
                await self._gate.acquire()
        except TimeoutError:
            outcome: ApiResponse | TransportFailure = TransportFailure(
                delivery=Delivery.NOT_SENT, timeout=True, message="PoolTimeout: no connection free"
            )
            self._log(send, outcome, started)
            return outcome
        try:
            response = await self.client.send(request)
            outcome = ApiResponse(response.status_code, response.headers, response.content)
        except httpx.TransportError as exc:
            outcome = _classify(exc)
        finally:
            self._gate.release()
        self._log(send, outcome, started)
        return outcome

    async def _perform(self, effect: object) -> Any:
        if isinstance(effect, Send):
            return await self.send(effect)
        if isinstance(effect, Sleep):
            if effect.seconds > 0:
                await self.sleep(effect.seconds)
            return None
        raise TypeError(f"unexpected effect {effect!r}")

    async def run(self, operation: Operation[T]) -> T:
        value: Any = None
        try:
            while True:
                try:
                    effect = operation.send(value)
                except StopIteration as stop:
                    result: T = stop.value
                    return result
                value = await self._perform(effect)
        finally:
            operation.close()

    async def iterate(self, operation: Operation[None]) -> AsyncIterator[Any]:
        value: Any = None
        try:
            while True:
                try:
                    effect = operation.send(value)
                except StopIteration:
                    return
                if isinstance(effect, Emit):
                    value = None
                    yield effect.value
                else:
                    value = await self._perform(effect)
        finally:
            operation.close()
