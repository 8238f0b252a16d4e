"""Replies, parsed straight from JSON into the façade's types: one parser per reply schema of the
spec, each field checked against it; a reply schema without a parser of its own here is parsed
by the one generic parser (``generic``) from the spec's table of its fields, into a ``Reply``.

The generated models are not used for parsing: they add a second pass per reply and accept
wrong types silently. tests/contract checks both agree on every recorded reply."""

from __future__ import annotations

import email.utils
import json
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from types import MappingProxyType
from typing import Any

from .._exceptions import (
    APIResponseValidationError,
)
from .._logging import redact
from .._status import STATUS_BY_VALUE, JobStatus, parse_status
from .._transports.base import ApiRequest, ApiResponse
from .._types import Health, HealthJobs, HealthWorkers, JobState, PurgeResult, Reply
from .bodies import BodyShapeError, decode_object, require_object
from .generic import reply_from_object, reply_schema

__all__ = [
    "JOB_FIELD_TYPES",
    "PARSERS",
    "BodyShapeError",
    "StreamBatch",
    "decode_object",
    "job_state_from_object",
    "parse_generic",
    "parse_health",
    "parse_job",
    "parse_purge",
    "parse_reply",
    "parse_retry_after",
    "parse_stream",
    "parse_submitted",
    "require_object",
]


def _json_object(response: ApiResponse, request: ApiRequest) -> dict[str, Any]:
    try:
        return decode_object(response.content)
    except BodyShapeError as exc:
        raise _invalid(response, request, exc.why) from None


def _invalid(
    response: ApiResponse, request: ApiRequest, why: str, job_id: str | None = None
) -> APIResponseValidationError:
    job_id = job_id or request.job_id or _id_in_text(response.text)
    return APIResponseValidationError(
        redact(f"unexpected reply: {why}; body starts {_preview(response.text)!r}"),
        status_code=response.status_code,
        body=redact(response.text),
        headers=response.headers,
        operation=request.operation,
        job_id=job_id,
    )


# A cut-short or off-contract body often still names the job: nothing is lost if it does.
_ID_IN_BODY = re.compile(r'"id"\s*:\s*"([^"\\]{1,512})"')


def _id_in_text(text: str) -> str | None:
    found = _ID_IN_BODY.search(text)
    return found.group(1) if found else None


def _preview(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + "…"


def _opt_str(value: Any) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else json.dumps(value)


def _opt_int(value: Any) -> int | None:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def _opt_ms(value: Any) -> timedelta | None:
    ms = _opt_int(value)
    return None if ms is None else timedelta(milliseconds=ms)


#: Types the ``Job`` schema gives its optional fields (``null`` is always allowed).
JOB_FIELD_TYPES: tuple[tuple[str, type | tuple[type, ...]], ...] = (
    ("delayTime", (int, float)),
    ("executionTime", (int, float)),
    ("workerId", str),
    ("retries", (int, float)),
)


def job_state_from_object(
    data: Mapping[str, Any],
    raw_json: bytes,
    *,
    expected_id: str | None = None,
    field_types: tuple[tuple[str, type | tuple[type, ...]], ...] = JOB_FIELD_TYPES,
) -> JobState:
    """The one parser of a job body (``Job``, ``JobSubmitted``, ``CancelResponse``, webhook).

    ``data`` is the decoded body and ``raw_json`` its bytes (kept whole in the state).
    ``expected_id`` is the job the body must describe; a body without ``id`` is taken to be
    about it. ``field_types`` lists the optional fields to type-check. BodyShapeError when
    there is no non-empty ``id``/``status`` string or a field has the wrong type.
    """
    get = data.get
    job_id = get("id", expected_id)
    if not isinstance(job_id, str) or not job_id:
        raise BodyShapeError("no job id")
    if expected_id is not None and job_id != expected_id:
        raise BodyShapeError(f"the body is for job {job_id!r}, not {expected_id!r}")
    status = get("status")
    if not isinstance(status, str) or not status:
        raise BodyShapeError("no job status", job_id)
    for key, kind in field_types:
        value = get(key)
        # bool is an int to Python, not to JSON Schema: `"delayTime": true` is off-contract.
        if value is not None and (value.__class__ is bool or not isinstance(value, kind)):
            raise BodyShapeError(f"`{key}` is {type(value).__name__}", job_id)
    # Absent fields are the common case: no helper call for them; nor for a str status, or a
    # time in whole milliseconds (what _opt_ms does, inline). Positional: JobState's order.
    error, delay, execution = get("error"), get("delayTime"), get("executionTime")
    worker, retries = get("workerId"), get("retries")
    if delay is not None:
        delay = _ONE_MS * delay if delay.__class__ is int else _opt_ms(delay)
    if execution is not None:
        execution = _ONE_MS * execution if execution.__class__ is int else _opt_ms(execution)
    return JobState(
        job_id,
        STATUS_BY_VALUE.get(status, status) if status.__class__ is str else parse_status(status),
        get("output"),
        None if error is None else _opt_str(error),
        delay,
        execution,
        None if worker is None else _opt_str(worker),
        None if retries is None else _opt_int(retries),
        raw_json,
    )


_ONE_MS = timedelta(milliseconds=1)


def _job_state(data: dict[str, Any], response: ApiResponse, request: ApiRequest) -> JobState:
    try:
        return job_state_from_object(data, response.content, expected_id=request.job_id)
    except BodyShapeError as exc:
        raise _invalid(response, request, exc.why, exc.job_id) from None


def parse_job(response: ApiResponse, request: ApiRequest) -> JobState:
    """A ``Job`` or ``CancelResponse`` reply (status, runsync, status-sync, cancel)."""
    return _job_state(_json_object(response, request), response, request)


def parse_submitted(response: ApiResponse, request: ApiRequest) -> JobState:
    """A ``JobSubmitted`` reply (run, retry): at least the id and the status."""
    return _job_state(_json_object(response, request), response, request)


@dataclass(frozen=True, slots=True)
class StreamBatch:
    """One ``/stream`` reply: the chunks drained by this call and the job's status.
    ``chunks`` are the chunk objects whole (``output`` plus e.g. ``metrics``)."""

    status: JobStatus | str
    chunks: tuple[dict[str, Any], ...]
    error: str | None
    raw_json: bytes

    @property
    def outputs(self) -> tuple[Any, ...]:
        return tuple(chunk.get("output") for chunk in self.chunks)


def parse_stream(response: ApiResponse, request: ApiRequest) -> StreamBatch:
    data = _json_object(response, request)
    status = data.get("status")
    if not isinstance(status, str) or not status:
        raise _invalid(response, request, "no job status in the stream reply")
    found = data.get("id")
    if isinstance(found, str) and request.job_id is not None and found != request.job_id:
        raise _invalid(response, request, f"the body is for job {found!r}")
    chunks = data.get("stream")
    if chunks is None:
        chunks = []
    if not isinstance(chunks, list) or not all(isinstance(c, dict) for c in chunks):
        raise _invalid(response, request, "`stream` is not a list of chunk objects")
    return StreamBatch(
        status=parse_status(status),
        chunks=tuple(chunks),
        error=_opt_str(data.get("error")),
        raw_json=response.content,
    )


def _counters(
    data: dict[str, Any], key: str, response: ApiResponse, request: ApiRequest
) -> dict[str, int | None] | None:
    group = data.get(key)
    if group is None:
        return None
    if not isinstance(group, dict):
        raise _invalid(response, request, f"`{key}` is not an object")
    counters: dict[str, int | None] = {}
    for wire_name, value in group.items():
        number = _opt_int(value)
        counters[wire_name] = number if number is not None and number >= 0 else None
    return counters


def parse_health(response: ApiResponse, request: ApiRequest) -> Health:
    data = _json_object(response, request)
    jobs = _counters(data, "jobs", response, request) or {}
    workers = _counters(data, "workers", response, request) or {}
    return Health(
        jobs=HealthJobs(
            completed=jobs.get("completed"),
            failed=jobs.get("failed"),
            in_progress=jobs.get("inProgress"),
            in_queue=jobs.get("inQueue"),
            retried=jobs.get("retried"),
        ),
        workers=HealthWorkers(
            idle=workers.get("idle"),
            initializing=workers.get("initializing"),
            ready=workers.get("ready"),
            running=workers.get("running"),
            throttled=workers.get("throttled"),
            unhealthy=workers.get("unhealthy"),
        ),
        raw_json=response.content,
    )


def parse_purge(response: ApiResponse, request: ApiRequest) -> PurgeResult:
    data = _json_object(response, request)
    removed = _opt_int(data.get("removed"))
    if removed is None or removed < 0:
        raise _invalid(response, request, "no `removed` count in the reply")
    status = data.get("status")
    if not isinstance(status, str):
        raise _invalid(response, request, "no `status` in the reply")
    return PurgeResult(removed=removed, status=status, raw_json=response.content)


def parse_generic(response: ApiResponse, request: ApiRequest) -> Reply:
    """A reply of a schema with no parser in :data:`PARSERS`, checked against the spec's
    table of its fields."""
    data = _json_object(response, request)
    try:
        return reply_from_object(
            reply_schema(request.reply), data, response.content, expected_id=request.job_id
        )
    except BodyShapeError as exc:
        raise _invalid(response, request, exc.why, exc.job_id) from None


#: The hand-written parser of each 2xx reply schema that has a façade type of its own; any
#: other reply schema of the spec is parsed by :func:`parse_generic`.
PARSERS: Mapping[str, Callable[[ApiResponse, ApiRequest], Any]] = MappingProxyType(
    {
        "Job": parse_job,
        "JobSubmitted": parse_submitted,
        "CancelResponse": parse_job,
        "StreamResponse": parse_stream,
        "EndpointHealth": parse_health,
        "PurgeQueueResponse": parse_purge,
    }
)


def parse_reply(response: ApiResponse, request: ApiRequest) -> Any:
    """The façade value of a 2xx reply to ``request``; APIResponseValidationError if the body
    breaks the contract."""
    return PARSERS.get(request.reply, parse_generic)(response, request)


def parse_retry_after(headers: Mapping[str, str], *, now: float | None = None) -> float | None:
    """Seconds from ``Retry-After`` (delta-seconds or an HTTP-date) or ``retry-after-ms``."""
    ms = headers.get("retry-after-ms")
    if ms is not None:
        try:
            value = float(ms) / 1000.0
        except ValueError:
            value = -1.0
        if value >= 0 and value == value:
            return value
    raw = headers.get("retry-after")
    if raw is None:
        return None
    raw = raw.strip()
    try:
        seconds = float(raw)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(raw)
        except (TypeError, ValueError, IndexError):
            return None
        if when is None:
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
        return max(0.0, seconds)
    if seconds != seconds or seconds < 0 or seconds == float("inf"):
        return None
    return seconds
