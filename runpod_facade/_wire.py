"""The bridge to the generated client: one table-driven request builder and one parser per
reply schema.

Requests are built by the generated operation modules (``build_request``: method, route with
path parameters escaped, query, JSON body) as listed in ``runpod_generated.operations``, the
table ``scripts/regen.sh`` writes from the spec. Adding an operation to the spec therefore
adds it here too; only a new *reply schema* needs a parser below.

Replies are parsed straight from JSON into façade types, checking each field against the
spec's schema, instead of through the generated models: those add a second pass per reply
and accept wrong types silently. tests/contract checks both parsers agree on every recorded
reply.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from types import MappingProxyType
from typing import Any

from runpod_generated.models import ExecutionPolicy as WireExecutionPolicy
from runpod_generated.models import JobRequest
from runpod_generated.models import S3Config as WireS3Config
from runpod_generated.operations import OPERATIONS, OperationInfo
from runpod_generated.types import UNSET

from ._constants import LONG_POLL_READ_MARGIN
from ._errors import (
    APIError,
    APIResponseValidationError,
    AuthenticationError,
    BadRequestError,
    InvalidInputError,
    NotFoundError,
    PayloadTooLargeError,
    RateLimitError,
    ServerError,
)
from ._logging import redact
from ._options import ExecutionPolicy, Input, S3Config
from ._retry import Safety, parse_retry_after
from ._status import JobStatus, is_terminal, parse_status
from ._types import Health, HealthJobs, HealthWorkers, JobState, PurgeResult
from ._validation import check_webhook, encode_body

__all__ = [
    "JOB_FIELD_TYPES",
    "ApiRequest",
    "ApiResponse",
    "BodyShapeError",
    "JobRequest",
    "StreamBatch",
    "build_job_body",
    "build_request",
    "decode_object",
    "error_from_response",
    "job_in_error_reply",
    "job_state_from_object",
    "parse_reply",
    "require_object",
]


@dataclass(frozen=True, slots=True)
class ApiRequest:
    """One HTTP request, ready to send. ``read_timeout`` overrides the client's for long-polls
    (the server's hold plus a margin); ``reply`` names the schema of a 2xx body."""

    operation: str
    method: str
    path: str
    safety: Safety
    reply: str
    params: Mapping[str, int] = field(default_factory=dict)
    content: bytes | None = None
    job_id: str | None = None
    read_timeout: float | None = None
    hold: float | None = None


@dataclass(frozen=True, slots=True)
class ApiResponse:
    """An HTTP reply, fully read."""

    status_code: int
    headers: Mapping[str, str]
    content: bytes

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", errors="replace")


_EMPTY_PARAMS: Mapping[str, int] = MappingProxyType({})


def build_request(
    operation: str,
    endpoint_id: str,
    *,
    job_id: str | None = None,
    body: JobRequest | None = None,
    wait_ms: int | None = None,
    **query: int | None,
) -> ApiRequest:
    """The request for ``operation`` (a name from the spec's ``x-runpod-operation``).

    ``wait_ms`` is the server-side hold of an operation that takes ``wait``; ``query`` the
    other query parameters (``None`` leaves one out). The body is encoded once and checked
    against the operation's payload limit: InvalidInputError before any I/O.
    """
    info = OPERATIONS[operation]
    args: dict[str, Any] = {"endpoint_id": endpoint_id}
    if info.job_scoped:
        args["job_id"] = job_id
    if info.has_body:
        args["body"] = body
    if info.holds:
        args["wait"] = UNSET if wait_ms is None else wait_ms
    for name, value in query.items():
        args[name] = UNSET if value is None else value
    kwargs = info.build_request(**args)
    content = None
    if info.has_body:
        limit = info.max_payload_bytes
        content = encode_body(kwargs["json"], limit=limit, operation=operation)
    params = kwargs.get("params")
    hold = None if wait_ms is None else wait_ms / 1000
    return ApiRequest(
        operation=operation,
        method=info.method,
        path=kwargs["url"],
        safety=_SAFETY[info.safety],
        reply=info.reply_schema,
        params=MappingProxyType(params) if params else _EMPTY_PARAMS,
        content=content,
        job_id=job_id,
        # The client must never give up before the server's hold ends.
        read_timeout=None if hold is None else hold + LONG_POLL_READ_MARGIN,
        hold=hold,
    )


_SAFETY = {"repeatable": Safety.REPEATABLE, "submit": Safety.SUBMIT}


def operation_info(operation: str) -> OperationInfo:
    return OPERATIONS[operation]


# --- request bodies --------------------------------------------------------------------------


def build_job_body(
    input: Any,
    *,
    policy: ExecutionPolicy | None,
    webhook: str | None,
    s3_config: S3Config | None,
) -> JobRequest:
    """The ``JobRequest`` model for /run and /runsync; raises InvalidInputError on bad options."""
    if policy is not None and not isinstance(policy, ExecutionPolicy):
        raise _bad_option("policy", "an ExecutionPolicy", policy)
    if s3_config is not None and not isinstance(s3_config, S3Config):
        raise _bad_option("s3_config", "an S3Config", s3_config)
    body = JobRequest(input_=_check_input(input))
    if webhook is not None:
        body.webhook = check_webhook(webhook)
    if policy is not None:
        wire_policy = policy.to_wire()
        if wire_policy:
            body.policy = WireExecutionPolicy.from_dict(wire_policy)
    if s3_config is not None:
        body.s_3_config = WireS3Config.from_dict(s3_config.to_wire())
    return body


def _check_input(value: Any) -> Any:
    if isinstance(value, Input):
        return value.value
    if isinstance(value, dict) and len(value) == 1 and "input" in value:
        # The JS/Go SDKs take the whole request body; this SDK takes the input itself.
        raise InvalidInputError(
            'input is {"input": ...}: the SDK already sends your value as the request\'s '
            '"input", so the worker would receive {"input": {"input": ...}}. Pass the inner '
            "value (ep.run({...})), or wrap it as runpod_facade.Input({...}) to send it as is."
        )
    return value


def _bad_option(name: str, expected: str, value: object) -> Exception:
    return InvalidInputError(f"{name} must be {expected}, got {type(value).__name__}")


# --- replies ----------------------------------------------------------------------------------


class BodyShapeError(ValueError):
    """A body that is not the JSON shape expected of it. ``why`` says what is wrong and
    ``job_id`` is the job the body named, if any. Callers turn it into their own error:
    APIResponseValidationError for a reply, WebhookPayloadError for a webhook."""

    def __init__(self, why: str, job_id: str | None = None) -> None:
        self.why = why
        self.job_id = job_id
        super().__init__(why)


def decode_object(content: bytes | str) -> dict[str, Any]:
    """``content`` decoded as one JSON object; BodyShapeError if it is not one."""
    try:
        data = json.loads(content)
    except ValueError:  # also invalid UTF-8 (UnicodeDecodeError)
        raise BodyShapeError("the body is not JSON") from None
    except RecursionError:
        raise BodyShapeError("the body is nested too deeply") from None
    return require_object(data)


def require_object(data: Any) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise BodyShapeError(f"expected a JSON object, got {type(data).__name__}")
    return data


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
    job_id = data.get("id", expected_id)
    if not isinstance(job_id, str) or not job_id:
        raise BodyShapeError("no job id")
    if expected_id is not None and job_id != expected_id:
        raise BodyShapeError(f"the body is for job {job_id!r}, not {expected_id!r}")
    status = data.get("status")
    if not isinstance(status, str) or not status:
        raise BodyShapeError("no job status", job_id)
    for key, kind in field_types:
        value = data.get(key)
        # bool is an int to Python, not to JSON Schema: `"delayTime": true` is off-contract.
        if value is not None and (isinstance(value, bool) or not isinstance(value, kind)):
            raise BodyShapeError(f"`{key}` is {type(value).__name__}", job_id)
    return JobState(
        id=job_id,
        status=parse_status(status),
        output=data.get("output"),
        error=_opt_str(data.get("error")),
        delay_time=_opt_ms(data.get("delayTime")),
        execution_time=_opt_ms(data.get("executionTime")),
        worker_id=_opt_str(data.get("workerId")),
        retries=_opt_int(data.get("retries")),
        raw_json=raw_json,
    )


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


#: The parser of each 2xx reply schema named in the spec.
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
    return PARSERS[request.reply](response, request)


# --- errors -----------------------------------------------------------------------------------


def _error_data(response: ApiResponse) -> Any:
    try:
        return json.loads(response.content)
    except ValueError:
        return None


def _server_message(response: ApiResponse, data: Any) -> str:
    """The server's own words: JSON ``error``/``message`` if there, else the text itself."""
    text = response.text.strip()
    if not text:
        return "(empty body)"
    if isinstance(data, dict):
        for key in ("error", "message", "detail"):
            value = data.get(key)
            if isinstance(value, str) and value:
                return _preview(value)
    return _preview(text)


def job_in_error_reply(response: ApiResponse, request: ApiRequest) -> JobState | None:
    """The job an error reply describes, if its body is a terminal job.

    RunPod's public endpoints answer a failed ``/runsync`` with HTTP 400 and the failed job
    (``{"id": …, "status": "FAILED", "error": …}``); that is the job's outcome, not a
    rejected request."""
    if request.reply not in ("Job", "JobSubmitted", "CancelResponse"):
        return None
    data = _error_data(response)
    if not isinstance(data, dict) or not isinstance(data.get("id"), str):
        return None
    status = data.get("status")
    if not isinstance(status, str) or not is_terminal(parse_status(status)):
        return None
    try:
        return _job_state(data, response, request)
    except APIResponseValidationError:
        return None


def error_from_response(response: ApiResponse, request: ApiRequest) -> APIError:
    """The typed exception for an HTTP error reply. Its ``job_id`` is the request's job, or
    the one the body names."""
    code = response.status_code
    data = _error_data(response)
    # A server or proxy may echo the Authorization header back: mask the key everywhere.
    message = redact(_server_message(response, data))
    job_id = request.job_id
    if job_id is None:
        named = data.get("id") if isinstance(data, dict) else _id_in_text(response.text)
        job_id = named if isinstance(named, str) and named else None
    common: dict[str, Any] = {
        "status_code": code,
        "body": redact(response.text),
        "headers": response.headers,
        "operation": request.operation,
        "job_id": job_id,
    }
    if code == 429:
        return RateLimitError(message, retry_after=parse_retry_after(response.headers), **common)
    return _ERROR_CLASSES.get(code, _fallback_class(code))(message, **common)


_ERROR_CLASSES: Mapping[int, type[APIError]] = MappingProxyType(
    {
        400: BadRequestError,
        401: AuthenticationError,
        403: AuthenticationError,
        404: NotFoundError,
        413: PayloadTooLargeError,
        499: ServerError,
    }
)


def _fallback_class(code: int) -> type[APIError]:
    return ServerError if code >= 500 or code < 100 else APIError
