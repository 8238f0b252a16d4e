"""One HTTP exchange at the ASGI level: reading the request, writing the reply, logging it."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from ._records import RequestRecord
from ._validation import BadRequest

__all__ = ["Exchange", "dumps"]

# A client that overshoots the limit by more than this is not drained before the 413.
_DRAIN_CAP_BYTES: Final = 64 * 1024 * 1024


def dumps(body: Any) -> bytes:
    """Compact JSON, as the API sends it."""
    return json.dumps(body, separators=(",", ":"), allow_nan=False).encode()


async def _no_receive() -> dict[str, Any]:
    # Response.__call__ only calls receive for disconnect detection in streaming responses.
    return {"type": "http.disconnect"}


@dataclass
class Exchange:
    """The ASGI triple of one request and its :class:`RequestRecord` (which the replies fill)."""

    scope: Scope
    receive: Receive
    send: Send
    record: RequestRecord

    def header(self, name: bytes) -> str | None:
        """The first value of request header ``name`` (lower case), or ``None``."""
        for key, value in self.scope.get("headers", ()):
            if key.lower() == name:
                return bytes(value).decode("latin-1")
        return None

    async def read_body(self, limit: int) -> bytes:
        """Read the request body; 413 when it exceeds ``limit`` bytes."""
        declared = self.header(b"content-length")
        size_declared = int(declared) if declared is not None and declared.isdigit() else None
        too_large = size_declared is not None and size_declared > limit
        if size_declared is not None and size_declared > _DRAIN_CAP_BYTES:
            # Too big to be worth draining: answer at once (the server then closes the socket).
            raise BadRequest(f"payload too large: the limit is {limit} bytes", status=413)
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await self.receive()
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
                # Keep reading (up to a cap) so the client gets the 413, not a broken pipe.
                if size > _DRAIN_CAP_BYTES:
                    break
                continue
            chunks.append(chunk)
        if too_large:
            raise BadRequest(f"payload too large: the limit is {limit} bytes", status=413)
        return b"".join(chunks)

    async def reply_json(
        self, status: int, body: Any, headers: Mapping[str, str] | None = None
    ) -> None:
        """Send ``body`` as a JSON reply."""
        await self.reply_raw(status, dumps(body), "application/json", headers)

    async def reply_raw(
        self,
        status: int,
        payload: bytes,
        content_type: str,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """Send a complete reply."""
        response = Response(payload, status_code=status, media_type=content_type, headers=headers)
        self.record.status_code = status
        await response({"type": "http"}, _no_receive, self.send)

    async def start_stream(self, status: int, content_type: str) -> None:
        """Send the status line and headers of a reply whose body follows in pieces."""
        self.record.status_code = status
        await self.send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", content_type.encode("latin-1")),
                    (b"cache-control", b"no-cache"),
                ],
            }
        )

    async def send_piece(self, data: bytes, *, last: bool = False) -> None:
        """Send (and flush) one piece of a streamed body; ``last`` ends it."""
        await self.send({"type": "http.response.body", "body": data, "more_body": not last})
