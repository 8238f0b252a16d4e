"""Typed, immutable snapshots of what the API returns. No ``Unset``: absent means ``None``."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from types import MappingProxyType
from typing import Any

from ._status import JobStatus, is_terminal

__all__ = ["Health", "HealthJobs", "HealthWorkers", "JobState", "PurgeResult"]

_EMPTY: Mapping[str, Any] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class JobState:
    """One snapshot of a job, as ``/status``, ``/runsync`` or ``/cancel`` returned it.

    Attributes:
        id: the job id.
        status: a :class:`JobStatus`, or the raw string for a status this SDK does not know.
        output: the handler's output (or a progress update while IN_PROGRESS); ``None`` if absent.
        error: the server's error text for a FAILED job.
        delay_time: time spent in the queue.
        execution_time: time spent running.
        worker_id: the worker that ran the job.
        retries: how many times the platform retried the job.
        raw: the reply exactly as received, unknown fields included.
    """

    id: str
    status: JobStatus | str
    output: Any = None
    error: str | None = None
    delay_time: timedelta | None = None
    execution_time: timedelta | None = None
    worker_id: str | None = None
    retries: int | None = None
    raw: Mapping[str, Any] = field(default_factory=lambda: _EMPTY, repr=False, compare=False)

    @property
    def is_terminal(self) -> bool:
        """True for COMPLETED, FAILED, CANCELLED and TIMED_OUT."""
        return is_terminal(self.status)

    @property
    def is_completed(self) -> bool:
        return self.status == JobStatus.COMPLETED

    @property
    def error_details(self) -> dict[str, Any] | None:
        """The error parsed as a JSON object (RunPod workers report ``error_type``,
        ``error_message``, ``error_traceback`` …), or ``None`` when it is plain text."""
        if not self.error:
            return None
        try:
            parsed = json.loads(self.error)
        except ValueError:
            return None
        return parsed if isinstance(parsed, dict) else None


@dataclass(frozen=True, slots=True)
class HealthJobs:
    """Job counters of an endpoint. Counters the API left out are 0."""

    completed: int = 0
    failed: int = 0
    in_progress: int = 0
    in_queue: int = 0
    retried: int = 0


@dataclass(frozen=True, slots=True)
class HealthWorkers:
    """Worker counters of an endpoint. Counters the API left out are 0."""

    idle: int = 0
    initializing: int = 0
    ready: int = 0
    running: int = 0
    throttled: int = 0
    unhealthy: int = 0


@dataclass(frozen=True, slots=True)
class Health:
    """The endpoint's ``/health`` reply."""

    jobs: HealthJobs
    workers: HealthWorkers
    raw: Mapping[str, Any] = field(default_factory=lambda: _EMPTY, repr=False, compare=False)


@dataclass(frozen=True, slots=True)
class PurgeResult:
    """The ``/purge-queue`` reply: how many queued jobs were removed."""

    removed: int
    status: str
    raw: Mapping[str, Any] = field(default_factory=lambda: _EMPTY, repr=False, compare=False)
