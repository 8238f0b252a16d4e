"""A uvicorn server on a port of this machine, run in a daemon thread: what
:class:`~runpod_facade.local.LocalEndpoint` and
:class:`~runpod_facade.local.LocalLoadBalancer` share — bind, start, stop, and ``with`` /
``async with`` blocks around them."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from types import TracebackType
from typing import Self

import uvicorn

__all__ = ["KEEP_ALIVE_S", "BackgroundServer"]

#: Seconds the local servers keep an idle HTTP/1.1 connection open (uvicorn's
#: ``timeout_keep_alive``, 5 by default). Longer than the idle expiry of the clients' pools —
#: the façade's and httpx's 5 s, aiohttp's 15 s (runpod-python's session) — so such a client
#: always drops an idle connection before the server does. At 5 s the server closed
#: connections exactly as a client took them from its pool to send the next request, and
#: that request failed with a reset or "server disconnected" (benchmarks/local_resets.py).
KEEP_ALIVE_S = 60


class BackgroundServer:
    """Serves :meth:`_config`'s app from a daemon thread. A subclass sets ``host``, ``port``
    (0: a free one) and ``_startup_timeout_s``, calls :meth:`_init_server`, and may hook
    :meth:`_before_stop` (release hung requests) and :meth:`_after_stop` (stop workers)."""

    host: str
    port: int
    _startup_timeout_s: float
    #: How the server's thread is named and what a failed start says it was.
    _thread_name = "runpod-local-server"
    _what = "the local endpoint"

    def _init_server(self) -> None:
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None

    def _config(self) -> uvicorn.Config:
        raise NotImplementedError

    def _before_stop(self) -> None:
        """Called first by :meth:`stop`."""

    def _after_stop(self) -> None:
        """Called by :meth:`stop` once the server's thread has ended."""

    def start(self) -> Self:
        """Bind the port and start serving; returns when the server accepts connections."""
        if self._thread is not None:
            raise RuntimeError(f"{type(self).__name__} already started")
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        # proto=IPPROTO_TCP: asyncio only sets TCP_NODELAY on accepted sockets whose proto says
        # TCP; without it keep-alive requests stall ~40 ms on Nagle + delayed ACK.
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, self.port))
        except OSError:
            sock.close()
            raise
        self._socket = sock
        self.port = sock.getsockname()[1]
        server = uvicorn.Server(self._config())
        self._server = server
        self._thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name=self._thread_name, daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + self._startup_timeout_s
        while not server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"{self._what} failed to start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        """Stop serving (hung requests are released first); idempotent."""
        self._before_stop()
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(10.0)
        self._after_stop()
        if self._socket is not None:
            with contextlib.suppress(OSError):
                self._socket.close()
        self._server = None
        self._socket = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    async def __aenter__(self) -> Self:
        return await asyncio.to_thread(self.start)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await asyncio.to_thread(self.stop)
