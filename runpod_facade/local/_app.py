"""The ASGI application: lifespan, request log, routing, auth and fault injection.

Job API routes come from the spec (:mod:`._routes`) and each operation's reply from its
behaviour (:mod:`._behaviour`); the OpenAI-compatible routes (not part of the job API spec)
are served by :mod:`._openai`. Every error of the job API is a JSON ``{"error": "..."}`` body.
Routing is done by hand because the contract's error replies (404/405/413 as JSON, ``Allow``
headers) are simpler to keep exact that way.
"""

from __future__ import annotations

import asyncio
import hmac
import threading
import time
from urllib.parse import parse_qsl

from starlette.types import Receive, Scope, Send

from ._batchroutes import BatchRoutes
from ._behaviour import BEHAVIOURS, Call, Reply
from ._engine import Engine, EngineClosed
from ._faults import PRE_KINDS, FaultSet
from ._http import Exchange
from ._inject import FaultInjector
from ._openai import OpenAIRoutes
from ._ratelimits import RateLimiter
from ._records import RequestLog, RequestRecord
from ._routes import match
from ._validation import BadRequest
from ._webhooks import WebhookAttempt

__all__ = ["LocalEndpointApp"]


class LocalEndpointApp:
    """ASGI app serving the RunPod serverless job API on top of an ``Engine``.

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
        rate_limiter: RateLimiter | None = None,
    ) -> None:
        self.engine = engine
        self.api_key = api_key
        #: ``None`` accepts any endpoint id; otherwise other ids get 404.
        self.endpoint_id = endpoint_id
        self.faults = faults
        self.request_log = request_log if request_log is not None else RequestLog()
        #: RunPod's per-route rate limits, when enforced (``rate_limits=`` of create_app).
        self.rate_limiter = rate_limiter
        self._closing = threading.Event()
        self._inject = FaultInjector(self._closing)
        self._openai = OpenAIRoutes(engine, self._closing)
        #: The Batch Jobs API: its store (``batches.store``) records every creation.
        self.batches = BatchRoutes(engine.handler, workers=engine.workers)

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
        self.batches.close()

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
        record = RequestRecord(
            method=scope["method"],
            path=path,
            query=bytes(scope.get("query_string", b"")).decode("latin-1"),
            timestamp=time.time(),
        )
        # Logged on arrival so that a test sees even a request that never gets a reply.
        self.request_log.append(record)
        exchange = Exchange(scope, receive, send, record)
        if self._openai.handles(path):
            # /v2/{endpoint_id}/openai/...: the endpoint id is the third segment.
            endpoint_id = path.split("/", 3)[2]
            if await self._refused(exchange, endpoint_id, "openai"):
                return
            try:
                await self._openai.serve(exchange, self._authorized(exchange), self.endpoint_id)
            finally:
                self._release(endpoint_id, "openai")
        elif self.batches.handles(path):
            await self.batches.serve(exchange, self._authorized(exchange), self.endpoint_id)
        else:
            await self._dispatch(exchange)

    async def _dispatch(self, exchange: Exchange) -> None:
        record = exchange.record
        matched = match(record.path)
        if matched is None:
            await exchange.reply_json(404, {"error": f"no route {record.path}"})
            return
        info = matched.info
        record.operation, record.endpoint_id = info.name, matched.endpoint_id
        record.job_id = matched.job_id
        if record.method not in info.methods:
            await exchange.reply_json(
                405,
                {"error": f"method {record.method} not allowed on /{info.name}"},
                headers={"allow": ", ".join(info.methods)},
            )
            return

        fault = self.faults.pick(info.name)
        if fault is not None:
            record.fault = fault.kind
            if fault.kind in PRE_KINDS and await self._inject.before(fault, exchange):
                return

        if not self._authorized(exchange):
            await exchange.reply_json(
                401,
                {"error": "Unauthorized: missing or invalid API key"},
                headers={"www-authenticate": "Bearer"},
            )
            return
        if self.endpoint_id is not None and matched.endpoint_id != self.endpoint_id:
            await exchange.reply_json(404, {"error": f"endpoint {matched.endpoint_id} not found"})
            return

        if await self._refused(exchange, matched.endpoint_id, info.name):
            return
        try:
            query = dict(parse_qsl(record.query, keep_blank_values=True))
            call = Call(self.engine, info, matched.job_id, query, exchange)
            status, body = await self._operate(call)
            if fault is not None and fault.kind not in PRE_KINDS:
                await self._inject.after(fault, status, body, exchange)
            else:
                await exchange.reply_json(status, body)
        finally:
            self._release(matched.endpoint_id, info.name)

    async def _refused(self, exchange: Exchange, endpoint_id: str, route: str) -> bool:
        """Answer 429 when the rate limits refuse this request; admitted ones need
        :meth:`_release` once answered."""
        limiter = self.rate_limiter
        if limiter is None:
            return False
        refusal = limiter.admit(endpoint_id, route)
        if refusal is None:
            return False
        await exchange.reply_json(429, refusal.body(), headers=limiter.headers(refusal))
        return True

    def _release(self, endpoint_id: str, route: str) -> None:
        if self.rate_limiter is not None:
            self.rate_limiter.release(endpoint_id, route)

    async def _operate(self, call: Call) -> Reply:
        behaviour = BEHAVIOURS.get(call.info.name)
        if behaviour is None:
            return 501, {"error": f"/{call.info.name} is not implemented by the local endpoint"}
        try:
            return await behaviour(call)
        except BadRequest as exc:
            return exc.status, {"error": exc.message}
        except EngineClosed as exc:
            return 503, {"error": str(exc)}

    def _authorized(self, exchange: Exchange) -> bool:
        if self.api_key is None:
            return True
        value = exchange.header(b"authorization")
        if value is None:
            return False
        # The docs' curl samples send the raw key; every SDK sends "Bearer <key>".
        token = value[7:] if value[:7].lower() == "bearer " else value
        return hmac.compare_digest(token.strip().encode(), self.api_key.encode())
