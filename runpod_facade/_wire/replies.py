"""Replies, parsed straight from JSON into the façade's types: one parser per reply schema of the
spec that has a façade type of its own, each field checked against it; every other reply
schema is parsed by the one generic parser (:func:`parse_generic`) into a ``Reply``, its fields
read from the spec's reply table (``runpod_generated.operations.REPLY_SCHEMAS``, written by
``make regen``) and checked there — required, JSON type, ``null``, minimum. An operation whose
reply schema is new to the spec is therefore parsed without a line of code here.

The generated models are not used for parsing: they add a second pass per reply and accept
wrong types silently. tests/contract checks both agree on every recorded reply."""

from __future__ import annotations

import dataclasses
import email.utils
import functools
import json
import re
import time
from collections.abc import Callable, Mapping
from datetime import timedelta
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from .._exceptions import APIResponseValidationError
from .._logging import redact
from .._status import STATUS_BY_VALUE, JobStatus, parse_status
from .._transports.base import ApiRequest, ApiResponse
from .._types import Health, HealthJobs, HealthWorkers, JobState, PurgeResult, Reply
from .bodies import BodyShapeError, decode_object, require_object

if TYPE_CHECKING:
    from runpod_generated.operations import FieldInfo, ReplySchema

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
    "reply_from_object",
    "require_object",
]


_T = TypeVar("_T")


class _Parser(Generic[_T]):
    """A parser of a reply's decoded body (``body``), called as the parser of the whole reply
    (``parser(response, request)``): see :func:`parse_reply`."""

    def __init__(self, body: Callable[[dict[str, Any], ApiResponse, ApiRequest], _T]) -> None:
        self.body = body
        functools.update_wrapper(self, body)

    def __call__(self, response: ApiResponse, request: ApiRequest) -> _T:
        result: _T = parse_reply(response, request, self)
        return result


def _invalid(
    response: ApiResponse, request: ApiRequest, why: str, job_id: str | None = None
) -> APIResponseValidationError:
    return APIResponseValidationError(
        redact(f"unexpected reply: {why}; body starts {_preview(response.text)!r}"),
        status_code=response.status_code,
        body=redact(response.text),
        headers=response.headers,
        operation=request.operation,
        job_id=job_id or request.job_id or _id_in_text(response.text),
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
    return value if value is None or isinstance(value, str) else json.dumps(value)


def _opt_int(value: Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def _opt_ms(value: Any) -> timedelta | None:
    ms = _opt_int(value)
    return None if ms is None else timedelta(milliseconds=ms)


_ONE_MS = timedelta(milliseconds=1)


#: Types the ``Job`` schema gives its optional fields (``null`` is always allowed).
JOB_FIELD_TYPES: tuple[tuple[str, type | tuple[type, ...]], ...] = (
    ("delayTime", (int, float)),
    ("executionTime", (int, float)),
    ("workerId", str),
    ("retries", (int, float)),
)


_NUMBER_OR_NONE = frozenset({int, float, type(None)})
_TEXT_OR_NONE = frozenset({str, type(None)})


def _check_field_types(
    data: Mapping[str, Any],
    field_types: tuple[tuple[str, type | tuple[type, ...]], ...],
    job_id: str,
) -> None:
    for key, kind in field_types:
        value = data.get(key)
        # bool is an int to Python, not to JSON Schema: `"delayTime": true` is off-contract.
        if value is not None and (value.__class__ is bool or not isinstance(value, kind)):
            raise BodyShapeError(f"`{key}` is {type(value).__name__}", job_id)


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
    error, delay, execution = get("error"), get("delayTime"), get("executionTime")
    worker, retries = get("workerId"), get("retries")
    # The usual body passes JOB_FIELD_TYPES by the class of each value alone (a set lookup
    # each); anything else — other field types, a bool, a subclass — is checked field by field.
    if (
        field_types is not JOB_FIELD_TYPES
        or delay.__class__ not in _NUMBER_OR_NONE
        or execution.__class__ not in _NUMBER_OR_NONE
        or retries.__class__ not in _NUMBER_OR_NONE
        or worker.__class__ not in _TEXT_OR_NONE
    ):
        _check_field_types(data, field_types, job_id)
    # Absent fields are the common case: no helper call for them; nor for a str status, or a
    # time in whole milliseconds (what _opt_ms does, inline). Positional: JobState's order.
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
        worker if worker is None or worker.__class__ is str else _opt_str(worker),
        None if retries is None else _opt_int(retries),
        raw_json,
    )


@_Parser
def parse_job(data: dict[str, Any], response: ApiResponse, request: ApiRequest) -> JobState:
    """A ``Job``, ``CancelResponse`` (status, runsync, status-sync, cancel) or ``JobSubmitted``
    reply (run, retry: at least the id and the status)."""
    # parse_reply runs this line itself for the usual reply (one call less): keep both alike.
    return job_state_from_object(data, response.content, expected_id=request.job_id)


@dataclasses.dataclass(frozen=True, slots=True)
class StreamBatch:
    """One ``/stream`` reply: the chunks drained by this call and the job's status.
    ``chunks`` are the chunk objects whole (``output`` plus e.g. ``metrics``)."""

    status: JobStatus | str
    chunks: tuple[dict[str, Any], ...]
    error: str | None
    raw_json: bytes


@_Parser
def parse_stream(data: dict[str, Any], response: ApiResponse, request: ApiRequest) -> StreamBatch:
    status = data.get("status")
    if not isinstance(status, str) or not status:
        raise BodyShapeError("no job status in the stream reply")
    found = data.get("id")
    if isinstance(found, str) and request.job_id is not None and found != request.job_id:
        raise BodyShapeError(f"the body is for job {found!r}")
    chunks = data.get("stream")
    if chunks is None:
        chunks = []
    if not isinstance(chunks, list) or not all(isinstance(c, dict) for c in chunks):
        raise BodyShapeError("`stream` is not a list of chunk objects")
    return StreamBatch(
        status=parse_status(status),
        chunks=tuple(chunks),
        error=_opt_str(data.get("error")),
        raw_json=response.content,
    )


_Group = TypeVar("_Group", HealthJobs, HealthWorkers)


def _counters(kind: type[_Group], data: dict[str, Any], key: str) -> _Group:
    """Group ``key`` of a health reply as ``kind``: a counter left out, or no count, is ``None``."""
    group = data.get(key)
    if group is None:
        group = {}
    elif not isinstance(group, dict):
        raise BodyShapeError(f"`{key}` is not an object")
    counts: dict[str, int | None] = {}
    for counter in dataclasses.fields(kind):
        # On the wire a counter is named in camelCase: `in_queue` is `inQueue`.
        first, *rest = counter.name.split("_")
        number = _opt_int(group.get(first + "".join(word.title() for word in rest)))
        counts[counter.name] = number if number is not None and number >= 0 else None
    return kind(**counts)


@_Parser
def parse_health(data: dict[str, Any], response: ApiResponse, request: ApiRequest) -> Health:
    return Health(
        jobs=_counters(HealthJobs, data, "jobs"),
        workers=_counters(HealthWorkers, data, "workers"),
        raw_json=response.content,
    )


@_Parser
def parse_purge(data: dict[str, Any], response: ApiResponse, request: ApiRequest) -> PurgeResult:
    removed = _opt_int(data.get("removed"))
    if removed is None or removed < 0:
        raise BodyShapeError("no `removed` count in the reply")
    status = data.get("status")
    if not isinstance(status, str):
        raise BodyShapeError("no `status` in the reply")
    return PurgeResult(removed=removed, status=status, raw_json=response.content)


# JSON Schema's types as Python's.
_PYTHON_TYPES: Mapping[str, type | tuple[type, ...]] = {
    "string": str,
    "integer": int,
    "number": (int, float),
    "boolean": bool,
    "object": dict,
    "array": list,
}


def _typed(field: FieldInfo, value: Any) -> Any:
    """``value`` as the field's JSON type says (an integral float is an integer, as in JSON
    Schema); BodyShapeError when it is not of that type."""
    kind = field.json_type
    if kind is None:
        return value
    if kind == "integer" and isinstance(value, float) and value.is_integer():
        return int(value)
    # bool is an int to Python, not to JSON Schema: `"position": true` is off-contract.
    boolean = isinstance(value, bool)
    if isinstance(value, _PYTHON_TYPES.get(kind, ())) and boolean == (kind == "boolean"):
        return value
    raise BodyShapeError(f"`{field.name}` is {type(value).__name__}, not {kind}")


def _value(field: FieldInfo, data: Mapping[str, Any]) -> Any:
    if field.name not in data:
        if field.required:
            raise BodyShapeError(f"no `{field.name}` in the reply")
        return None
    value = data[field.name]
    if value is None:
        if not field.nullable:
            raise BodyShapeError(f"`{field.name}` is null")
        return None
    value = _typed(field, value)
    if field.minimum is not None and isinstance(value, int | float) and value < field.minimum:
        raise BodyShapeError(f"`{field.name}` is {value}, less than {field.minimum}")
    return value


def reply_from_object(
    schema: ReplySchema, data: Mapping[str, Any], raw_json: bytes, *, expected_id: str | None
) -> Reply:
    """The :class:`Reply` of ``data``, a decoded body of ``schema``; ``raw_json`` its bytes.

    ``expected_id`` is the job the request was about: a body whose ``id`` field names another
    job is refused. BodyShapeError (with the job the body named) when a field breaks the
    schema."""
    named = data.get("id")
    job_id = named if isinstance(named, str) and named else expected_id
    try:
        values = {field.python: _value(field, data) for field in schema.fields}
    except BodyShapeError as exc:
        raise BodyShapeError(exc.why, job_id) from None
    if expected_id is not None and isinstance(named, str) and named != expected_id:
        raise BodyShapeError(f"the body is for job {named!r}, not {expected_id!r}", named)
    return Reply(schema.name, values, raw_json)


@_Parser
def parse_generic(data: dict[str, Any], response: ApiResponse, request: ApiRequest) -> Reply:
    """A reply of a schema with no parser in :data:`PARSERS`, checked against the spec's
    table of its fields."""
    from runpod_generated.operations import REPLY_SCHEMAS  # loaded on first use

    schema = REPLY_SCHEMAS[request.reply]
    return reply_from_object(schema, data, response.content, expected_id=request.job_id)


#: The hand-written parser of each 2xx reply schema that has a façade type of its own; any
#: other reply schema of the spec is parsed by :func:`parse_generic`.
PARSERS: Mapping[str, _Parser[Any]] = MappingProxyType(
    {
        "Job": parse_job,
        "JobSubmitted": parse_job,
        "CancelResponse": parse_job,
        "StreamResponse": parse_stream,
        "EndpointHealth": parse_health,
        "PurgeQueueResponse": parse_purge,
    }
)


def parse_reply(
    response: ApiResponse, request: ApiRequest, parser: _Parser[Any] | None = None
) -> Any:
    """The façade value of a 2xx reply to ``request``, by ``parser`` or else the parser of its
    reply schema: a body that is no JSON object, or that the parser refuses (BodyShapeError),
    is an APIResponseValidationError. Every reply passes here: the body's parser is called
    directly, one call per reply."""
    if parser is None:
        parser = PARSERS.get(request.reply, parse_generic)
    try:
        data = decode_object(response.content)
        if parser is parse_job:  # the reply of every submit and wait: parse_job's body, inline
            return job_state_from_object(data, response.content, expected_id=request.job_id)
        return parser.body(data, response, request)
    except BodyShapeError as exc:
        raise _invalid(response, request, exc.why, exc.job_id) from None


def parse_retry_after(headers: Mapping[str, str], *, now: float | None = None) -> float | None:
    """Seconds from ``Retry-After`` (delta-seconds or an HTTP-date) or ``retry-after-ms``."""
    ms = headers.get("retry-after-ms")
    if ms is not None:
        try:
            value = float(ms) / 1000.0
        except ValueError:
            value = -1.0
        if value >= 0:  # not NaN either
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
        seconds = when.timestamp() - (time.time() if now is None else now)
        return max(0.0, seconds)
    return seconds if 0 <= seconds < float("inf") else None  # not NaN either
