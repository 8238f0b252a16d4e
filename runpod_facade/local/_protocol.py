"""A uvicorn HTTP protocol that lets the app drop the TCP connection (for fault injection).

ASGI has no way to close a connection without answering: an app that returns without a
response gets a 500 from the server. This subclass of uvicorn's h11 protocol adds an ASGI scope
extension, :data:`ABORT_EXTENSION`, holding a callable that aborts the socket, so the client
sees the connection vanish (``httpx.RemoteProtocolError`` or ``httpx.ReadError``) with no reply.
"""

from __future__ import annotations

from typing import Any

from starlette.types import Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol

from ._inject import ABORT_EXTENSION

__all__ = ["AbortableH11Protocol"]


class AbortableH11Protocol(H11Protocol):
    """uvicorn's h11 protocol plus the :data:`ABORT_EXTENSION` scope extension."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        inner = self.app

        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            extensions = dict(scope.get("extensions") or {})
            extensions[ABORT_EXTENSION] = self._abort_connection
            scope["extensions"] = extensions
            await inner(scope, receive, send)

        self.app = app

    def _abort_connection(self) -> None:
        # abort() discards buffered output and closes at once; connection_lost follows.
        self.transport.abort()
