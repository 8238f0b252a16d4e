"""The router of a local load-balancing endpoint: an ASGI app that runs a user's ASGI app as a
pool of simulated workers and behaves as RunPod's load balancer does (``docs/load-balancing.md``).

Per request: faults that act first; bearer auth (401); the 30 MB request limit (413); the
``X-Runpod-Worker-Id`` affinity header; a worker from the pool (waiting through cold starts up
to ``no_worker_wait``, then 400 "no workers available"); the app's reply, passed through with
``X-Runpod-Worker-Id`` added, or 524 when its headers take longer than ``processing_limit``.
``GET /ping`` answers 204 itself while every worker is still initializing.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import threading
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..._exceptions import InvalidInputError
from ..._loadbalancing.affinity import Affinity
from ..._loadbalancing.core import MAX_PAYLOAD_BYTES
from .._inject import ABORT_EXTENSION
from ._faults import LBFault, LBFaultSet
from ._lifespan import Lifespan
from ._pool import Pool, Worker

__all__ = ["LBRecord", "LoadBalancerApp"]

_WORKER_HEADER = b"x-runpod-worker-id"
_REFUSALS = {
    "no_workers": (400, {"error": "no workers available"}),
    "affinity_worker_gone": (404, {"error": "affinity_worker_gone"}),
    "worker_timeout": (400, {"error": "worker_timeout", "reason": "timed out waiting for worker"}),
}
_HTML = "<html><body><h1>{status} Error</h1><p>injected by runpod_facade.local</p></body></html>"


@dataclass
class LBRecord:
    """One request the router received: who served it and how it ended (``status_code`` is
    ``None`` while in flight, or when the reply was dropped; 499 when the client left)."""

    method: str
    path: str
    worker_id: str | None = None
    affinity: str | None = None
    status_code: int | None = None
    fault: str | None = None


class _Gone(Exception):
    """The client disconnected while the request waited for a worker."""


class LoadBalancerApp:
    """See the module docstring; :class:`LocalLoadBalancer` serves it on a loopback port."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        workers: int = 1,
        api_key: str | None = None,
        cold_start: float = 0.0,
        capacity: int = 16,
        no_worker_wait: float = 120.0,
        affinity_wait: float = 300.0,
        processing_limit: float = 330.0,
        max_request_bytes: int = MAX_PAYLOAD_BYTES,
        max_response_bytes: int = MAX_PAYLOAD_BYTES,
        faults: Iterable[LBFault] = (),
        fault_seed: int | None = 0,
    ) -> None:
        if workers < 0 or capacity < 1:
            raise ValueError("workers must be >= 0 and capacity >= 1")
        for name, value in (
            ("cold_start", cold_start),
            ("no_worker_wait", no_worker_wait),
            ("affinity_wait", affinity_wait),
            ("processing_limit", processing_limit),
        ):
            if not value >= 0:
                raise ValueError(f"{name} must be >= 0 seconds")
        self.app = app
        self.api_key = api_key
        self.pool = Pool(workers, cold_start=cold_start, capacity=capacity)
        self.no_worker_wait = no_worker_wait
        self.affinity_wait = affinity_wait
        self.processing_limit = processing_limit
        self.max_request_bytes = max_request_bytes
        self.max_response_bytes = max_response_bytes
        self.faults = LBFaultSet(faults, seed=fault_seed)
        self._lifespan = Lifespan(app)
        self._records: list[LBRecord] = []
        self._records_lock = threading.Lock()
        self.closing = threading.Event()
        # Set on the server's loop when it stops: requests still running are dropped then,
        # as by a worker that goes away, instead of being cancelled by uvicorn (which logs
        # each as an ASGI exception after its graceful-shutdown timeout).
        self._stopping: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    # ------------------------------------------------------------------ records

    @property
    def requests(self) -> list[LBRecord]:
        with self._records_lock:
            return list(self._records)

    def clear_requests(self) -> None:
        with self._records_lock:
            self._records.clear()

    def _record(self, scope: Scope) -> LBRecord:
        record = LBRecord(scope["method"], scope["path"])
        with self._records_lock:
            self._records.append(record)
        return record

    # ------------------------------------------------------------------ ASGI

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan_events(receive, send)
        elif scope["type"] == "http":
            await self._http(scope, receive, send)
        # Other scopes (websocket) are not simulated: returning closes them.

    async def _lifespan_events(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self._loop = asyncio.get_running_loop()
                self._stopping = asyncio.Event()
                self.pool.start(self._loop)
                error = await self._lifespan.startup()
                if error is None:
                    await send({"type": "lifespan.startup.complete"})
                else:
                    await send({"type": "lifespan.startup.failed", "message": error})
                    return
            elif message["type"] == "lifespan.shutdown":
                await self._lifespan.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return

    def release_requests(self) -> None:
        """Drop every request still running (thread-safe): the server is stopping."""
        loop, stopping = self._loop, self._stopping
        if loop is not None and stopping is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(stopping.set)

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        record = self._record(scope)
        headers = {k.lower(): v for k, v in scope.get("headers", ())}
        fault = self.faults.pick(scope["method"], scope["path"])
        if fault is not None:
            record.fault = fault.kind
            if fault.kind != "drop_after" and await self._before(
                fault, scope, receive, send, record
            ):
                return
        if self.api_key is not None and not _bearer_ok(headers.get(b"authorization"), self.api_key):
            await _reply(send, record, 401, {"error": "unauthorized"})
            return
        declared = headers.get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.max_request_bytes:
            await _reply(send, record, 413, {"error": "request body exceeds the 30 MB limit"})
            return
        body = await self._read_body(receive)
        if body is None:
            await _reply(send, record, 413, {"error": "request body exceeds the 30 MB limit"})
            return
        raw_pin = headers.get(_WORKER_HEADER, b"").decode("latin-1").strip()
        record.affinity = raw_pin or None
        try:
            pin = Affinity.parse(raw_pin) if raw_pin else None
        except InvalidInputError:
            await _reply(send, record, 400, {"error": "invalid X-Runpod-Worker-Id"})
            return
        health = self.pool.ping_status() if scope["path"] == "/ping" and pin is None else None
        if health is not None and health[0] == 204:
            # A worker is initializing: as its own /ping would, with its id like any reply.
            record.worker_id = health[1]
            await _reply(send, record, 204, None, health[1])
            return
        try:
            choice = await self._acquire(pin, receive)
        except _Gone:
            record.status_code = 499
            return
        if not isinstance(choice, Worker):
            status, payload = _REFUSALS[choice]
            worker = pin.worker_id if pin is not None and choice != "no_workers" else None
            await _reply(send, record, status, payload, worker)
            return
        record.worker_id = choice.id
        released = False

        def release() -> None:
            nonlocal released
            if not released:
                released = True
                self.pool.release(choice)

        try:
            await self._dispatch(choice, scope, body, receive, send, record, fault, release)
        finally:
            release()

    async def _acquire(self, pin: Affinity | None, receive: Receive) -> Worker | str:
        """A worker for the request, unless the client goes away while it waits."""
        waiting = asyncio.ensure_future(
            self.pool.acquire(
                pin, no_worker_wait=self.no_worker_wait, affinity_wait=self.affinity_wait
            )
        )
        if waiting.done():
            return waiting.result()
        gone = asyncio.ensure_future(_disconnected(receive))
        await asyncio.wait((waiting, gone), return_when=asyncio.FIRST_COMPLETED)
        gone.cancel()
        if waiting.done():
            return waiting.result()
        waiting.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            choice = await waiting
            if isinstance(choice, Worker):
                self.pool.release(choice)
        raise _Gone

    async def _read_body(self, receive: Receive) -> bytes | None:
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return b"".join(chunks)
            piece = message.get("body", b"")
            size += len(piece)
            if size > self.max_request_bytes:
                return None
            chunks.append(piece)
            if not message.get("more_body", False):
                return b"".join(chunks)

    async def _dispatch(
        self,
        worker: Worker,
        scope: Scope,
        body: bytes,
        receive: Receive,
        send: Send,
        record: LBRecord,
        fault: LBFault | None,
        finished: Callable[[], None],
    ) -> None:
        """Run the app for one request on ``worker`` and pass its reply through; call
        ``finished`` (the worker counts it as served) just before the reply's last bytes go."""
        inner_scope = dict(scope)
        inner_scope["state"] = dict(self._lifespan.state)
        delivered = False
        started = asyncio.Event()
        sent_bytes = 0
        drop = fault is not None and fault.kind == "drop_after"
        worker_header = (_WORKER_HEADER, worker.id.encode())
        overflow = False

        async def app_receive() -> Message:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        async def app_send(message: Message) -> None:
            nonlocal sent_bytes, overflow
            if message["type"] == "http.response.start":
                kept = [h for h in message.get("headers", ()) if h[0].lower() != _WORKER_HEADER]
                message = {**message, "headers": [*kept, worker_header]}
                record.status_code = message["status"]
                started.set()
            elif message["type"] == "http.response.body":
                sent_bytes += len(message.get("body", b""))
                if sent_bytes > self.max_response_bytes:
                    overflow = True
            if drop or overflow:
                return  # the reply is lost; the connection is aborted below
            if message["type"] == "http.response.body" and not message.get("more_body"):
                finished()  # before the client can have the whole reply and read the count
            await send(message)

        task = asyncio.ensure_future(self.app(inner_scope, app_receive, app_send))
        if not await self._first_of(task, started.wait(), timeout=self.processing_limit):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
            await _reply(send, record, 524, {"error": "processing timeout"}, worker.id)
            return
        await self._first_of(task)  # the reply has started: it may take its time
        if not task.done():  # the server is stopping
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
            record.status_code = None
            await _drop(scope, receive)
            return
        try:
            await task
        except Exception:
            if not started.is_set():
                await _reply(send, record, 500, {"error": "the worker's app raised"}, worker.id)
                return
            overflow = True
        if drop or overflow:
            record.status_code = None
            await _drop(scope, receive)

    async def _first_of(
        self, task: asyncio.Future[Any], *others: Awaitable[Any], timeout: float | None = None
    ) -> bool:
        """Wait until ``task`` ends, one of ``others`` does or the server stops; ``False``
        when ``timeout`` passed first."""
        waiters = [asyncio.ensure_future(other) for other in others]
        if self._stopping is not None:
            waiters.append(asyncio.ensure_future(self._stopping.wait()))
        done, _ = await asyncio.wait(
            (task, *waiters), timeout=timeout, return_when=asyncio.FIRST_COMPLETED
        )
        for waiter in waiters:
            waiter.cancel()
        return bool(done)

    async def _before(
        self, fault: LBFault, scope: Scope, receive: Receive, send: Send, record: LBRecord
    ) -> bool:
        """Act out a fault that comes before any worker; ``True`` when the request is done."""
        kind = fault.kind
        if kind == "delay":
            await self._sleep(fault.delay)
            return False
        if kind == "http_error":
            await _reply(send, record, fault.status or 500, {"error": fault.body or "injected"})
        elif kind == "no_workers":
            await _reply(send, record, 400, _REFUSALS["no_workers"][1])
        elif kind == "bad_gateway":
            await _reply(send, record, 502, {"error": "bad gateway"})
        elif kind == "html":
            status = fault.status or 502
            page = (fault.body or _HTML.format(status=status)).encode()
            await _send_raw(send, record, status, page, b"text/html; charset=utf-8")
        elif kind == "empty":
            await _send_raw(send, record, fault.status or 200, b"", b"application/json")
        elif kind == "hang":
            with contextlib.suppress(_Gone):
                while not self.closing.is_set():
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(_disconnected(receive), 0.1)
                        raise _Gone
            if self.closing.is_set():
                await _drop(scope, receive)
        elif kind == "drop":
            await _drop(scope, receive)
        return True

    async def _sleep(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while not self.closing.is_set() and (left := end - time.monotonic()) > 0:  # noqa: ASYNC110
            await asyncio.sleep(min(left, 0.05))


async def _disconnected(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


def _bearer_ok(value: bytes | None, key: str) -> bool:
    if value is None:
        return False
    scheme, _, token = value.decode("latin-1").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(token.strip().encode(), key.encode())


async def _drop(scope: Scope, receive: Receive) -> None:
    """Close the connection without (the rest of) a reply, and wait until the server has seen
    it go, so that it does not answer a 500 of its own for a request left unanswered."""
    abort: Callable[[], None] | None = (scope.get("extensions") or {}).get(ABORT_EXTENSION)
    if abort is None:
        return
    abort()
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(_disconnected(receive), 1.0)


async def _reply(
    send: Send, record: LBRecord, status: int, payload: Any, worker_id: str | None = None
) -> None:
    body = b"" if payload is None else json.dumps(payload, separators=(",", ":")).encode()
    extra = [(_WORKER_HEADER, worker_id.encode())] if worker_id else []
    await _send_raw(send, record, status, body, b"application/json", extra)


async def _send_raw(
    send: Send,
    record: LBRecord,
    status: int,
    body: bytes,
    content_type: bytes,
    extra: list[tuple[bytes, bytes]] | None = None,
) -> None:
    record.status_code = status
    headers = [(b"content-length", str(len(body)).encode()), *(extra or [])]
    if body:
        headers.append((b"content-type", content_type))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
