"""Typed, immutable snapshots of what the API returns. No ``Unset``: absent means ``None``.

Each snapshot keeps the reply exactly as received (``raw_json``, the body's bytes): ``raw``
and ``to_dict()`` decode a fresh copy on every call, so nothing a caller does to one value —
mutating ``state.output``, say — can change another. Snapshots are plain data: they pickle,
deep-copy and compare by value, and hold no client and no secret.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from types import MappingProxyType
from typing import Any, NoReturn

from ._frozen import slot_init
from ._status import TERMINAL_STATUSES, JobStatus

__all__ = ["Health", "HealthJobs", "HealthWorkers", "JobState", "PurgeResult", "Reply"]

_TIMED_OUT_AFTER_RETRIES = re.compile(r"job timed out after \d+ retr(y|ies)\b", re.IGNORECASE)


class _RawReply:
    """``raw``/``to_dict()`` over the ``raw_json`` field of a snapshot."""

    __slots__ = ()
    raw_json: bytes

    @property
    def raw(self) -> Mapping[str, Any]:
        """The reply as received, unknown fields included (a fresh read-only copy)."""
        return MappingProxyType(self.to_dict())

    def to_dict(self) -> dict[str, Any]:
        """The reply as received: plain JSON-able data, a fresh copy on every call."""
        value = json.loads(self.raw_json)
        return value if isinstance(value, dict) else {}


@slot_init  # (one or more per request: see _frozen)
@dataclass(frozen=True, slots=True)
class JobState(_RawReply):
    """One snapshot of a job, as ``/status``, ``/runsync``, ``/cancel`` or a webhook sent it.

    Attributes:
        id: the job id.
        status: a :class:`JobStatus`, or the raw string for a status this SDK does not know.
        output: the handler's output (or a progress update while IN_PROGRESS); ``None`` if absent.
        error: the server's error text for a FAILED job.
        delay_time: time spent in the queue.
        execution_time: time spent running.
        worker_id: the worker that ran the job.
        retries: how many times the platform retried the job.
        raw_json: the reply's body, byte for byte (``raw`` and ``to_dict()`` decode it).
    """

    id: str
    status: JobStatus | str
    output: Any = None
    error: str | None = None
    delay_time: timedelta | None = None
    execution_time: timedelta | None = None
    worker_id: str | None = None
    retries: int | None = None
    raw_json: bytes = field(default=b"{}", repr=False, compare=False)

    @classmethod
    def from_raw(cls, raw: Mapping[str, Any], **fields: Any) -> JobState:
        """A snapshot whose ``raw`` is ``raw`` (for states assembled by the SDK itself)."""
        return cls(raw_json=json.dumps(dict(raw), separators=(",", ":")).encode(), **fields)

    @property
    def is_terminal(self) -> bool:
        """True for COMPLETED, FAILED, CANCELLED and TIMED_OUT."""
        return self.status in TERMINAL_STATUSES  # _status.is_terminal, without its call

    @property
    def is_completed(self) -> bool:
        return self.status == JobStatus.COMPLETED

    @property
    def is_timeout(self) -> bool:
        """True when the job ran out of time on the server: TIMED_OUT, or FAILED with
        ``"job timed out after N retries"`` — how live RunPod reports an execution timeout
        once it has rerun the job."""
        if self.status == JobStatus.TIMED_OUT:
            return True
        return self.status == JobStatus.FAILED and bool(
            self.error and _TIMED_OUT_AFTER_RETRIES.match(self.error)
        )

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
    """Job counters of an endpoint. ``None``: the API did not report that counter."""

    completed: int | None = None
    failed: int | None = None
    in_progress: int | None = None
    in_queue: int | None = None
    retried: int | None = None


@dataclass(frozen=True, slots=True)
class HealthWorkers:
    """Worker counters of an endpoint. ``None``: the API did not report that counter."""

    idle: int | None = None
    initializing: int | None = None
    ready: int | None = None
    running: int | None = None
    throttled: int | None = None
    unhealthy: int | None = None


@dataclass(frozen=True, slots=True)
class Health(_RawReply):
    """The endpoint's ``/health`` reply. A counter the reply left out — or a whole group — is
    ``None``: unknown, not zero."""

    jobs: HealthJobs
    workers: HealthWorkers
    raw_json: bytes = field(default=b"{}", repr=False, compare=False)


@dataclass(frozen=True, slots=True)
class PurgeResult(_RawReply):
    """The ``/purge-queue`` reply: how many queued jobs were removed."""

    removed: int
    status: str
    raw_json: bytes = field(default=b"{}", repr=False, compare=False)


class Reply(_RawReply):
    """The reply of an operation whose schema has no class of its own: its fields as
    attributes, checked against the spec's schema when the reply arrived.

    ``reply.position`` is the wire field ``position`` (``queuePosition`` would be
    ``reply.queue_position``); a field the reply left out is ``None``. ``schema`` names the
    spec's schema; ``raw_json``, ``raw`` and ``to_dict()`` keep the reply as received, unknown
    fields included. Immutable; compares by schema and field values, like the other snapshots.
    """

    __slots__ = ("_values", "raw_json", "schema")

    schema: str
    raw_json: bytes
    _values: dict[str, Any]

    def __init__(self, schema: str, values: Mapping[str, Any], raw_json: bytes = b"{}") -> None:
        """``values`` maps every field's attribute name to its value (``None`` when absent)."""
        object.__setattr__(self, "schema", schema)
        object.__setattr__(self, "_values", dict(values))
        object.__setattr__(self, "raw_json", raw_json)

    def __getattr__(self, name: str) -> Any:
        # Only called when normal lookup fails: the schema's fields, nothing else.
        if name.startswith("_"):
            raise AttributeError(name)  # protocol probes (copy, pickle), or before __init__
        values = self._values
        if name not in values:
            raise AttributeError(
                f"a {self.schema} reply has no field {name!r} (its fields: "
                f"{', '.join(values) or 'none'})"
            )
        value = values[name]
        # A fresh copy of a container, so that no caller can change the snapshot.
        return copy.deepcopy(value) if isinstance(value, dict | list) else value

    def __setattr__(self, name: str, value: object) -> NoReturn:
        raise AttributeError(f"a Reply is immutable (cannot set {name!r})")

    def __delattr__(self, name: str) -> NoReturn:
        raise AttributeError(f"a Reply is immutable (cannot delete {name!r})")

    def __dir__(self) -> list[str]:
        return sorted({*super().__dir__(), *self._values})

    @property
    def fields(self) -> Mapping[str, Any]:
        """Every field by attribute name (a read-only view of fresh copies)."""
        return MappingProxyType({name: getattr(self, name) for name in self._values})

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Reply):
            return NotImplemented
        return (self.schema, self._values) == (other.schema, other._values)

    def __hash__(self) -> int:
        return hash((self.schema, json.dumps(self._values, sort_keys=True, default=str)))

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={value!r}" for name, value in self._values.items())
        return f"Reply(schema={self.schema!r}{', ' if shown else ''}{shown})"

    def __reduce__(self) -> tuple[type[Reply], tuple[str, dict[str, Any], bytes]]:
        return (Reply, (self.schema, dict(self._values), self.raw_json))
