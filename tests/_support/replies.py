"""Replies and transport failures as the core receives them (``ApiResponse``,
``TransportFailure``), built the way the real API and real networks produce them."""

from __future__ import annotations

import json
from typing import Any

from runpod_facade._transports.base import ApiResponse, Delivery, TransportFailure

__all__ = [
    "JOB",
    "body",
    "chunks",
    "error",
    "health",
    "html",
    "job",
    "lost",
    "not_sent",
    "purged",
    "timed_out",
]

JOB = "job-1"
_JSON = {"content-type": "application/json"}


def body(status_code: int, data: Any, **headers: str) -> ApiResponse:
    """A reply whose body is ``data`` as JSON (header names with ``_`` become ``-``)."""
    extra = {name.replace("_", "-"): value for name, value in headers.items()}
    return ApiResponse(status_code, {**_JSON, **extra}, json.dumps(data).encode())


def job(status: str, job_id: str = JOB, *, code: int = 200, **fields: Any) -> ApiResponse:
    """A ``Job`` reply: ``{"id": job_id, "status": status, **fields}``."""
    return body(code, {"id": job_id, "status": status, **fields})


def chunks(status: str, *outputs: Any, **fields: Any) -> ApiResponse:
    """A ``/stream`` reply carrying one chunk per output."""
    return body(200, {"status": status, "stream": [{"output": o} for o in outputs], **fields})


def error(code: int, message: str = "boom", **headers: str) -> ApiResponse:
    """An error reply with a JSON ``{"error": message}`` body."""
    return body(code, {"error": message}, **headers)


def html(code: int) -> ApiResponse:
    """A proxy's HTML page."""
    page = b"<html><body><h1>502 Bad Gateway</h1></body></html>"
    return ApiResponse(code, {"content-type": "text/html"}, page)


def health(**workers: int) -> ApiResponse:
    return body(200, {"jobs": {"completed": 1}, "workers": workers or {"idle": 1}})


def purged(removed: int = 0, status: str = "completed") -> ApiResponse:
    return body(200, {"removed": removed, "status": status})


def not_sent(message: str = "ConnectError: [Errno 111] Connection refused") -> TransportFailure:
    """The request never left (no connection could be made, or no pooled one was free)."""
    return TransportFailure(Delivery.NOT_SENT, timeout=False, message=message)


def lost(message: str = "RemoteProtocolError: Server disconnected") -> TransportFailure:
    """The request may have been processed; its reply was lost."""
    return TransportFailure(Delivery.MAYBE_SENT, timeout=False, message=message)


def timed_out(message: str = "ReadTimeout: timed out") -> TransportFailure:
    """The request was sent and no reply came within the read timeout."""
    return TransportFailure(Delivery.MAYBE_SENT, timeout=True, message=message)
