"""Requests, built from the generated client's operation table: one table-driven builder for every
operation of the spec, and the /run and /runsync body (:class:`JobBody`, encoded once).

Requests are built by the generated operation modules (``build_request``: method, route with
path parameters escaped, query, JSON body) as listed in ``runpod_generated.operations``, the
table ``scripts/regen.sh`` writes from the spec. Adding an operation to the spec therefore
adds it here too; only a new *reply schema* needs a parser (``replies``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from runpod_generated.models import ExecutionPolicy as WireExecutionPolicy
from runpod_generated.models import JobRequest
from runpod_generated.models import S3Config as WireS3Config
from runpod_generated.operations import OPERATIONS, OperationInfo
from runpod_generated.types import UNSET

from .._exceptions import (
    InvalidInputError,
)
from .._options import ExecutionPolicy, Input, S3Config
from .._transports.base import ApiRequest, Safety
from .._validation import check_webhook, encode_body

__all__ = [
    "OPERATIONS",
    "JobBody",
    "JobRequest",
    "OperationInfo",
    "build_job_body",
    "build_request",
    "encode_job",
    "operation_info",
]


_EMPTY_PARAMS: Mapping[str, int] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class JobBody:
    """A job's ``/run`` / ``/runsync`` body — its input and job options — encoded once, at
    the façade's edge (:func:`encode_job`). The route is chosen later (``/run`` or
    ``/runsync``: ``_core.waiting.submit_request``); :meth:`check_fits` is the payload limit
    of the route chosen, checked when its request is built, before any I/O."""

    content: bytes

    @property
    def size(self) -> int:
        """The body's length in bytes, as sent."""
        return len(self.content)

    def check_fits(self, operation: str) -> None:
        """InvalidInputError unless the body is within ``operation``'s payload limit."""
        limit = OPERATIONS[operation].max_payload_bytes
        if limit is not None and self.size > limit:
            raise InvalidInputError(
                f"{operation} payload is {self.size:,} bytes; the API accepts at most "
                f"{limit:,} bytes. Upload large data elsewhere (e.g. S3) and pass a URL in the "
                "input."
            )


#: What the generated builders are handed for a job body: they make the route and the query,
#: while the bytes sent are the :class:`JobBody`'s, encoded once.
_NO_BODY = JobRequest(input_=None)


def build_request(
    operation: str,
    endpoint_id: str,
    *,
    job_id: str | None = None,
    body: JobBody | None = None,
    wait_ms: int | None = None,
    **query: int | None,
) -> ApiRequest:
    """The request for ``operation`` (a name from the spec's ``x-runpod-operation``).

    ``wait_ms`` is the server-side hold of an operation that takes ``wait``; ``query`` the
    other query parameters (``None`` leaves one out). ``body`` (an operation that has one)
    is checked against the operation's payload limit: InvalidInputError before any I/O.
    """
    info = OPERATIONS[operation]
    args: dict[str, Any] = {"endpoint_id": endpoint_id}
    if info.job_scoped:
        args["job_id"] = job_id
    if info.has_body:
        args["body"] = _NO_BODY
    if info.holds:
        args["wait"] = UNSET if wait_ms is None else wait_ms
    for name, value in query.items():
        args[name] = UNSET if value is None else value
    kwargs = info.build_request(**args)
    content = None
    if info.has_body:
        if body is None:
            raise TypeError(f"{operation} needs a JobBody")
        body.check_fits(operation)
        content = body.content
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
        hold=hold,
    )


_SAFETY = {"repeatable": Safety.REPEATABLE, "submit": Safety.SUBMIT}


def operation_info(operation: str) -> OperationInfo:
    return OPERATIONS[operation]


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


def encode_job(
    input: Any,
    *,
    policy: ExecutionPolicy | None = None,
    webhook: str | None = None,
    s3_config: S3Config | None = None,
) -> JobBody:
    """The job's body, checked and encoded once (strict JSON: InvalidInputError for input
    that is not JSON, bad options). Payload limits are the route's (:meth:`JobBody.check_fits`)."""
    model = build_job_body(input, policy=policy, webhook=webhook, s3_config=s3_config)
    return JobBody(encode_body(model.to_dict(), limit=None, operation="run"))


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
