"""The OpenAI-compatible routes, served the way RunPod serves them for vLLM-style workers.

``POST /v2/{id}/openai/v1/chat/completions``, ``POST .../completions`` and
``GET .../models`` each become a real queue job whose input is
``{"openai_route": "/v1/chat/completions" | "/v1/completions" | "/v1/models",
"openai_input": <request body>}`` (``{}`` for the models list). The job counts in ``/health``
and its id is in the request log like any other.

* Without ``stream: true`` the request is held until the job ends. Its reply is the handler's
  return value, or the one chunk a generator handler yielded (vLLM's worker always yields).
* With ``stream: true`` the reply is ``text/event-stream``: each chunk is sent (and flushed)
  as it is produced as ``data: <json>``; a string chunk that already is SSE text (vLLM's
  ``RAW_OPENAI_OUTPUT``) passes through as is, a list chunk is one event per item. The stream
  ends with ``data: [DONE]``.
* The body may be as large as a ``/runsync`` body (``x-runpod-max-payload-bytes``, 20 MiB).
* Errors use OpenAI's shape ``{"error": {"message", "type", "param", "code"}}``: 401 for a
  wrong key, 404 for another path, 405 for another method, 400 for a bad body, 500 when the
  job fails (504 when it times out), and a handler's own OpenAI error object
  (``{"object": "error", "code": 400, ...}``, as vLLM returns) with its code.

These routes are not part of the job API spec and never take injected faults.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import unquote

from runpod_generated.operations import TERMINAL_STATUSES

from .._status import JobStatus
from . import _limits
from ._engine import Engine, EngineClosed
from ._http import Exchange, dumps
from ._routes import PREFIX
from ._validation import BadRequest, JobSpec, parse_json

__all__ = ["OpenAIRoutes"]

# How often a held request looks up from the job to notice a client gone or a server stopping.
_POLL_S: Final = 1.0


@dataclass(frozen=True)
class _Route:
    method: str
    openai_route: str
    required: tuple[str, ...]  # body fields a request must have
    streams: bool


_ROUTES: Final[Mapping[str, _Route]] = {
    "chat/completions": _Route("POST", "/v1/chat/completions", ("model", "messages"), True),
    "completions": _Route("POST", "/v1/completions", ("model", "prompt"), True),
    "models": _Route("GET", "/v1/models", (), False),
}


class _OpenAIError(Exception):
    def __init__(
        self,
        status: int,
        message: str,
        kind: str = "invalid_request_error",
        *,
        code: str | int | None = None,
        param: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.body = {"error": {"message": message, "type": kind, "param": param, "code": code}}


def _check_body(route: _Route, raw: bytes) -> dict[str, Any]:
    try:
        body = parse_json(raw)
    except BadRequest as exc:
        raise _OpenAIError(400, exc.message) from None
    if not isinstance(body, dict):
        raise _OpenAIError(400, "the request body must be a JSON object")
    for name in route.required:
        if name not in body:
            raise _OpenAIError(400, f"'{name}' is a required property", param=name)
    if "model" in route.required and not (isinstance(body["model"], str) and body["model"]):
        raise _OpenAIError(400, "'model' must be a non-empty string", param="model")
    messages = body.get("messages")
    if "messages" in route.required and not (isinstance(messages, list) and messages):
        raise _OpenAIError(400, "'messages' must be a non-empty array", param="messages")
    if not isinstance(body.get("stream", False), bool):
        raise _OpenAIError(400, "'stream' must be a boolean", param="stream")
    return body


def _failure(body: Mapping[str, Any]) -> _OpenAIError:
    status = body.get("status")
    if status == JobStatus.TIMED_OUT:
        return _OpenAIError(504, f"job {body['id']} timed out", "timeout")
    error = body.get("error")
    message = f"job {body['id']} ended {status}"
    if isinstance(error, str) and error:
        message = error
        document: Any = None
        with contextlib.suppress(ValueError):
            document = json.loads(error)
        if isinstance(document, dict) and "error_message" in document:
            # An exception in the handler (the worker SDK's error document).
            message = f"{document.get('error_type')}: {document['error_message']}"
        elif (own := _handler_error({"error": document})) is not None:
            # The handler returned {"error": {...OpenAI error...}}.
            return own
    return _OpenAIError(500, message, "server_error")


def _handler_error(value: Any) -> _OpenAIError | None:
    """An OpenAI error object a handler answered with: vLLM's ``ErrorResponse``
    (``{"object": "error", "message", "type", "code"}``) or ``{"error": {...}}``."""
    if not isinstance(value, dict):
        return None
    nested = value.get("error")
    if isinstance(nested, dict) and "message" in nested:
        error: dict[str, Any] = nested
    elif value.get("object") == "error":
        error = value
    else:
        return None
    code = error.get("code")
    status = code if isinstance(code, int) and 400 <= code <= 599 else 400
    message = error.get("message")
    return _OpenAIError(
        status,
        message if isinstance(message, str) else json.dumps(error),
        str(error.get("type") or "invalid_request_error"),
        code=code if isinstance(code, str | int) else None,
    )


def _events(chunk: Any) -> tuple[bytes, bool]:
    """SSE text for one chunk, and whether it carried the closing ``[DONE]``."""
    if isinstance(chunk, str) and chunk.lstrip().startswith(("data:", "event:", ":")):
        return chunk.encode("utf-8"), "data: [DONE]" in chunk
    items = chunk if isinstance(chunk, list) else [chunk]
    text = b"".join(b"data: " + dumps(item) + b"\n\n" for item in items)
    return text, False


class OpenAIRoutes:
    """Serves ``/v2/{endpoint_id}/openai/...`` with jobs of ``engine``."""

    def __init__(self, engine: Engine, closing: threading.Event) -> None:
        self._engine = engine
        self._closing = closing

    @staticmethod
    def handles(path: str) -> bool:
        """Whether ``path`` is under ``/v2/{endpoint_id}/openai/``."""
        parts = path.split("/")
        return len(parts) > 3 and "/" + parts[1] == PREFIX and unquote(parts[3]) == "openai"

    async def serve(self, exchange: Exchange, authorized: bool, endpoint_id: str | None) -> None:
        """Answer one request (already known to be under ``/openai/``)."""
        try:
            await self._serve(exchange, authorized, endpoint_id)
        except _OpenAIError as exc:
            await exchange.reply_json(exc.status, exc.body)
        except BadRequest as exc:  # the body over the size limit (413), or cut short
            await exchange.reply_json(exc.status, _OpenAIError(exc.status, exc.message).body)
        except EngineClosed as exc:
            await exchange.reply_json(503, _OpenAIError(503, str(exc), "server_error").body)

    async def _serve(self, exchange: Exchange, authorized: bool, endpoint_id: str | None) -> None:
        record = exchange.record
        parts = [unquote(part) for part in record.path.split("/")]
        requested_id, version, tail = parts[2], parts[4:5], "/".join(parts[5:])
        route = _ROUTES.get(tail) if version == ["v1"] else None
        if route is None or not requested_id:
            raise _OpenAIError(404, f"no OpenAI-compatible route {record.path}", code="not_found")
        record.operation, record.endpoint_id = f"openai{route.openai_route}", requested_id
        if record.method != route.method:
            raise _OpenAIError(405, f"method {record.method} not allowed on {route.openai_route}")
        if not authorized:
            raise _OpenAIError(401, "Incorrect API key provided", code="invalid_api_key")
        if endpoint_id is not None and requested_id != endpoint_id:
            raise _OpenAIError(404, f"endpoint {requested_id} not found", code="not_found")
        body: dict[str, Any] = {}
        if route.method == "POST":
            body = _check_body(route, await exchange.read_body(_limits.MAX_RUNSYNC_PAYLOAD_BYTES))
        spec = JobSpec(
            input={"openai_route": route.openai_route, "openai_input": body},
            webhook=None,
            s3_config=None,
            execution_timeout_s=None,
            ttl_s=None,
            low_priority=False,
        )
        engine = self._engine
        job_id: str = (await engine.call(engine.submit(spec, sync=True)))["id"]
        record.job_id = job_id
        if route.streams and body.get("stream") is True:
            await self._stream(exchange, job_id)
        else:
            await exchange.reply_json(200, await self._result(job_id))

    async def _next(self, job_id: str) -> dict[str, Any]:
        """The chunks produced since the last call, once there are some or the job ended."""
        engine = self._engine
        while True:
            if self._closing.is_set():
                raise _OpenAIError(503, "the local endpoint is shutting down", "server_error")
            body = await engine.call(engine.stream(job_id, _POLL_S))
            if body is None:
                raise _OpenAIError(500, f"job {job_id} expired", "server_error")
            if body["stream"] or body["status"] in TERMINAL_STATUSES:
                return body

    async def _final(self, job_id: str) -> dict[str, Any]:
        body = await self._engine.call(self._engine.status(job_id))
        if body is None:
            raise _OpenAIError(500, f"job {job_id} expired", "server_error")
        return body

    async def _result(self, job_id: str) -> Any:
        chunks: list[Any] = []
        while True:
            update = await self._next(job_id)
            chunks += [chunk.get("output") for chunk in update["stream"]]
            if update["status"] in TERMINAL_STATUSES:
                break
        final = await self._final(job_id)
        if final["status"] != JobStatus.COMPLETED:
            raise _failure(final)
        if len(chunks) > 1:
            raise _OpenAIError(
                500,
                f"the handler yielded {len(chunks)} chunks for a request without stream: true; "
                "it should yield (or return) one response object",
                "server_error",
            )
        reply = chunks[0] if chunks else final.get("output")
        if (error := _handler_error(reply)) is not None:
            raise error
        if reply is None:
            raise _OpenAIError(500, "the handler returned no output", "server_error")
        return reply

    async def _stream(self, exchange: Exchange, job_id: str) -> None:
        update = await self._next(job_id)
        if not update["stream"]:
            # Ended before its first chunk: the whole answer is a plain reply.
            final = await self._final(job_id)
            if final["status"] != JobStatus.COMPLETED:
                raise _failure(final)
            if final.get("output") is None:
                raise _OpenAIError(500, "the handler returned no output", "server_error")
            update = {"status": final["status"], "stream": [{"output": final.get("output")}]}
        if (error := _handler_error(update["stream"][0].get("output"))) is not None:
            raise error
        await exchange.start_stream(200, "text/event-stream; charset=utf-8")
        gone = asyncio.get_running_loop().create_task(_disconnected(exchange))
        done = False
        try:
            while True:
                for chunk in update["stream"]:
                    text, ended = _events(chunk.get("output"))
                    done = done or ended
                    await exchange.send_piece(text)
                if update["status"] in TERMINAL_STATUSES or gone.done():
                    break
                update = await self._next(job_id)
            final = await self._final(job_id)
            if final["status"] != JobStatus.COMPLETED:
                await exchange.send_piece(b"data: " + dumps(_failure(final).body) + b"\n\n")
            elif not done:
                await exchange.send_piece(b"data: [DONE]\n\n")
        except _OpenAIError as exc:
            # Headers are gone: the error travels as an event, which the OpenAI client raises.
            await exchange.send_piece(b"data: " + dumps(exc.body) + b"\n\n")
        finally:
            gone.cancel()
            await exchange.send_piece(b"", last=True)


async def _disconnected(exchange: Exchange) -> None:
    while (await exchange.receive())["type"] != "http.disconnect":
        pass
