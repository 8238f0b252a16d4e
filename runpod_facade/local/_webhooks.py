"""Webhook delivery as RunPod does it, and the log of every attempt.

When a job submitted with ``webhook`` ends COMPLETED, FAILED or TIMED_OUT, the endpoint POSTs
the spec's ``WebhookPayload`` to that URL: the job's ``/status`` body plus the ``input`` and
``webhook`` it was submitted with, as JSON, with no signature header. Any 2xx reply
acknowledges it; anything else — another status, a refused connection, no reply within the
timeout — is re-delivered, ``retries`` more times, ``retry_delay_s`` apart (RunPod: 2 more
times, 10 s apart). A cancelled job gets no delivery: the docs name completion, failure and
timeout as the triggers, and the caller who cancelled already knows.
"""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass
from typing import Any, Final

import httpx

from .._status import JobStatus

__all__ = ["DELIVERED_STATUSES", "WebhookAttempt", "WebhookSender"]

#: Terminal statuses that trigger a delivery (the spec's ``x-runpod-webhook-statuses``).
DELIVERED_STATUSES: Final = frozenset({JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.TIMED_OUT})


@dataclass(frozen=True)
class WebhookAttempt:
    """One POST of a job's webhook payload.

    ``status_code`` is ``None`` when the request failed before a reply (``error`` says why:
    connection refused, timeout...); ``ok`` means a 2xx reply; ``attempt`` counts from 1
    (RunPod makes up to 3).
    """

    url: str
    job_id: str
    attempt: int
    status_code: int | None
    ok: bool
    error: str | None
    timestamp: float


class WebhookSender:
    """Delivers webhook payloads with retries; its log survives endpoint restarts."""

    def __init__(self, *, retries: int, retry_delay_s: float, timeout_s: float) -> None:
        if retries < 0:
            raise ValueError("webhook_retries must be >= 0")
        if retry_delay_s < 0 or timeout_s <= 0:
            raise ValueError("webhook delays must be >= 0 and the timeout > 0")
        self._retries = retries
        self._retry_delay_s = retry_delay_s
        self._timeout_s = timeout_s
        self._lock = threading.Lock()
        self._attempts: list[WebhookAttempt] = []
        self._http: httpx.AsyncClient | None = None

    @property
    def attempts(self) -> list[WebhookAttempt]:
        """Every delivery attempt so far, oldest first (thread-safe copy)."""
        with self._lock:
            return list(self._attempts)

    async def deliver(self, url: str, job_id: str, payload: dict[str, Any]) -> None:
        """POST ``payload`` to ``url`` until a 2xx reply or the retries run out."""
        if not url.lower().startswith(("http://", "https://")):
            return
        if self._http is None:
            # RunPod delivers from its own network: this process's HTTP_PROXY is not its.
            self._http = httpx.AsyncClient(timeout=self._timeout_s, trust_env=False)
        for attempt in range(1, self._retries + 2):
            if attempt > 1:
                await asyncio.sleep(self._retry_delay_s)
            status: int | None = None
            error: str | None = None
            try:
                response = await self._http.post(url, json=payload)
                status = response.status_code
            except (httpx.HTTPError, ValueError) as exc:
                error = f"{type(exc).__name__}: {exc}"
            ok = status is not None and 200 <= status < 300
            with self._lock:
                self._attempts.append(
                    WebhookAttempt(url, job_id, attempt, status, ok, error, time.time())
                )
            if ok:
                return

    async def aclose(self) -> None:
        """Close the HTTP client (a later delivery opens a new one)."""
        if self._http is not None:
            http, self._http = self._http, None
            await http.aclose()
