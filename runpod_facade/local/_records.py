"""The log of every request the local endpoint received, for assertions in tests."""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass

__all__ = ["RequestLog", "RequestRecord"]


@dataclass
class RequestRecord:
    """One request as the server saw it and what it did about it.

    Logged on arrival and completed as the request is handled. ``operation`` is the spec's
    operation name (``"status"``...), ``"openai/v1/chat/completions"`` (or ``.../completions``,
    ``.../models``) for the OpenAI-compatible routes, and ``None`` for other paths.
    ``status_code`` is ``None`` while no reply has been sent (in flight, or dropped/hung by a
    fault); ``job_id`` is the job the request named or created; ``fault`` is the kind of the
    injected fault, if any; ``timestamp`` is :func:`time.time` at arrival.
    """

    method: str
    path: str
    query: str
    timestamp: float
    operation: str | None = None
    endpoint_id: str | None = None
    job_id: str | None = None
    status_code: int | None = None
    fault: str | None = None


class RequestLog:
    """Thread-safe log of the most recent :class:`RequestRecord` entries.

    Bounded, so a long-running ``runpod-facade serve`` does not grow without end; the default
    keeps far more than any test makes.
    """

    def __init__(self, maxlen: int = 100_000) -> None:
        self._lock = threading.Lock()
        self._records: deque[RequestRecord] = deque(maxlen=maxlen)

    def append(self, record: RequestRecord) -> None:
        """Record one request."""
        with self._lock:
            self._records.append(record)

    def snapshot(self) -> list[RequestRecord]:
        """A copy of the records so far, oldest first."""
        with self._lock:
            return list(self._records)

    def clear(self) -> None:
        """Forget every record."""
        with self._lock:
            self._records.clear()
