"""The values the Batch Jobs API hands back: a batch's summary, one child request, a page.

Each is parsed strictly from the reply (a 2xx whose body is not what
``openapi/runpod-batch-jobs.yaml`` says raises :class:`~runpod_facade.APIResponseValidationError`)
and keeps the raw JSON in ``raw`` for fields this SDK does not model.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from .._exceptions import APIResponseValidationError

__all__ = [
    "BATCH_STATUSES",
    "TERMINAL_BATCH_STATUSES",
    "BatchPage",
    "BatchRequestResult",
    "BatchSummary",
    "CreatedBatch",
    "parse_created",
    "parse_list",
    "parse_page",
    "parse_summary",
]

#: x-runpod-batch-statuses; a FINALIZED batch stays FINALIZED while it runs and after.
BATCH_STATUSES: Final = ("DRAFT", "FINALIZED", "FAILED", "CANCELLED")
TERMINAL_BATCH_STATUSES: Final = ("FAILED", "CANCELLED")


def _invalid(operation: str, what: str, batch_id: str | None) -> APIResponseValidationError:
    return APIResponseValidationError(
        f"reply of {operation} is not a valid batch reply: {what}",
        status_code=200,
        operation=operation,
        job_id=batch_id,
    )


def _str(raw: Mapping[str, Any], key: str, operation: str, batch_id: str | None) -> str:
    value = raw.get(key)
    if not isinstance(value, str) or not value:
        raise _invalid(operation, f"{key!r} must be a non-empty string", batch_id)
    return value


def _count(raw: Mapping[str, Any], key: str, operation: str, batch_id: str | None) -> int:
    value = raw.get(key, 0)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise _invalid(operation, f"{key!r} must be a non-negative integer", batch_id)
    return value


@dataclass(frozen=True, slots=True)
class CreatedBatch:
    """The reply of ``create``: the new batch's ``id`` and its status (``DRAFT``)."""

    id: str
    status: str
    raw: Mapping[str, Any] = field(repr=False, compare=False)


@dataclass(frozen=True, slots=True)
class BatchSummary:
    """A batch and the counts of its requests (``GET .../batch/{id}``).

    There is no COMPLETED batch status: :attr:`done` is ``requestCompleted + requestFailed ==
    requestTotal`` on a FINALIZED batch, or a terminal status (FAILED, CANCELLED).
    """

    id: str
    status: str
    request_total: int
    request_in_progress: int
    request_completed: int
    request_failed: int
    created_at_ms: int | None
    name: str | None
    raw: Mapping[str, Any] = field(repr=False, compare=False)

    @property
    def finished(self) -> int:
        """Requests that have ended, completed or failed."""
        return self.request_completed + self.request_failed

    @property
    def done(self) -> bool:
        """No more results will come: every request ended, or the batch ended."""
        if self.status in TERMINAL_BATCH_STATUSES:
            return True
        return self.status == "FINALIZED" and self.finished == self.request_total


@dataclass(frozen=True, slots=True)
class BatchRequestResult:
    """One child request: ``output`` when ``status`` is COMPLETED, ``error`` when FAILED.
    ``has_output`` tells an output of ``None`` from no output at all."""

    id: str
    status: str
    output: Any
    has_output: bool
    error: str | None
    started_at: str | None
    completed_at: str | None
    raw: Mapping[str, Any] = field(repr=False, compare=False)


@dataclass(frozen=True, slots=True)
class BatchPage:
    """One page of child requests (or of batches, in :func:`parse_list`)."""

    items: tuple[Any, ...]
    offset: int
    has_more: bool


def _object(raw: object, operation: str, batch_id: str | None) -> Mapping[str, Any]:
    if not isinstance(raw, Mapping):
        raise _invalid(operation, "the body is not a JSON object", batch_id)
    return raw


def parse_created(raw: object) -> CreatedBatch:
    body = _object(raw, "batch-create", None)
    batch_id = _str(body, "id", "batch-create", None)
    return CreatedBatch(batch_id, _str(body, "status", "batch-create", batch_id), body)


def parse_summary(raw: object, operation: str, batch_id: str | None = None) -> BatchSummary:
    body = _object(raw, operation, batch_id)
    found = _str(body, "id", operation, batch_id)
    created = body.get("createdAt")
    name = body.get("name")
    return BatchSummary(
        id=found,
        status=_str(body, "status", operation, found),
        request_total=_count(body, "requestTotal", operation, found),
        request_in_progress=_count(body, "requestInProgress", operation, found),
        request_completed=_count(body, "requestCompleted", operation, found),
        request_failed=_count(body, "requestFailed", operation, found),
        created_at_ms=created if isinstance(created, int) else None,
        name=name if isinstance(name, str) else None,
        raw=body,
    )


def _result(raw: object, batch_id: str) -> BatchRequestResult:
    body = _object(raw, "batch-requests", batch_id)
    error = body.get("error")
    started, completed = body.get("startedAt"), body.get("completedAt")
    return BatchRequestResult(
        id=_str(body, "id", "batch-requests", batch_id),
        status=_str(body, "status", "batch-requests", batch_id),
        output=body.get("output"),
        has_output="output" in body,
        error=error if isinstance(error, str) or error is None else str(error),
        started_at=started if isinstance(started, str) else None,
        completed_at=completed if isinstance(completed, str) else None,
        raw=body,
    )


def _page(
    raw: object,
    key: str,
    operation: str,
    batch_id: str | None,
    offset: int,
    parse: Callable[[object], Any],
) -> BatchPage:
    body = _object(raw, operation, batch_id)
    items = body.get(key)
    if not isinstance(items, list):
        raise _invalid(operation, f"{key!r} must be an array", batch_id)
    if not isinstance(body.get("hasMore"), bool):
        raise _invalid(operation, "'hasMore' must be a boolean", batch_id)
    return BatchPage(tuple(parse(item) for item in items), offset, body["hasMore"])


def parse_page(raw: object, batch_id: str, offset: int) -> BatchPage:
    """A page of ``GET .../requests`` asked at ``offset``."""
    return _page(
        raw, "requests", "batch-requests", batch_id, offset, lambda item: _result(item, batch_id)
    )


def parse_list(raw: object, offset: int) -> BatchPage:
    """A page of ``GET .../batch`` asked at ``offset``."""
    return _page(
        raw, "batches", "batch-list", None, offset, lambda item: parse_summary(item, "batch-list")
    )
