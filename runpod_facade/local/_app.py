"""The ASGI application: routing, auth, validation, fault injection and the request log.

Routes are ``/v2/{endpoint_id}/{operation}[/{job_id}]`` exactly as in
``openapi/runpod-serverless.yaml``; every error is a JSON ``{"error": "..."}`` body.
Responses are written with Starlette's response classes; routing is done by hand because the
contract's error replies (404/405/413 as JSON, ``Allow`` headers) are simpler to keep exact
that way.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import threading
import time
from collections.abc import Mapping
from typing import Any, Final
from urllib.parse import parse_qsl, unquote

import httpx
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from . import _limits
from ._engine import Engine, EngineClosed
from ._faults import PRE_KINDS, Fault, FaultSet
from ._records import RequestLog, RequestRecord, WebhookAttempt
from ._validation import BadRequest, parse_job_request, parse_ms_query

__all__ = ["ABORT_EXTENSION", "ConnectionDropped", "LocalEndpointApp"]

_log = logging.getLogger("runpod_facade.local")

#: ASGI scope extension through which the server lets the app abort the TCP connection.
ABORT_EXTENSION: Final = "runpod_facade.abort_connection"

_ENDPOINT_OPERATIONS: Final[Mapping[str, tuple[str, ...]]] = {
    "run": ("POST",),
    "runsync": ("POST",),
    "purge-queue": ("POST",),
    "health": ("GET",),
}
# status, status-sync and stream accept POST too: the official Go SDK sends POST.
_JOB_OPERATIONS: Final[Mapping[str, tuple[str, ...]]] = {
    "status": ("GET", "POST"),
    "status-sync": ("GET", "POST"),
    "stream": ("GET", "POST"),
    "cancel": ("POST",),
    "retry": ("POST",),
}
# A client that overshoots the limit by more than this is not drained before the 413.
_DRAIN_CAP_BYTES: Final = 64 * 1024 * 1024

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


def _match(path: str) -> tuple[str, str, str | None] | None:
    """``(operation, endpoint_id, job_id)`` for a contract path, else ``None``."""
    if not path.startswith("/v2/"):
        return None
    parts = [unquote(part) for part in path[4:].split("/")]
    if len(parts) == 2 and parts[1] in _ENDPOINT_OPERATIONS and parts[0]:
        return parts[1], parts[0], None
    if len(parts) == 3 and parts[1] in _JOB_OPERATIONS and parts[0] and parts[2]:
        return parts[1], parts[0], parts[2]
    return None


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return bytes(value).decode("latin-1")
    return None


class LocalEndpointApp:
    """ASGI app serving the RunPod serverless job API on top of an :class:`Engine`.

    Use :func:`runpod_facade.local.create_app` to build one. Outside a server (e.g. with
    ``httpx.ASGITransport``) the engine starts on the first request; call :meth:`close` (or
    ``await aclose()``) when done. Under a server, the ASGI lifespan starts and stops it.
    """

    def __init__(
        self,
        engine: Engine,
        *,
        api_key: str | None,
        endpoint_id: str | None,
        faults: FaultSet,
        request_log: RequestLog | None = None,
    ) -> None:
        self.engine = engine
        self.api_key = api_key
        #: ``None`` accepts any endpoint id; otherwise other ids get 404.
        self.endpoint_id = endpoint_id
        self.faults = faults
        self.request_log = request_log if request_log is not None else RequestLog()
        self._closing = threading.Event()

    # ----------------------------------------------------------------- public helpers

    @property
    def requests(self) -> list[RequestRecord]:
        """Every request received so far, oldest first."""
        return self.request_log.snapshot()

    @property
    def webhook_attempts(self) -> list[WebhookAttempt]:
        """Every webhook POST made so far, oldest first."""
        return self.engine.webhook_attempts

    def begin_shutdown(self) -> None:
        """Release hung requests and long-polls so that a server can stop quickly."""
        self._closing.set()
        self.engine.begin_close()

    def close(self) -> None:
        """Stop the engine (workers, running jobs, webhooks); idempotent."""
        self.begin_shutdown()
        self.engine.close()

    async def aclose(self) -> None:
        """:meth:`close` without blocking the event loop."""
        await asyncio.to_thread(self.close)

    # ----------------------------------------------------------------- ASGI

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif scope["type"] == "http":
            await self._http(scope, receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    self._closing.clear()
                    self.engine.start()
                except Exception as exc:
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        raw_path = scope.get("raw_path")
        path = raw_path.decode("latin-1").split("?", 1)[0] if raw_path else scope["path"]
        exchange = RequestRecord(
            method=scope["method"],
            path=path,
            query=bytes(scope.get("query_string", b"")).decode("latin-1"),
            timestamp=time.time(),
        )
        # Logged on arrival so that a test sees even a request that never gets a reply.
        self.request_log.append(exchange)
        await self._dispatch(scope, receive, send, exchange)

    async def _dispatch(
        self, scope: Scope, receive: Receive, send: Send, exchange: RequestRecord
    ) -> None:
        matched = _match(exchange.path)
        if matched is None:
            await self._send_json(send, exchange, 404, {"error": f"no route {exchange.path}"})
            return
        operation, endpoint_id, job_id = matched
        exchange.operation, exchange.endpoint_id, exchange.job_id = operation, endpoint_id, job_id
        allowed = _ENDPOINT_OPERATIONS.get(operation) or _JOB_OPERATIONS[operation]
        if exchange.method not in allowed:
            await self._send_json(
                send,
                exchange,
                405,
                {"error": f"method {exchange.method} not allowed on /{operation}"},
                headers={"allow": ", ".join(allowed)},
            )
            return

        fault = self.faults.pick(operation)
        if fault is not None:
            exchange.fault = fault.kind
            if fault.kind in PRE_KINDS and await self._pre_fault(
                fault, scope, receive, send, exchange
            ):
                return

        if not self._authorized(scope):
            await self._send_json(
                send,
                exchange,
                401,
                {"error": "Unauthorized: missing or invalid API key"},
                headers={"www-authenticate": "Bearer"},
            )
            return
        if self.endpoint_id is not None and endpoint_id != self.endpoint_id:
            await self._send_json(
                send, exchange, 404, {"error": f"endpoint {endpoint_id} not found"}
            )
            return

        query = dict(parse_qsl(exchange.query, keep_blank_values=True))
        try:
            status, body = await self._operate(operation, job_id, query, scope, receive, exchange)
        except BadRequest as exc:
            status, body = exc.status, {"error": exc.message}
        except EngineClosed as exc:
            status, body = 503, {"error": str(exc)}
        if fault is not None and fault.kind not in PRE_KINDS:
            await self._post_fault(fault, status, body, scope, receive, send, exchange)
        else:
            await self._send_json(send, exchange, status, body)

    async def _operate(
        self,
        operation: str,
        job_id: str | None,
        query: Mapping[str, str],
        scope: Scope,
        receive: Receive,
        exchange: RequestRecord,
    ) -> tuple[int, dict[str, Any]]:
        engine = self.engine
        not_found = (404, {"error": f"job {job_id} not found"})
        if operation in ("run", "runsync"):
            wait_ms = parse_ms_query(
                query,
                "wait",
                _limits.DEFAULT_RUNSYNC_WAIT_MS,
                _limits.WAIT_MIN_MS,
                _limits.WAIT_MAX_MS,
            )
            limit = (
                _limits.MAX_RUN_PAYLOAD_BYTES
                if operation == "run"
                else _limits.MAX_RUNSYNC_PAYLOAD_BYTES
            )
            spec = parse_job_request(await _read_body(scope, receive, limit))
            if operation == "run":
                reply = await engine.call(engine.submit(spec, sync=False))
            else:
                assert wait_ms is not None
                submitted = await engine.call(engine.run_sync(spec, wait_ms / 1000))
                if submitted is None:
                    return 404, {"error": "job expired before it finished"}
                reply = submitted
            exchange.job_id = reply["id"]
            return 200, reply
        if operation == "health":
            return 200, await engine.call(engine.health())
        if operation == "purge-queue":
            return 200, await engine.call(engine.purge_queue())
        assert job_id is not None
        result: dict[str, Any] | None
        if operation == "status":
            ttl_ms = parse_ms_query(query, "ttl", None, _limits.STATUS_TTL_MIN_MS, None)
            result = await engine.call(engine.status(job_id, ttl_ms))
        elif operation == "status-sync":
            wait_ms = parse_ms_query(
                query,
                "wait",
                _limits.DEFAULT_RUNSYNC_WAIT_MS,
                _limits.WAIT_MIN_MS,
                _limits.WAIT_MAX_MS,
            )
            assert wait_ms is not None
            result = await engine.call(engine.status_sync(job_id, wait_ms / 1000))
        elif operation == "stream":
            wait_ms = parse_ms_query(
                query,
                "wait",
                _limits.DEFAULT_STREAM_WAIT_MS,
                _limits.WAIT_MIN_MS,
                _limits.WAIT_MAX_MS,
            )
            assert wait_ms is not None
            result = await engine.call(engine.stream(job_id, wait_ms / 1000))
        elif operation == "cancel":
            result = await engine.call(engine.cancel(job_id))
        else:
            result = await engine.call(engine.retry(job_id))
        return (200, result) if result is not None else not_found

    def _authorized(self, scope: Scope) -> bool:
        if self.api_key is None:
            return True
        value = _header(scope, b"authorization")
        if value is None:
            return False
        # The docs' curl samples send the raw key; every SDK sends "Bearer <key>".
        token = value[7:] if value[:7].lower() == "bearer " else value
        return hmac.compare_digest(token.strip().encode(), self.api_key.encode())

    # ----------------------------------------------------------------- faults

    async def _pre_fault(
        self, fault: Fault, scope: Scope, receive: Receive, send: Send, exchange: RequestRecord
    ) -> bool:
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
                await self._send_raw(
                    send, exchange, fault.status_code, fault.body.encode(), "text/plain", headers
                )
            else:
                message = f"injected fault: HTTP {fault.status_code}"
                await self._send_json(
                    send, exchange, fault.status_code, {"error": message}, headers
                )
        elif kind == "html":
            page = (
                fault.body
                if fault.body is not None
                else _HTML_PAGE.format(status=fault.status_code)
            )
            await self._send_raw(
                send, exchange, fault.status_code, page.encode(), "text/html; charset=utf-8"
            )
        elif kind == "empty":
            await self._send_raw(send, exchange, fault.status_code, b"", "application/json")
        elif kind == "hang":
            await self._hang(scope, receive)
        elif kind == "drop":
            await self._drop(scope, receive)
        return True

    async def _post_fault(
        self,
        fault: Fault,
        status: int,
        body: dict[str, Any],
        scope: Scope,
        receive: Receive,
        send: Send,
        exchange: RequestRecord,
    ) -> None:
        """Apply a fault that acts on the reply of a request that was processed."""
        kind = fault.kind
        if kind == "drop_after":
            await self._drop(scope, receive)
            return
        if kind == "unknown_status" and "status" in body:
            body = {**body, "status": fault.status_value}
        elif kind == "missing_fields":
            body = {key: value for key, value in body.items() if key not in fault.fields}
        elif kind == "extra_fields":
            body = {**body, **fault.extra}
        payload = _dumps(body)
        if kind == "truncated":
            # Any proper prefix of a JSON object is invalid JSON.
            await self._send_raw(
                send, exchange, status, payload[: len(payload) // 2], "application/json"
            )
        elif kind == "drop_mid_body":
            await send(
                {
                    "type": "http.response.start",
                    "status": status,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", str(len(payload)).encode()),
                    ],
                }
            )
            await send(
                {
                    "type": "http.response.body",
                    "body": payload[: len(payload) // 2],
                    "more_body": True,
                }
            )
            await self._drop(scope, receive)
        else:
            await self._send_raw(send, exchange, status, payload, "application/json")

    async def _sleep(self, seconds: float) -> None:
        # Poll the shutdown flag so that a stopping server is not held up by a delay fault.
        deadline = time.monotonic() + seconds
        # The flag is a threading.Event (set from the thread that stops the server).
        while not self._closing.is_set() and (left := deadline - time.monotonic()) > 0:  # noqa: ASYNC110
            await asyncio.sleep(min(left, 0.05))

    async def _hang(self, scope: Scope, receive: Receive) -> None:
        """Never answer: return when the client disconnects; drop if the server stops first."""
        while not self._closing.is_set():
            try:
                message = await asyncio.wait_for(receive(), 0.1)
            except TimeoutError:
                continue
            if message["type"] == "http.disconnect":
                return
        await self._drop(scope, receive)

    async def _drop(self, scope: Scope, receive: Receive) -> None:
        abort = (scope.get("extensions") or {}).get(ABORT_EXTENSION)
        if abort is None:
            raise ConnectionDropped("injected fault: connection dropped by the local endpoint")
        abort()
        # Wait until the server has seen the connection go, so that it does not answer with
        # a 500 of its own for a request the app "forgot" to answer.
        try:
            async with asyncio.timeout(1.0):
                while (await receive())["type"] != "http.disconnect":
                    pass
        except TimeoutError:
            _log.debug("no disconnect event after aborting the connection")

    # ----------------------------------------------------------------- replies

    async def _send_json(
        self,
        send: Send,
        exchange: RequestRecord,
        status: int,
        body: Any,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        await self._send_raw(send, exchange, status, _dumps(body), "application/json", headers)

    async def _send_raw(
        self,
        send: Send,
        exchange: RequestRecord,
        status: int,
        payload: bytes,
        content_type: str,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        response = Response(payload, status_code=status, media_type=content_type, headers=headers)
        exchange.status_code = status
        await response({"type": "http"}, _no_receive, send)


async def _no_receive() -> dict[str, Any]:
    # Response.__call__ only calls receive for disconnect detection in streaming responses.
    return {"type": "http.disconnect"}


def _dumps(body: Any) -> bytes:
    return json.dumps(body, separators=(",", ":"), allow_nan=False).encode()


async def _read_body(scope: Scope, receive: Receive, limit: int) -> bytes:
    """Read the request body; 413 when it exceeds ``limit`` bytes."""
    declared = _header(scope, b"content-length")
    size_declared = int(declared) if declared is not None and declared.isdigit() else None
    too_large = size_declared is not None and size_declared > limit
    if size_declared is not None and size_declared > _DRAIN_CAP_BYTES:
        # Too big to be worth draining: answer at once (the server then closes the connection).
        raise BadRequest(f"payload too large: the limit is {limit} bytes", status=413)
    chunks: list[bytes] = []
    size = 0
    more = True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            if too_large:
                break
            raise BadRequest("client disconnected before sending the whole body")
        chunk = message.get("body", b"")
        size += len(chunk)
        more = bool(message.get("more_body", False))
        if size > limit:
            too_large = True
        if too_large:
            # Keep reading (up to a cap) so the client gets the 413 instead of a broken pipe.
            if size > _DRAIN_CAP_BYTES:
                break
            continue
        chunks.append(chunk)
    if too_large:
        raise BadRequest(f"payload too large: the limit is {limit} bytes", status=413)
    return b"".join(chunks)
