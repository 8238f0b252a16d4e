"""Applying an armed :class:`~._faults.Fault` to one request (see :mod:`._faults` for the kinds).

``before`` runs ahead of auth and processing (kinds in ``PRE_KINDS``: no state changes);
``after`` replaces the reply of a request that was processed.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from typing import Any, Final

import httpx

from ._faults import Fault
from ._http import Exchange, dumps

__all__ = ["ABORT_EXTENSION", "ConnectionDropped", "FaultInjector"]

_log = logging.getLogger("runpod_facade.local")

#: ASGI scope extension through which the server lets the app abort the TCP connection.
ABORT_EXTENSION: Final = "runpod_facade.abort_connection"

_HTML_PAGE: Final = (
    "<!DOCTYPE html>\n<html><head><title>{status} Error</title></head>"
    "<body><h1>{status} Error</h1><p>The upstream server returned an error"
    " (injected by runpod_facade.local).</p></body></html>\n"
)


class ConnectionDropped(httpx.RemoteProtocolError):
    """Raised in-process (no server to drop a socket) when a drop fault fires.

    ``httpx.ASGITransport`` re-raises it, so an in-process client sees a
    :class:`httpx.RemoteProtocolError` just as it would over a real dropped connection.
    """


class FaultInjector:
    """Acts out faults; ``closing`` (set when the server stops) cuts delays and hangs short."""

    def __init__(self, closing: threading.Event) -> None:
        self._closing = closing

    async def before(self, fault: Fault, exchange: Exchange) -> bool:
        """Apply a fault that acts before processing; ``True`` if the request is finished."""
        kind = fault.kind
        if kind == "delay":
            await self._sleep(fault.delay)
            return False
        if kind == "http_error":
            headers = {}
            if (retry_after := fault.retry_after_header) is not None:
                headers["retry-after"] = retry_after
            if fault.body is not None:
                await exchange.reply_raw(
                    fault.status_code, fault.body.encode(), "text/plain", headers
                )
            else:
                message = f"injected fault: HTTP {fault.status_code}"
                await exchange.reply_json(fault.status_code, {"error": message}, headers)
        elif kind == "html":
            page = (
                fault.body
                if fault.body is not None
                else _HTML_PAGE.format(status=fault.status_code)
            )
            await exchange.reply_raw(fault.status_code, page.encode(), "text/html; charset=utf-8")
        elif kind == "empty":
            await exchange.reply_raw(fault.status_code, b"", "application/json")
        elif kind == "hang":
            await self._hang(exchange)
        elif kind == "drop":
            await self.drop(exchange)
        return True

    async def after(
        self, fault: Fault, status: int, body: dict[str, Any], exchange: Exchange
    ) -> None:
        """Send the reply of a processed request as ``fault`` spoils it."""
        kind = fault.kind
        if kind == "drop_after":
            await self.drop(exchange)
            return
        if kind == "unknown_status" and "status" in body:
            body = {**body, "status": fault.status_value}
        elif kind == "missing_fields":
            body = {key: value for key, value in body.items() if key not in fault.fields}
        elif kind == "extra_fields":
            body = {**body, **fault.extra}
        payload = dumps(body)
        if kind == "truncated":
            # Any proper prefix of a JSON object is invalid JSON.
            await exchange.reply_raw(status, payload[: len(payload) // 2], "application/json")
        elif kind == "drop_mid_body":
            await exchange.send(
                {
                    "type": "http.response.start",
                    "status": status,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", str(len(payload)).encode()),
                    ],
                }
            )
            await exchange.send_piece(payload[: len(payload) // 2])
            await self.drop(exchange)
        else:
            await exchange.reply_raw(status, payload, "application/json")

    async def _sleep(self, seconds: float) -> None:
        # Poll the shutdown flag so that a stopping server is not held up by a delay fault.
        deadline = time.monotonic() + seconds
        # The flag is a threading.Event (set from the thread that stops the server).
        while not self._closing.is_set() and (left := deadline - time.monotonic()) > 0:  # noqa: ASYNC110
            await asyncio.sleep(min(left, 0.05))

    async def _hang(self, exchange: Exchange) -> None:
        """Never answer: return when the client disconnects; drop if the server stops first."""
        while not self._closing.is_set():
            try:
                message = await asyncio.wait_for(exchange.receive(), 0.1)
            except TimeoutError:
                continue
            if message["type"] == "http.disconnect":
                return
        await self.drop(exchange)

    async def drop(self, exchange: Exchange) -> None:
        """Close the connection without (the rest of) a reply."""
        abort = (exchange.scope.get("extensions") or {}).get(ABORT_EXTENSION)
        if abort is None:
            raise ConnectionDropped("injected fault: connection dropped by the local endpoint")
        abort()
        # Wait until the server has seen the connection go, so that it does not answer with
        # a 500 of its own for a request the app "forgot" to answer.
        try:
            async with asyncio.timeout(1.0):
                while (await exchange.receive())["type"] != "http.disconnect":
                    pass
        except TimeoutError:
            _log.debug("no disconnect event after aborting the connection")
