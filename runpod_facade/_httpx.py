"""The httpx transports: one request in, one fully read reply (or a classified failure) out.

The failure classification is what keeps submits from being duplicated: only a failure that
provably happened before the request left this process (no connection, no pooled
connection free) is ``NOT_SENT``; everything else may have reached the server.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping

import httpx

from ._constants import DEFAULT_LIMITS
from ._drivers import Timeouts
from ._effects import TransportFailure
from ._errors import RunpodError
from ._retry import Delivery
from ._wire import ApiRequest, ApiResponse

__all__ = ["AsyncHttpxTransport", "HttpxTransport", "classify", "to_timeouts"]

_JSON = {"Content-Type": "application/json"}


def to_timeouts(timeout: httpx.Timeout) -> Timeouts:
    return Timeouts(
        connect=timeout.connect, read=timeout.read, write=timeout.write, pool=timeout.pool
    )


def _httpx_timeout(timeouts: Timeouts) -> httpx.Timeout:
    return httpx.Timeout(
        connect=timeouts.connect, read=timeouts.read, write=timeouts.write, pool=timeouts.pool
    )


def classify(exc: httpx.TransportError) -> TransportFailure:
    """A transport exception as a failure the core's retry rules understand."""
    # A connect failure or an exhausted pool means the request never left this process.
    not_sent = isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout))
    detail = str(exc) or "no detail"
    return TransportFailure(
        delivery=Delivery.NOT_SENT if not_sent else Delivery.MAYBE_SENT,
        timeout=isinstance(exc, httpx.TimeoutException),
        message=f"{type(exc).__name__}: {detail}",
    )


class _Base:
    def __init__(self, base_url: str, headers: Mapping[str, str]) -> None:
        self.base_url = base_url
        self.headers = dict(headers)
        self._json_headers = {**self.headers, **_JSON}

    def _build(
        self, client: httpx.Client | httpx.AsyncClient, request: ApiRequest, timeouts: Timeouts
    ) -> httpx.Request:
        return client.build_request(
            request.method,
            self.base_url + request.path,
            params=request.params or None,
            content=request.content,
            headers=self._json_headers if request.content is not None else self.headers,
            timeout=_httpx_timeout(timeouts),
        )


class HttpxTransport(_Base):
    """Blocking requests through an ``httpx.Client`` (the caller's, or one of our own)."""

    def __init__(
        self, base_url: str, headers: Mapping[str, str], client: httpx.Client | None = None
    ) -> None:
        super().__init__(base_url, headers)
        self.owns_client = client is None
        self.client = client or httpx.Client(limits=DEFAULT_LIMITS, follow_redirects=False)

    def send(self, request: ApiRequest, timeouts: Timeouts) -> ApiResponse | TransportFailure:
        try:
            response = self.client.send(self._build(self.client, request, timeouts))
        except httpx.TransportError as exc:
            return classify(exc)
        return ApiResponse(response.status_code, response.headers, response.content)

    def close(self) -> None:
        if self.owns_client:
            self.client.close()


class AsyncHttpxTransport(_Base):
    """Requests through an ``httpx.AsyncClient`` on the running event loop.

    An ``httpx.AsyncClient`` belongs to the loop it first ran on. When the transport owns
    its client and finds itself on a new loop (a second ``asyncio.run()``), it starts a new
    client there; a client passed in by the caller cannot be replaced, so using it on another
    loop is an error raised before anything is sent.
    """

    def __init__(
        self,
        base_url: str,
        headers: Mapping[str, str],
        client: httpx.AsyncClient | None = None,
        *,
        max_in_flight: int = DEFAULT_LIMITS.max_connections or 100,
        new_client: Callable[[], httpx.AsyncClient] | None = None,
    ) -> None:
        super().__init__(base_url, headers)
        self.owns_client = client is None
        self._new_client = new_client or (
            lambda: httpx.AsyncClient(limits=DEFAULT_LIMITS, follow_redirects=False)
        )
        self.client = client or self._new_client()
        self._max_in_flight = max_in_flight
        self._loop: asyncio.AbstractEventLoop | None = None
        self._gate: asyncio.Semaphore | None = None

    def _bind(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            if self._loop is not None:
                if not self.owns_client:
                    raise RunpodError(
                        "this AsyncEndpoint's http_client was used on another event loop; an "
                        "httpx.AsyncClient works on one loop only (create the client and the "
                        "AsyncEndpoint inside the same asyncio.run())"
                    )
                # The old client's connections belong to a loop that is gone: drop them.
                self.client = self._new_client()
            self._loop = loop
            self._gate = asyncio.Semaphore(self._max_in_flight)
        assert self._gate is not None
        return self._gate

    async def send(self, request: ApiRequest, timeouts: Timeouts) -> ApiResponse | TransportFailure:
        gate = self._bind()
        # Queue here, not in httpx: httpcore's pool rescans every pending request on each
        # event, which costs O(n²) CPU with thousands of calls pending on one client.
        try:
            async with asyncio.timeout(timeouts.pool):
                await gate.acquire()
        except TimeoutError:
            return TransportFailure(
                delivery=Delivery.NOT_SENT, timeout=True, message="PoolTimeout: no connection free"
            )
        try:
            response = await self.client.send(self._build(self.client, request, timeouts))
        except httpx.TransportError as exc:
            return classify(exc)
        finally:
            gate.release()
        return ApiResponse(response.status_code, response.headers, response.content)

    async def aclose(self) -> None:
        if not self.owns_client:
            return
        if self._loop is not None and self._loop is not asyncio.get_running_loop():
            # Its connections belong to a loop that is gone; they cannot be closed from here
            # (the sockets close when collected).
            return
        await self.client.aclose()
