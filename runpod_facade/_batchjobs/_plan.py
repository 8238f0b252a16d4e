"""The sans-IO half of the Batch Jobs client: the checks, what to send (:class:`Call`),
what a reply means (:func:`decide`), and the decisions of retrying, paging, waiting and
chunking. Nothing here does I/O or reads a clock."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal
from urllib.parse import quote

from .._exceptions import (
    APIConnectionError,
    APIError,
    APIResponseValidationError,
    ConflictError,
    InternalServerError,
    InvalidInputError,
    RateLimitError,
)
from .._options import to_seconds
from .._transports.base import ApiResponse
from .._validation import not_a_string
from .._wire.errors import status_error
from ._model import BatchPage, BatchSummary

__all__ = [
    "DEFAULT_PAGE_SIZE",
    "FIRST_PAUSE",
    "MAX_ACTIVE_BATCHES",
    "MAX_PAGE_SIZE",
    "MAX_PAYLOAD_BYTES",
    "MAX_QUEUED_PER_ENDPOINT",
    "MAX_REQUESTS_PER_BATCH",
    "BatchStateError",
    "Call",
    "WaitStep",
    "add_call",
    "check_batch_id",
    "check_count",
    "check_interval",
    "check_name",
    "check_offset",
    "chunk_items",
    "create_call",
    "decide",
    "encode_items",
    "next_offset",
    "next_pause",
    "progress",
    "retry_delay",
    "simple_call",
    "wait_step",
]

# x-runpod-batch-limits and x-runpod-page-limit of openapi/runpod-batch-jobs.yaml
# (tests/contract/test_batch_contract.py keeps them equal).
MAX_ACTIVE_BATCHES: Final = 10
MAX_REQUESTS_PER_BATCH: Final = 5_000
MAX_QUEUED_PER_ENDPOINT: Final = 50_000
MAX_PAYLOAD_BYTES: Final = 10 * 1024 * 1024
DEFAULT_PAGE_SIZE: Final = 50
MAX_PAGE_SIZE: Final = 1_000

# The bytes around the items of a body.
_ENVELOPES: Final = {"batch-create": (b"[", b"]"), "batch-add": (b'{"requests":[', b"]}")}


class BatchStateError(ConflictError):
    """409: the batch is not in a state that allows the call (e.g. adding to a FINALIZED
    batch). ``job_id`` is the batch id."""


@dataclass(frozen=True, slots=True)
class Call:
    """One HTTP request of the Batch Jobs API. ``repeatable``: safe to send again when its
    reply was lost (reads; never a create or an add, which would create twice)."""

    operation: str
    method: str
    path: str
    params: Mapping[str, int]
    body: bytes | None
    batch_id: str | None
    repeatable: bool


def check_batch_id(value: object, what: str = "batch_id") -> str:
    """A batch or request id: a non-empty string without ``/`` or whitespace."""
    if not isinstance(value, str):
        raise not_a_string(value, what)
    if not value or value != value.strip() or "/" in value or any(c.isspace() for c in value):
        raise InvalidInputError(f"{what} must be a non-empty id without '/' or spaces: {value!r}")
    return value


def check_count(value: object, name: str, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= high:
        raise InvalidInputError(f"{name} must be an int from 1 to {high}: {value!r}")
    return value


def check_offset(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidInputError(f"offset must be an int >= 0: {value!r}")
    return value


def check_name(value: object) -> bytes:
    """The body of an update that sets the display name."""
    if not isinstance(value, str):
        raise InvalidInputError(f"name must be a string, got {type(value).__name__}")
    return json.dumps({"name": value}).encode()


def check_interval(value: object) -> float:
    seconds = to_seconds(value, "interval")  # type: ignore[arg-type]  # checked there
    if not seconds > 0:
        raise InvalidInputError(f"interval must be a positive number of seconds: {value!r}")
    return seconds


def encode_items(inputs: Iterable[Any]) -> list[bytes]:
    """Each input as the JSON of one request, ``{"input": ...}``, strictly (no NaN)."""
    if isinstance(inputs, (str, bytes, Mapping)):
        raise InvalidInputError("inputs must be a list (or iterable) of inputs, one per request")
    encoded: list[bytes] = []
    for index, value in enumerate(inputs):
        try:
            text = json.dumps(
                {"input": value}, ensure_ascii=False, allow_nan=False, separators=(",", ":")
            )
        except (TypeError, ValueError, RecursionError) as exc:
            raise InvalidInputError(f"inputs[{index}] is not JSON-serializable: {exc}") from None
        encoded.append(text.encode("utf-8"))
    return encoded


def _body(items: list[bytes], operation: str) -> bytes:
    if len(items) > MAX_REQUESTS_PER_BATCH:
        raise InvalidInputError(
            f"{operation}: {len(items):,} requests; a batch holds at most "
            f"{MAX_REQUESTS_PER_BATCH:,} (ep.map(..., via='batch-api') splits for you)"
        )
    opening, closing = _ENVELOPES[operation]
    body = opening + b",".join(items) + closing
    if len(body) > MAX_PAYLOAD_BYTES:
        raise InvalidInputError(
            f"{operation}: the body is {len(body):,} bytes; the API accepts at most "
            f"{MAX_PAYLOAD_BYTES:,} per call (send the requests in several add() calls)"
        )
    return body


# operation: (method, route after /batch, repeatable); the ids are path-escaped.
_ROUTES: Final[dict[str, tuple[str, str, bool]]] = {
    "batch-create": ("POST", "", False),
    "batch-list": ("GET", "", True),
    "batch-get": ("GET", "/{id}", True),
    "batch-update": ("PUT", "/{id}", True),
    "batch-add": ("POST", "/{id}/requests", False),
    "batch-requests": ("GET", "/{id}/requests", True),
    "batch-remove": ("DELETE", "/{id}/requests/{request}", False),
    "batch-finalize": ("POST", "/{id}/finalize", False),
    "batch-cancel": ("POST", "/{id}/cancel", True),
}


def create_call(endpoint_id: str, items: list[bytes]) -> Call:
    return simple_call("batch-create", endpoint_id, None, body=_body(items, "batch-create"))


def add_call(endpoint_id: str, batch_id: str, items: list[bytes]) -> Call:
    return simple_call("batch-add", endpoint_id, batch_id, body=_body(items, "batch-add"))


def simple_call(
    operation: str,
    endpoint_id: str,
    batch_id: str | None,
    *,
    params: Mapping[str, int] | None = None,
    request_id: str | None = None,
    body: bytes | None = None,
) -> Call:
    """The call of ``operation`` (the bodies of create and add: :func:`create_call`,
    :func:`add_call`)."""
    method, route, repeatable = _ROUTES[operation]
    ids = {"id": quote(batch_id or "", safe=""), "request": quote(request_id or "", safe="")}
    path = f"/{quote(endpoint_id, safe='')}/batch{route.format_map(ids)}"
    batch_id = batch_id if route else None
    return Call(operation, method, path, params or {}, body, batch_id, repeatable)


def decide(call: Call, status: int, headers: Mapping[str, str], body: bytes) -> Any:
    """The JSON of a 2xx reply, or the error a non-2xx reply means (raised)."""
    if 200 <= status < 300:
        try:
            return json.loads(body)
        except ValueError:
            raise APIResponseValidationError(
                f"reply of {call.operation} is not JSON",
                status_code=status,
                body=body.decode("utf-8", "replace")[:300],
                operation=call.operation,
                job_id=call.batch_id,
            ) from None
    # The job API's mapping (masking an echoed key), with 409 as the batch's state error.
    raise status_error(
        ApiResponse(status, headers, body),
        operation=call.operation,
        job_id=call.batch_id,
        classes={409: BatchStateError},
    )


def retry_delay(
    call: Call, attempt: int, max_retries: int, backoff: float, error: Exception
) -> float | None:
    """Seconds before sending ``call`` again after ``error``, or ``None`` to give up.

    Only repeatable calls are sent again (a create or an add whose reply was lost may have
    been applied: the journal of ``map(via="batch-api")`` settles those by reading back).
    """
    if not call.repeatable or attempt >= max_retries:
        return None
    if isinstance(error, RateLimitError):
        return error.retry_after if error.retry_after is not None else backoff
    transient = isinstance(error, InternalServerError | APIConnectionError)
    return backoff if transient or not isinstance(error, APIError) else None


def next_offset(page: BatchPage) -> int | None:
    """Where the next page starts, or ``None`` after the last one."""
    if not page.has_more:
        return None
    if not page.items:
        # hasMore with an empty page would loop forever: the contract is broken.
        raise APIResponseValidationError(
            "an empty page says hasMore", status_code=200, operation="batch-requests"
        )
    return page.offset + len(page.items)


@dataclass(frozen=True, slots=True)
class WaitStep:
    """What a waiter does after reading a summary: stop (``done``), give up (``expired``) or
    ``sleep`` for ``seconds`` and read again."""

    action: Literal["done", "expired", "sleep"]
    seconds: float = 0.0


def wait_step(
    summary: BatchSummary, now: float, deadline: float | None, interval: float
) -> WaitStep:
    """Done when completed + failed == total (FINALIZED) or the batch ended; a DRAFT batch
    never runs, so waiting on it is a mistake reported before any sleep."""
    if summary.done:
        return WaitStep("done")
    if summary.status == "DRAFT":
        raise InvalidInputError(
            f"batch {summary.id} is DRAFT: it does not run until finalize() is called"
        )
    if deadline is not None:
        left = deadline - now
        if left <= 0:
            return WaitStep("expired")
        return WaitStep("sleep", min(interval, left))
    return WaitStep("sleep", interval)


#: The first pause between two polls of a batch; each idle poll doubles it, up to the
#: caller's ``interval`` (a batch may run for hours, a local one for milliseconds).
FIRST_PAUSE: Final = 0.05


def next_pause(pause: float, interval: float) -> float:
    """The pause after an idle poll that paused ``pause`` seconds."""
    return min(interval, pause * 2)


def progress(summary: BatchSummary) -> str:
    """Where a batch stood when its wait ran out (its WaitTimeout's ``progress``)."""
    return f"{summary.finished} of {summary.request_total} requests done, batch {summary.status}"


def chunk_items(
    items: Iterable[bytes],
    *,
    max_count: int = MAX_REQUESTS_PER_BATCH,
    max_bytes: int = MAX_PAYLOAD_BYTES,
) -> Iterator[list[bytes]]:
    """Split encoded requests into groups that each fit one call: at most ``max_count``
    requests and ``max_bytes`` of body (the add envelope, the larger one, included)."""
    overhead = sum(map(len, _ENVELOPES["batch-add"]))
    group: list[bytes] = []
    size = overhead
    for index, item in enumerate(items):
        if overhead + len(item) > max_bytes:
            raise InvalidInputError(
                f"input {index} alone is {len(item):,} bytes; one call carries at most "
                f"{max_bytes:,} (upload large data elsewhere and pass a URL)"
            )
        extra = len(item) + (1 if group else 0)
        if group and (len(group) >= max_count or size + extra > max_bytes):
            yield group
            group, size, extra = [], overhead, len(item)
        group.append(item)
        size += extra
    if group:
        yield group
