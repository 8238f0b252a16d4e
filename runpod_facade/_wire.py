"""The bridge to the generated client: requests are described by the generated operation
modules and replies are parsed by the generated models, then turned into façade types.

This is the only module that touches ``runpod_generated``. It relies on each generated
operation's ``_get_kwargs`` (method, route and query, with path parameters escaped) because
the generated client cannot take a per-call timeout, which long-polls need; the generator is
pinned exactly and tests/contract re-checks this bridge against the spec on every run.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from types import MappingProxyType
from typing import Any, Protocol, Self, TypeVar

from runpod_generated.api.endpoint import get_endpoint_health, purge_queue
from runpod_generated.api.jobs import (
    cancel_job,
    get_job_status,
    retry_job,
    run_job,
    run_job_sync,
    stream_job,
    wait_job_status,
)
from runpod_generated.models import (
    CancelResponse,
    EndpointHealth,
    Job,
    JobRequest,
    JobSubmitted,
    PurgeQueueResponse,
    StreamResponse,
)
from runpod_generated.models import ExecutionPolicy as WireExecutionPolicy
from runpod_generated.models import S3Config as WireS3Config
from runpod_generated.types import UNSET, Unset

from ._constants import LONG_POLL_READ_MARGIN, MAX_RUN_PAYLOAD_BYTES, MAX_RUNSYNC_PAYLOAD_BYTES
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
from ._policy import ExecutionPolicy, S3Config
from ._retry import Safety, parse_retry_after
from ._status import JobStatus, parse_status
from ._types import Health, HealthJobs, HealthWorkers, JobState, PurgeResult
from ._validation import check_webhook, encode_body

__all__ = [
    "ApiRequest",
    "ApiResponse",
    "StreamBatch",
    "build_job_body",
    "error_from_response",
]


@dataclass(frozen=True, slots=True)
class ApiRequest:
    """One HTTP request, ready to send. ``read_timeout`` overrides the client's for long-polls."""

    operation: str
    method: str
    path: str
    safety: Safety
    params: Mapping[str, int] = field(default_factory=dict)
    content: bytes | None = None
    job_id: str | None = None
    read_timeout: float | None = None


@dataclass(frozen=True, slots=True)
class ApiResponse:
    """An HTTP reply, fully read."""

    status_code: int
    headers: Mapping[str, str]
    content: bytes

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", errors="replace")


def _request(
    operation: str,
    kwargs: dict[str, Any],
    safety: Safety,
    *,
    job_id: str | None = None,
    content: bytes | None = None,
    read_timeout: float | None = None,
) -> ApiRequest:
    return ApiRequest(
        operation=operation,
        method=str(kwargs["method"]).upper(),
        path=str(kwargs["url"]),
        safety=safety,
        params=MappingProxyType(dict(kwargs.get("params") or {})),
        content=content,
        job_id=job_id,
        read_timeout=read_timeout,
    )


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
    body = JobRequest(input_=input)
    if webhook is not None:
        body.webhook = check_webhook(webhook)
    if policy is not None:
        wire_policy = policy.to_wire()
        if wire_policy:
            body.policy = WireExecutionPolicy.from_dict(wire_policy)
    if s3_config is not None:
        body.s_3_config = WireS3Config.from_dict(s3_config.to_wire())
    return body


def _bad_option(name: str, expected: str, value: object) -> Exception:
    return InvalidInputError(f"{name} must be {expected}, got {type(value).__name__}")


# --- requests, one per operation --------------------------------------------------------------


def run_request(endpoint_id: str, body: JobRequest) -> ApiRequest:
    kwargs = run_job._get_kwargs(endpoint_id, body=body)
    content = encode_body(kwargs["json"], limit=MAX_RUN_PAYLOAD_BYTES, operation="run")
    return _request("run", kwargs, Safety.SUBMIT, content=content)


def _long_poll_read(wait_ms: int) -> float:
    # The client must never give up before the server's hold ends.
    return wait_ms / 1000 + LONG_POLL_READ_MARGIN


def runsync_request(endpoint_id: str, body: JobRequest, *, wait_ms: int) -> ApiRequest:
    kwargs = run_job_sync._get_kwargs(endpoint_id, body=body, wait=wait_ms)
    content = encode_body(kwargs["json"], limit=MAX_RUNSYNC_PAYLOAD_BYTES, operation="runsync")
    return _request(
        "runsync", kwargs, Safety.SUBMIT, content=content, read_timeout=_long_poll_read(wait_ms)
    )


def status_request(endpoint_id: str, job_id: str, *, ttl_ms: int | None = None) -> ApiRequest:
    kwargs = get_job_status._get_kwargs(
        endpoint_id, job_id, ttl=UNSET if ttl_ms is None else ttl_ms
    )
    return _request("status", kwargs, Safety.REPEATABLE, job_id=job_id)


def status_sync_request(endpoint_id: str, job_id: str, *, wait_ms: int) -> ApiRequest:
    kwargs = wait_job_status._get_kwargs(endpoint_id, job_id, wait=wait_ms)
    return _request(
        "status-sync",
        kwargs,
        Safety.REPEATABLE,
        job_id=job_id,
        read_timeout=_long_poll_read(wait_ms),
    )


def stream_request(endpoint_id: str, job_id: str, *, wait_ms: int) -> ApiRequest:
    kwargs = stream_job._get_kwargs(endpoint_id, job_id, wait=wait_ms)
    return _request(
        "stream", kwargs, Safety.REPEATABLE, job_id=job_id, read_timeout=_long_poll_read(wait_ms)
    )


def cancel_request(endpoint_id: str, job_id: str) -> ApiRequest:
    # Cancelling twice is harmless, so lost replies may be retried.
    return _request(
        "cancel", cancel_job._get_kwargs(endpoint_id, job_id), Safety.REPEATABLE, job_id=job_id
    )


def retry_request(endpoint_id: str, job_id: str) -> ApiRequest:
    # A second /retry after a lost reply could requeue a job that already ran again.
    return _request(
        "retry", retry_job._get_kwargs(endpoint_id, job_id), Safety.SUBMIT, job_id=job_id
    )


def health_request(endpoint_id: str) -> ApiRequest:
    return _request("health", get_endpoint_health._get_kwargs(endpoint_id), Safety.REPEATABLE)


def purge_request(endpoint_id: str) -> ApiRequest:
    return _request("purge-queue", purge_queue._get_kwargs(endpoint_id), Safety.REPEATABLE)


# --- replies ----------------------------------------------------------------------------------


def _json_object(response: ApiResponse, request: ApiRequest) -> dict[str, Any]:
    try:
        data = json.loads(response.content)
    except ValueError:
        raise _invalid(response, request, "the body is not JSON") from None
    if not isinstance(data, dict):
        raise _invalid(response, request, f"expected a JSON object, got {type(data).__name__}")
    return data


class _Model(Protocol):
    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self: ...


M = TypeVar("M", bound=_Model)


def _parse_model(
    model: type[M], response: ApiResponse, request: ApiRequest, data: dict[str, Any]
) -> M:
    """The generated model's ``from_dict``, with its failures (a missing required key, a
    wrong type) reported as APIResponseValidationError instead of a bare KeyError."""
    try:
        return model.from_dict(data)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise _invalid(response, request, f"{type(exc).__name__}: {exc}") from None


def _invalid(
    response: ApiResponse, request: ApiRequest, why: str, job_id: str | None = None
) -> APIResponseValidationError:
    job_id = job_id or request.job_id
    if job_id is None and request.safety is Safety.SUBMIT:
        # The job exists; a cut-short body often still names it. Nothing is lost if it does.
        found = _ID_IN_BODY.search(response.text)
        job_id = found.group(1) if found else None
    return APIResponseValidationError(
        redact(f"unexpected reply: {why}; body starts {_preview(response.text)!r}"),
        status_code=response.status_code,
        body=redact(response.text),
        headers=response.headers,
        operation=request.operation,
        job_id=job_id,
    )


_ID_IN_BODY = re.compile(r'"id"\s*:\s*"([^"\\]{1,512})"')


def _preview(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + "…"


def _opt_str(value: Any) -> str | None:
    if value is UNSET or value is None:
        return None
    return value if isinstance(value, str) else json.dumps(value)


def _opt_int(value: Any) -> int | None:
    if value is UNSET or value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def _opt_ms(value: Any) -> timedelta | None:
    ms = _opt_int(value)
    return None if ms is None else timedelta(milliseconds=ms)


def _check_identity(
    data: dict[str, Any], response: ApiResponse, request: ApiRequest
) -> tuple[str, JobStatus | str]:
    job_id = data.get("id", request.job_id)
    if not isinstance(job_id, str) or not job_id:
        raise _invalid(response, request, "no job id in the reply")
    status = data.get("status")
    if not isinstance(status, str) or not status:
        raise _invalid(response, request, "no job status in the reply", job_id=job_id)
    return job_id, parse_status(status)


def parse_job(response: ApiResponse, request: ApiRequest) -> JobState:
    """A ``Job`` reply (status, runsync, status-sync) or a cancel reply, as a :class:`JobState`."""
    data = _json_object(response, request)
    job_id, status = _check_identity(data, response, request)
    model: Job | CancelResponse
    if request.operation == "cancel":
        model = _parse_model(CancelResponse, response, request, {**data, "id": job_id})
    else:
        model = _parse_model(Job, response, request, {**data, "id": job_id})
    output = getattr(model, "output", UNSET)
    return JobState(
        id=job_id,
        status=status,
        output=None if output is UNSET else output,
        error=_opt_str(model.error),
        delay_time=_opt_ms(model.delay_time),
        execution_time=_opt_ms(model.execution_time),
        worker_id=_opt_str(getattr(model, "worker_id", UNSET)),
        retries=_opt_int(getattr(model, "retries", UNSET)),
        raw=MappingProxyType(data),
    )


def parse_submitted(response: ApiResponse, request: ApiRequest) -> JobState:
    """A ``JobSubmitted`` reply (run, retry): at least the id and the status."""
    data = _json_object(response, request)
    job_id, status = _check_identity(data, response, request)
    _parse_model(JobSubmitted, response, request, {**data, "id": job_id})
    return JobState(id=job_id, status=status, raw=MappingProxyType(data))


@dataclass(frozen=True, slots=True)
class StreamBatch:
    """One ``/stream`` reply: the chunks drained by this call and the job's status."""

    status: JobStatus | str
    outputs: tuple[Any, ...]
    error: str | None
    raw: Mapping[str, Any]


def parse_stream(response: ApiResponse, request: ApiRequest) -> StreamBatch:
    data = _json_object(response, request)
    status = data.get("status")
    if not isinstance(status, str) or not status:
        raise _invalid(response, request, "no job status in the stream reply")
    chunks = data.get("stream", [])
    if chunks is None:
        chunks = []
    if not isinstance(chunks, list) or not all(isinstance(c, dict) for c in chunks):
        raise _invalid(response, request, "`stream` is not a list of chunk objects")
    model = _parse_model(StreamResponse, response, request, data)
    stream = [] if isinstance(model.stream, Unset) else model.stream
    outputs = tuple(None if chunk.output is UNSET else chunk.output for chunk in stream)
    return StreamBatch(
        status=parse_status(status),
        outputs=outputs,
        error=_opt_str(model.error),
        raw=MappingProxyType(data),
    )


def _counter(container: Any, name: str) -> int:
    value = _opt_int(getattr(container, name, UNSET)) if container is not UNSET else None
    return value if value is not None and value >= 0 else 0


def parse_health(response: ApiResponse, request: ApiRequest) -> Health:
    data = _json_object(response, request)
    for key in ("jobs", "workers"):
        if key in data and not isinstance(data[key], dict):
            raise _invalid(response, request, f"`{key}` is not an object")
    model = _parse_model(EndpointHealth, response, request, data)
    jobs, workers = model.jobs, model.workers
    return Health(
        jobs=HealthJobs(
            completed=_counter(jobs, "completed"),
            failed=_counter(jobs, "failed"),
            in_progress=_counter(jobs, "in_progress"),
            in_queue=_counter(jobs, "in_queue"),
            retried=_counter(jobs, "retried"),
        ),
        workers=HealthWorkers(
            idle=_counter(workers, "idle"),
            initializing=_counter(workers, "initializing"),
            ready=_counter(workers, "ready"),
            running=_counter(workers, "running"),
            throttled=_counter(workers, "throttled"),
            unhealthy=_counter(workers, "unhealthy"),
        ),
        raw=MappingProxyType(data),
    )


def parse_purge(response: ApiResponse, request: ApiRequest) -> PurgeResult:
    data = _json_object(response, request)
    removed = _opt_int(data.get("removed"))
    if removed is None:
        raise _invalid(response, request, "no `removed` count in the reply")
    if not isinstance(data.get("status"), str):
        raise _invalid(response, request, "no `status` in the reply")
    model = _parse_model(PurgeQueueResponse, response, request, data)
    return PurgeResult(removed=removed, status=str(model.status), raw=MappingProxyType(data))


# --- errors -----------------------------------------------------------------------------------


def _server_message(response: ApiResponse) -> str:
    """The server's own words: JSON ``error``/``message`` if there, else the text itself."""
    text = response.text.strip()
    if not text:
        return "(empty body)"
    try:
        data = json.loads(text)
    except ValueError:
        return _preview(text)
    if isinstance(data, dict):
        for key in ("error", "message", "detail"):
            value = data.get(key)
            if isinstance(value, str) and value:
                return _preview(value)
    return _preview(text)


def error_from_response(response: ApiResponse, request: ApiRequest) -> APIError:
    """The typed exception for an HTTP error reply."""
    code = response.status_code
    # A server or proxy may echo the Authorization header back: mask the key everywhere.
    message = redact(_server_message(response))
    common: dict[str, Any] = {
        "status_code": code,
        "body": redact(response.text),
        "headers": response.headers,
        "operation": request.operation,
        "job_id": request.job_id,
    }
    if code == 429:
        return RateLimitError(message, retry_after=parse_retry_after(response.headers), **common)
    cls: type[APIError]
    if code == 400:
        cls = BadRequestError
    elif code in (401, 403):
        cls = AuthenticationError
    elif code == 404:
        cls = NotFoundError
    elif code == 413:
        cls = PayloadTooLargeError
    elif code >= 500 or code < 100 or code >= 600 or code == 499:
        cls = ServerError
    else:
        cls = APIError
    return cls(message, **common)
