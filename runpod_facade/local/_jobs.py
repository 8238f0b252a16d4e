"""One job of the local endpoint: its state, and the documents the API shows it as.

A :class:`Job` is only ever touched on the engine loop (see :mod:`._loop`), so it needs no lock.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any, Final

from runpod_generated.operations import TERMINAL_STATUSES

from .._status import JobStatus
from ._validation import JobSpec

__all__ = ["UNSET", "Job", "Unset", "ms"]


class Unset:
    """Type of :data:`UNSET`: "no output" (``None`` is a valid output)."""

    def __repr__(self) -> str:
        return "UNSET"


UNSET: Final = Unset()


def ms(seconds: float) -> int:
    """Whole milliseconds, as the API reports durations."""
    return max(0, round(seconds * 1000))


@dataclass(eq=False)
class Job:
    """A job from submission until it is forgotten (TTL or result retention).

    ``attempt`` counts runs of the handler for this id (``/retry`` and the live-style retry
    after an execution timeout add one); a worker's late result for an older attempt is
    dropped. ``chunks`` holds streamed outputs not yet drained by ``/stream``.
    """

    id: str
    spec: JobSpec
    sync: bool
    queued_at: float
    status: JobStatus = JobStatus.IN_QUEUE
    started_at: float | None = None
    finished_at: float | None = None
    output: Any = UNSET
    error: str | None = None
    chunks: list[Any] = field(default_factory=list)
    worker_id: str | None = None
    retries: int = 0
    attempt: int = 0
    timeout_retried: bool = False
    task: asyncio.Task[None] | None = None
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    expiry: asyncio.TimerHandle | None = None
    retention: asyncio.TimerHandle | None = None
    retention_cap_s: float | None = None

    @property
    def terminal(self) -> bool:
        """Whether the job has ended (``x-runpod-terminal-statuses`` of the spec)."""
        return self.status in TERMINAL_STATUSES

    def body(self, now: float) -> dict[str, Any]:
        """The job as ``/status`` returns it (the ``Job`` schema)."""
        body: dict[str, Any] = {"id": self.id, "status": self.status.value}
        if self.started_at is not None:
            body["delayTime"] = ms(self.started_at - self.queued_at)
            end = self.finished_at if self.finished_at is not None else now
            body["executionTime"] = ms(end - self.started_at)
        if not isinstance(self.output, Unset):
            body["output"] = self.output
        if self.error is not None:
            body["error"] = self.error
        if self.worker_id is not None:
            body["workerId"] = self.worker_id
        if self.retries:
            body["retries"] = self.retries
        return body

    def webhook_payload(self, now: float) -> dict[str, Any]:
        """What RunPod POSTs to the job's webhook (the spec's ``WebhookPayload``): the status
        body plus the submitted ``input`` and ``webhook`` echoed back."""
        return {**self.body(now), "input": self.spec.input, "webhook": self.spec.webhook}

    def requeue(self, now: float) -> None:
        """Reset the job for another run of the handler under the same id."""
        self.attempt += 1
        self.retries += 1
        self.status = JobStatus.IN_QUEUE
        self.queued_at = now
        self.started_at = self.finished_at = None
        self.output, self.error, self.chunks, self.worker_id = UNSET, None, [], None
