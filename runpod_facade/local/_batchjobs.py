"""The Batch Jobs API's state machine and store: batches, their child requests, the limits.

A batch moves DRAFT -> FINALIZED -> FAILED | CANCELLED (``openapi/runpod-batch-jobs.yaml``).
There is no COMPLETED state: a FINALIZED batch is done when ``requestCompleted +
requestFailed == requestTotal``. Cancelling cancels the queued requests at once and lets the
running ones finish; the batch reports CANCELLED once none is running.

Everything here is synchronous and guarded by one lock, so the HTTP routes (on the server's
loop) and the batch workers (on their own loop, :mod:`._batchworkers`) share it safely. The
store also records every batch and request it ever created, so that tests can assert that
nothing was created twice.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

__all__ = [
    "DEFAULT_PAGE_LIMIT",
    "MAX_PAGE_LIMIT",
    "Batch",
    "BatchError",
    "BatchLimits",
    "BatchRequest",
    "BatchStore",
    "Created",
]

# The numbers of the spec's x-runpod-batch-limits / x-runpod-page-limit;
# tests/contract/test_batch_contract.py asserts that they still agree.
MAX_ACTIVE_BATCHES: Final = 10
MAX_REQUESTS_PER_BATCH: Final = 5_000
MAX_QUEUED_PER_ENDPOINT: Final = 50_000
MAX_PAYLOAD_BYTES: Final = 10 * 1024 * 1024
DEFAULT_PAGE_LIMIT: Final = 50
MAX_PAGE_LIMIT: Final = 1_000

# x-runpod-error-statuses of the spec.
OVER_BATCH_LIMIT: Final = 400
OVER_ENDPOINT_LIMIT: Final = 429
WRONG_STATE: Final = 409

DRAFT, FINALIZED, FAILED, CANCELLED = "DRAFT", "FINALIZED", "FAILED", "CANCELLED"
IN_QUEUE, IN_PROGRESS, COMPLETED = "IN_QUEUE", "IN_PROGRESS", "COMPLETED"


class BatchError(Exception):
    """A refused batch operation: the HTTP status and the ``error`` message of the reply."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class BatchLimits:
    """The documented limits; tests lower them to reach them with a few requests."""

    active_batches: int = MAX_ACTIVE_BATCHES
    requests_per_batch: int = MAX_REQUESTS_PER_BATCH
    queued_per_endpoint: int = MAX_QUEUED_PER_ENDPOINT
    payload_bytes: int = MAX_PAYLOAD_BYTES


@dataclass
class BatchRequest:
    """One child request of a batch."""

    id: str
    batch_id: str
    input: Any
    status: str = IN_QUEUE
    output: Any = None
    has_output: bool = False
    error: str | None = None
    started_at: str | None = None
    completed_at: str | None = None

    def body(self) -> dict[str, Any]:
        """The request as ``GET .../requests`` lists it."""
        body: dict[str, Any] = {"id": self.id, "status": self.status}
        if self.has_output:
            body["output"] = self.output
        if self.error is not None:
            body["error"] = self.error
        if self.started_at is not None:
            body["startedAt"] = self.started_at
        if self.completed_at is not None:
            body["completedAt"] = self.completed_at
        return body


@dataclass
class Batch:
    """One batch; its requests in the order they were added."""

    id: str
    endpoint_id: str
    created_at_ms: int
    status: str = DRAFT
    name: str | None = None
    requests: dict[str, BatchRequest] = field(default_factory=dict)
    cancelling: bool = False

    def count(self, status: str) -> int:
        return sum(1 for request in self.requests.values() if request.status == status)

    @property
    def done(self) -> bool:
        """No request is queued or running (the batch takes no more work)."""
        return not any(r.status in (IN_QUEUE, IN_PROGRESS) for r in self.requests.values())

    @property
    def active(self) -> bool:
        """Counts against the endpoint's active batches: DRAFT, or FINALIZED with work left."""
        return self.status == DRAFT or (self.status == FINALIZED and not self.done)

    def summary(self) -> dict[str, Any]:
        """The batch as ``GET .../batch/{id}`` returns it."""
        body: dict[str, Any] = {
            "id": self.id,
            "endpointId": self.endpoint_id,
            "status": self.status,
            "requestTotal": len(self.requests),
            "requestInProgress": self.count(IN_PROGRESS),
            "requestCompleted": self.count(COMPLETED),
            "requestFailed": self.count(FAILED),
            "createdAt": self.created_at_ms,
        }
        if self.name is not None:
            body["name"] = self.name
        return body


@dataclass(frozen=True)
class Created:
    """A record of one creation: a batch (``request_id`` None) or one of its requests."""

    batch_id: str
    request_id: str | None
    input: Any = None


def _now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _page(items: Sequence[Any], offset: int, limit: int) -> tuple[list[Any], bool]:
    chunk = list(items[offset : offset + limit])
    return chunk, offset + len(chunk) < len(items)


class BatchStore:
    """Batches of every endpoint, the queue of their requests and the creation records."""

    def __init__(self, limits: BatchLimits | None = None) -> None:
        self.limits = limits or BatchLimits()
        self._lock = threading.Lock()
        self._batches: dict[str, Batch] = {}
        # Requests of FINALIZED batches waiting for a batch worker, oldest first.
        self._queue: deque[BatchRequest] = deque()
        self._created: list[Created] = []
        #: Called (under no lock) when work is queued; the workers set it.
        self.on_work: Callable[[], None] = lambda: None

    # ----------------------------------------------------------------- inspection (tests)

    @property
    def created(self) -> list[Created]:
        """Every batch and request ever created, in order."""
        with self._lock:
            return list(self._created)

    def batch_ids(self) -> list[str]:
        with self._lock:
            return list(self._batches)

    # ----------------------------------------------------------------- operations

    def create(self, endpoint_id: str, inputs: list[Any]) -> dict[str, Any]:
        """A new DRAFT batch holding ``inputs`` (each the ``input`` of one request)."""
        with self._lock:
            active = sum(
                1 for b in self._batches.values() if b.endpoint_id == endpoint_id and b.active
            )
            if active >= self.limits.active_batches:
                raise BatchError(
                    OVER_ENDPOINT_LIMIT,
                    f"endpoint {endpoint_id} has {active} active batches; "
                    f"the limit is {self.limits.active_batches}",
                )
            self._check_room(endpoint_id, 0, len(inputs))
            batch = Batch(
                id=f"batch_{uuid.uuid4().hex[:24]}",
                endpoint_id=endpoint_id,
                created_at_ms=int(time.time() * 1000),
            )
            self._batches[batch.id] = batch
            self._created.append(Created(batch.id, None))
            self._append(batch, inputs)
            return {"id": batch.id, "status": batch.status}

    def add(self, endpoint_id: str, batch_id: str, inputs: list[Any]) -> dict[str, Any]:
        """Append requests to a DRAFT batch."""
        with self._lock:
            batch = self._draft(endpoint_id, batch_id, "add requests to")
            self._check_room(endpoint_id, len(batch.requests), len(inputs))
            self._append(batch, inputs)
            return batch.summary()

    def remove(self, endpoint_id: str, batch_id: str, request_id: str) -> dict[str, Any]:
        """Remove one request from a DRAFT batch."""
        with self._lock:
            batch = self._draft(endpoint_id, batch_id, "remove requests from")
            if batch.requests.pop(request_id, None) is None:
                raise BatchError(404, f"request {request_id} not found in batch {batch_id}")
            return batch.summary()

    def update(self, endpoint_id: str, batch_id: str, name: str | None) -> dict[str, Any]:
        with self._lock:
            batch = self._get(endpoint_id, batch_id)
            if name is not None:
                batch.name = name
            return batch.summary()

    def finalize(self, endpoint_id: str, batch_id: str) -> dict[str, Any]:
        """Lock a DRAFT batch and queue its requests for the batch workers."""
        with self._lock:
            batch = self._draft(endpoint_id, batch_id, "finalize")
            batch.status = FINALIZED
            self._queue.extend(batch.requests.values())
            queued = bool(batch.requests)
            summary = batch.summary()
        if queued:
            self.on_work()
        return summary

    def cancel(self, endpoint_id: str, batch_id: str) -> dict[str, Any]:
        """Cancel queued requests now; running ones finish, then the batch is CANCELLED."""
        with self._lock:
            batch = self._get(endpoint_id, batch_id)
            if batch.status in (DRAFT, FINALIZED):
                batch.cancelling = True
                now = _now_iso()
                for request in batch.requests.values():
                    if request.status == IN_QUEUE:
                        request.status, request.completed_at = CANCELLED, now
                self._settle(batch)
            return batch.summary()

    def fail(self, batch_id: str, reason: str) -> None:
        """Make a batch FAILED (a systemic failure; tests only): its queued requests end."""
        with self._lock:
            batch = self._batches[batch_id]
            for request in batch.requests.values():
                if request.status == IN_QUEUE:
                    request.status, request.error = CANCELLED, reason
            batch.status = FAILED

    def get(self, endpoint_id: str, batch_id: str) -> dict[str, Any]:
        with self._lock:
            return self._get(endpoint_id, batch_id).summary()

    def list_batches(self, endpoint_id: str, offset: int, limit: int) -> dict[str, Any]:
        """One page of the endpoint's batches, newest first."""
        with self._lock:
            mine = [b for b in reversed(self._batches.values()) if b.endpoint_id == endpoint_id]
            page, more = _page(mine, offset, limit)
            return {
                "batches": [b.summary() for b in page],
                "total": len(mine),
                "offset": offset,
                "limit": limit,
                "hasMore": more,
            }

    def requests(self, endpoint_id: str, batch_id: str, offset: int, limit: int) -> dict[str, Any]:
        """One page of a batch's requests, in the order they were added."""
        with self._lock:
            batch = self._get(endpoint_id, batch_id)
            page, more = _page(list(batch.requests.values()), offset, limit)
            return {
                "requests": [r.body() for r in page],
                "total": len(batch.requests),
                "offset": offset,
                "limit": limit,
                "hasMore": more,
            }

    # ----------------------------------------------------------------- batch workers

    def take(self) -> BatchRequest | None:
        """The next queued request, now IN_PROGRESS; ``None`` when nothing is queued."""
        with self._lock:
            while self._queue:
                request = self._queue.popleft()
                batch = self._batches.get(request.batch_id)
                if request.status != IN_QUEUE or batch is None or batch.status != FINALIZED:
                    continue  # cancelled or failed while it waited
                request.status, request.started_at = IN_PROGRESS, _now_iso()
                return request
            return None

    def complete(
        self, request: BatchRequest, *, ok: bool, output: Any, has_output: bool, error: str | None
    ) -> None:
        """Record how a request's run ended (``ok``: COMPLETED, else FAILED)."""
        with self._lock:
            request.status = COMPLETED if ok else FAILED
            request.has_output = ok and has_output
            request.output = output if request.has_output else None
            request.error = None if ok else (error or "handler failed")
            request.completed_at = _now_iso()
            batch = self._batches.get(request.batch_id)
            if batch is not None:
                self._settle(batch)

    # ----------------------------------------------------------------- helpers (locked)

    def _get(self, endpoint_id: str, batch_id: str) -> Batch:
        batch = self._batches.get(batch_id)
        if batch is None or batch.endpoint_id != endpoint_id:
            raise BatchError(404, f"batch {batch_id} not found")
        return batch

    def _draft(self, endpoint_id: str, batch_id: str, what: str) -> Batch:
        batch = self._get(endpoint_id, batch_id)
        if batch.status != DRAFT:
            raise BatchError(
                WRONG_STATE, f"cannot {what} batch {batch_id}: it is {batch.status}, not DRAFT"
            )
        return batch

    def _check_room(self, endpoint_id: str, present: int, more: int) -> None:
        if present + more > self.limits.requests_per_batch:
            raise BatchError(
                OVER_BATCH_LIMIT,
                f"a batch holds at most {self.limits.requests_per_batch} requests "
                f"({present} present, {more} sent)",
            )
        queued = sum(
            b.count(IN_QUEUE) for b in self._batches.values() if b.endpoint_id == endpoint_id
        )
        if queued + more > self.limits.queued_per_endpoint:
            raise BatchError(
                OVER_ENDPOINT_LIMIT,
                f"endpoint {endpoint_id} has {queued} queued batch requests; "
                f"the limit is {self.limits.queued_per_endpoint}",
            )

    def _append(self, batch: Batch, inputs: list[Any]) -> None:
        for value in inputs:
            request_id = f"req_{uuid.uuid4().hex[:24]}"
            request = BatchRequest(id=request_id, batch_id=batch.id, input=value)
            batch.requests[request.id] = request
            self._created.append(Created(batch.id, request.id, value))

    @staticmethod
    def _settle(batch: Batch) -> None:
        if batch.cancelling and batch.count(IN_PROGRESS) == 0 and batch.status != FAILED:
            batch.status = CANCELLED
