"""A raw TCP server on loopback that misbehaves at a chosen phase of an HTTP exchange.

It runs on its own event loop in a background thread (so blocking and asyncio clients alike
can use it), counts the connections it accepts and the requests whose head it read, and
hands each connection to a ``Behaviour``: a coroutine that reads as much of the request as
it likes and then answers, stalls or drops the connection.
"""

from __future__ import annotations

import asyncio
import json
import socket
import ssl
import struct
import threading
import urllib.parse
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

Behaviour = Callable[["Exchange"], Awaitable[None]]


@dataclass
class Request:
    method: str
    target: str
    headers: list[tuple[str, str]]
    body: bytes = b""

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return None


@dataclass
class Exchange:
    """One accepted connection, as the behaviour sees it."""

    server: RawServer
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter

    async def read_head(self) -> Request:
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        method, target, _ = lines[0].split(" ", 2)
        headers = []
        for line in lines[1:]:
            if line:
                name, _, value = line.partition(":")
                headers.append((name.strip(), value.strip()))
        request = Request(method, target, headers)
        self.server.heads.append(request)
        return request

    async def read_body(self, request: Request) -> Request:
        length = int(request.header("content-length") or 0)
        request.body = await self.reader.readexactly(length)
        self.server.bodies += 1
        return request

    async def read_request(self) -> Request:
        return await self.read_body(await self.read_head())

    def send(self, data: bytes) -> None:
        self.writer.write(data)

    async def reply(self, status: int, payload: Any) -> None:
        body = json.dumps(payload).encode()
        self.send(
            b"HTTP/1.1 %d X\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n"
            % (status, len(body))
            + body
        )
        await self.writer.drain()

    def close(self) -> None:
        """FIN: an orderly close."""
        self.writer.close()

    def reset(self) -> None:
        """RST: close with SO_LINGER 0, so the peer sees ECONNRESET."""
        sock = self.writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.writer.transport.abort()

    async def hold(self) -> None:
        """Keep the connection open, saying nothing, until the server stops."""
        await self.server.stopping.wait()


@dataclass
class RawServer:
    """``rcvbuf`` shrinks the receive buffer of accepted sockets (so an unread upload stalls);
    ``tls`` serves HTTPS with that server context."""

    behaviour: Behaviour
    rcvbuf: int | None = None
    tls: ssl.SSLContext | None = None
    accepts: int = 0
    heads: list[Request] = field(default_factory=list)
    bodies: int = 0

    def __post_init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.stopping = asyncio.Event()

    @property
    def base_url(self) -> str:
        scheme = "http" if self.tls is None else "https"
        return f"{scheme}://127.0.0.1:{self.port}/v2"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepts += 1
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        exchange = Exchange(self, reader, writer)
        try:
            await self.behaviour(exchange)
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    async def _start(self) -> None:
        self.stopping = asyncio.Event()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if self.rcvbuf is not None:  # inherited by accepted sockets
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self.rcvbuf)
        sock.bind(("127.0.0.1", 0))
        self._server = await asyncio.start_server(self._handle, sock=sock, ssl=self.tls)
        self.port = sock.getsockname()[1]

    def __enter__(self) -> RawServer:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    def __exit__(self, *exc: object) -> None:
        async def stop() -> None:
            self.stopping.set()
            assert self._server is not None
            self._server.close()
            await asyncio.sleep(0.05)
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()


def job_reply(request: Request) -> dict[str, Any]:
    """A plausible reply to ``request``: a queued job for a submit, a finished one otherwise."""
    path = request.target.split("?")[0]
    if path.endswith(("/run", "/runsync")):
        return {"id": "job-raw-1", "status": "IN_QUEUE"}
    if path.endswith("/health"):
        return {"jobs": {}, "workers": {"idle": 1}}
    job_id = urllib.parse.unquote(path.rsplit("/", 1)[-1])
    return {"id": job_id, "status": "COMPLETED", "output": 1}
