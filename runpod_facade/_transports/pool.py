"""The connection pool of our own ``httpx.AsyncClient``: httpcore connections, reused LIFO.

httpcore's ``AsyncConnectionPool`` rescans every connection on each request and response
(checking each idle one's socket through anyio, ~50 µs each, and recounting the pool: O(n²)),
and with fewer keep-alive slots than connections it closes each one that becomes idle: with a
hundred requests in flight, more CPU than the requests themselves, or a new connection per
request. Here ``gate`` already bounds the requests in flight, so the pool never queues: a
request takes the most recently idle connection to its origin (checking only that one) or
opens one, and gives it back once its reply is read; connections idle past the keep-alive
expiry are closed.

It speaks HTTP/1.1 through ``httpcore.AsyncHTTPConnection`` (the connections of httpx's own
pool) and raises httpx's exceptions, so to ``httpx.AsyncClient`` it is an ordinary transport.
With a proxy in the environment the client keeps httpx's own transport (``async_httpx``).
"""

from __future__ import annotations

import contextlib
import time
from collections import deque
from collections.abc import AsyncIterable, AsyncIterator, Iterator

import httpcore
import httpx

__all__ = ["LifoPool"]

# httpcore's exceptions as httpx's, most specific first (httpx's transport maps the same).
_EXCEPTIONS: tuple[tuple[type[Exception], type[httpx.TransportError]], ...] = (
    (httpcore.ConnectTimeout, httpx.ConnectTimeout),
    (httpcore.ReadTimeout, httpx.ReadTimeout),
    (httpcore.WriteTimeout, httpx.WriteTimeout),
    (httpcore.PoolTimeout, httpx.PoolTimeout),
    (httpcore.TimeoutException, httpx.TimeoutException),
    (httpcore.ConnectError, httpx.ConnectError),
    (httpcore.ReadError, httpx.ReadError),
    (httpcore.WriteError, httpx.WriteError),
    (httpcore.NetworkError, httpx.NetworkError),
    (httpcore.RemoteProtocolError, httpx.RemoteProtocolError),
    (httpcore.LocalProtocolError, httpx.LocalProtocolError),
    (httpcore.ProtocolError, httpx.ProtocolError),
    (httpcore.UnsupportedProtocol, httpx.UnsupportedProtocol),
    (httpcore.ProxyError, httpx.ProxyError),
)


@contextlib.contextmanager
def _as_httpx_errors() -> Iterator[None]:
    try:
        yield
    except Exception as exc:
        for source, target in _EXCEPTIONS:
            if isinstance(exc, source):
                raise target(str(exc)) from exc
        raise


_Key = tuple[bytes, bytes, int | None]


class LifoPool(httpx.AsyncBaseTransport):
    """An httpx transport over a LIFO pool of HTTP/1.1 connections, unbounded: the caller
    bounds how many requests run at once (and so how many connections exist)."""

    def __init__(self, *, keepalive_expiry: float) -> None:
        self._keepalive_expiry = keepalive_expiry
        self._ssl_context = httpx.create_ssl_context()
        # Per origin: idle connections with the time each became idle, newest last.
        self._idle: dict[_Key, deque[tuple[httpcore.AsyncHTTPConnection, float]]] = {}
        self._closed = False

    async def _checkout(self, key: _Key, origin: httpcore.Origin) -> httpcore.AsyncHTTPConnection:
        idle = self._idle.get(key)
        while idle:
            connection, _ = idle.pop()
            # Expired, or readable while idle: the server closed it (or is about to).
            if connection.is_available() and not connection.has_expired():
                return connection
            await connection.aclose()
        return httpcore.AsyncHTTPConnection(
            origin, ssl_context=self._ssl_context, keepalive_expiry=self._keepalive_expiry
        )

    async def _checkin(self, key: _Key, connection: httpcore.AsyncHTTPConnection) -> None:
        if self._closed or not connection.is_idle():
            await connection.aclose()
            return
        now = time.monotonic()
        idle = self._idle.setdefault(key, deque())
        idle.append((connection, now))
        # The oldest idle connections sit at the bottom: close those past their expiry.
        while idle and now - idle[0][1] > self._keepalive_expiry:
            stale, _ = idle.popleft()
            await stale.aclose()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        key = (url.raw_scheme, url.raw_host, url.port)
        origin = httpcore.Origin(url.raw_scheme, url.raw_host, url.port or _default_port(url))
        core_request = httpcore.Request(
            method=request.method,
            url=httpcore.URL(
                scheme=url.raw_scheme, host=url.raw_host, port=url.port, target=url.raw_path
            ),
            headers=request.headers.raw,
            content=request.stream,
            extensions=request.extensions,
        )
        connection = await self._checkout(key, origin)
        try:
            with _as_httpx_errors():
                response = await connection.handle_async_request(core_request)
        except BaseException:
            await connection.aclose()
            raise
        assert isinstance(response.stream, AsyncIterable)
        return httpx.Response(
            status_code=response.status,
            headers=response.headers,
            stream=_Body(self, key, connection, response.stream),
            extensions=response.extensions,
        )

    async def aclose(self) -> None:
        self._closed = True
        idle, self._idle = self._idle, {}
        for connections in idle.values():
            for connection, _ in connections:
                await connection.aclose()


def _default_port(url: httpx.URL) -> int:
    return 443 if url.raw_scheme == b"https" else 80


class _Body(httpx.AsyncByteStream):
    """A reply's body; closing it gives the connection back to the pool."""

    def __init__(
        self,
        pool: LifoPool,
        key: _Key,
        connection: httpcore.AsyncHTTPConnection,
        stream: AsyncIterable[bytes],
    ) -> None:
        self._pool = pool
        self._key = key
        self._connection = connection
        self._stream = stream
        self._done = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        with _as_httpx_errors():
            async for part in self._stream:
                yield part

    async def aclose(self) -> None:
        if self._done:
            return
        self._done = True
        try:
            close = getattr(self._stream, "aclose", None)
            if close is not None:
                with _as_httpx_errors():
                    await close()
        finally:
            await self._pool._checkin(self._key, self._connection)
