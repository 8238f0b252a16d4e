"""Requests, built from the generated client's operation table (``runpod_generated.operations``,
which ``scripts/regen.sh`` writes from the spec): one table-driven builder for every operation,
and the /run and /runsync body (:class:`JobBody`, encoded once). Each operation's generated
``build_request`` gives its method, route (path parameters escaped), query and JSON body, so an
operation added to the spec is built here too; only a new *reply schema* needs a parser
(``replies``). The generated client is imported on the first request built, not with the
package."""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from .._exceptions import InvalidInputError
from .._frozen import slot_init
from .._options import ExecutionPolicy, Input, S3Config, is_request_body
from .._transports.base import ApiRequest, Safety
from .._validation import check_webhook, encode_body

if TYPE_CHECKING:
    from runpod_generated.models import JobRequest
    from runpod_generated.operations import OPERATIONS, OperationInfo

__all__ = [
    "OPERATIONS",
    "JobBody",
    "OperationInfo",
    "Route",
    "build_job_body",
    "build_request",
    "encode_job",
    "operation_info",
    "route",
]


def __getattr__(name: str) -> Any:
    # The generated client (attrs models, every operation module) is imported on first use,
    # not by `import runpod_facade`.
    if name in ("OPERATIONS", "OperationInfo"):
        from runpod_generated import operations

        return getattr(operations, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


_EMPTY_PARAMS: Mapping[str, int] = MappingProxyType({})
_SAFETY = {"repeatable": Safety.REPEATABLE, "submit": Safety.SUBMIT}
# A job id that quote() leaves as it is: the generated builder puts it where the id goes.
_JOB_ID_MARK = "0runpodFacadeJobId0"


class Route:
    """What every request of one operation on one endpoint shares, worked out once from its
    generated builder — the path (split around the job id, when the id fills exactly one
    place of it), method, safety, reply schema, payload limit — and the builder of its
    requests (:meth:`request`)."""

    __slots__ = (
        "around_id",
        "endpoint_id",
        "has_body",
        "holds",
        "info",
        "job_scoped",
        "limit",
        "method",
        "operation",
        "path",
        "reply",
        "safety",
    )

    def __init__(self, operation: str, endpoint_id: str) -> None:
        info = self.info = operation_info(operation)
        self.operation, self.endpoint_id = operation, endpoint_id
        # Read once from the generated table (some are properties there).
        self.method, self.reply, self.safety = info.method, info.reply_schema, _SAFETY[info.safety]
        self.job_scoped, self.has_body, self.holds = info.job_scoped, info.has_body, info.holds
        self.limit = info.max_payload_bytes
        self.path = _generated(info, endpoint_id, _JOB_ID_MARK, None, {})[0]
        parts = self.path.split(_JOB_ID_MARK)
        self.around_id = (parts[0], parts[1]) if len(parts) == 2 else None

    def request(
        self,
        job_id: str | None,
        body: JobBody | None,
        wait_ms: int | None,
        query: Mapping[str, int | None] | None = None,
    ) -> ApiRequest:
        """The request with these arguments (see :func:`build_request`)."""
        content = None
        if self.has_body:
            if body is None:
                raise TypeError(f"{self.operation} needs a JobBody")
            content = body.content
            if self.limit is not None and len(content) > self.limit:
                body.check_fits(self.operation)  # raises, with the message
        around = self.around_id
        if query or (self.job_scoped and (job_id is None or around is None)):
            path, params = _generated(self.info, self.endpoint_id, job_id, wait_ms, query or {})
        else:
            if around is None:
                path = self.path
            else:
                # An id of unreserved characters only (RunPod's are) is what quote() returns.
                text = str(job_id)
                escaped = text if _UNRESERVED.fullmatch(text) else quote(text, safe="")
                path = around[0] + escaped + around[1]
            params = _EMPTY_PARAMS if wait_ms is None or not self.holds else _wait_params(wait_ms)
        return ApiRequest(
            self.operation,
            self.method,
            path,
            self.safety,
            self.reply,
            params,
            content,
            job_id,
            None if wait_ms is None else wait_ms / 1000,
        )


#: The route of an operation on an endpoint, made once.
route = functools.lru_cache(maxsize=64)(Route)

# What quote(text, safe="") leaves unchanged: RFC 3986's unreserved characters.
_UNRESERVED = re.compile(r"[A-Za-z0-9_.~-]+")


@functools.lru_cache(maxsize=64)
def _wait_params(wait_ms: int) -> Mapping[str, int]:
    """The query of a long-poll held ``wait_ms`` (read-only, so one is shared by requests)."""
    return MappingProxyType({"wait": wait_ms})


@slot_init  # one per job: see _frozen
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
        limit = operation_info(operation).max_payload_bytes
        if limit is not None and self.size > limit:
            raise InvalidInputError(
                f"{operation} payload is {self.size:,} bytes; the API accepts at most "
                f"{limit:,} bytes. Upload large data elsewhere (e.g. S3) and pass a URL in the "
                "input."
            )


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
    Only the job id is escaped into the route (:meth:`Route.request`); a request with other
    query parameters (``ttl``), or whose ids the route cannot take apart, is built by the
    generated builder itself.
    """
    extra = query if query and any(value is not None for value in query.values()) else None
    return route(operation, endpoint_id).request(job_id, body, wait_ms, extra)


def _generated(
    info: OperationInfo,
    endpoint_id: str,
    job_id: str | None,
    wait_ms: int | None,
    query: Mapping[str, int | None],
) -> tuple[str, Mapping[str, int]]:
    """The path and query of a request as the generated builder makes them."""
    from runpod_generated.models import JobRequest
    from runpod_generated.types import UNSET

    args: dict[str, Any] = {"endpoint_id": endpoint_id}
    if info.job_scoped:
        args["job_id"] = job_id
    if info.has_body:
        # The builder makes the route and the query; the bytes sent are the JobBody's.
        args["body"] = JobRequest(input_=None)
    if info.holds:
        args["wait"] = UNSET if wait_ms is None else wait_ms
    for name, value in query.items():
        args[name] = UNSET if value is None else value
    built = info.build_request(**args)
    params = built.get("params")
    return built["url"], MappingProxyType(params) if params else _EMPTY_PARAMS


@functools.cache
def operation_info(operation: str) -> OperationInfo:
    from runpod_generated.operations import OPERATIONS

    return OPERATIONS[operation]


def build_job_body(
    input: Any,
    *,
    policy: ExecutionPolicy | None,
    webhook: str | None,
    s3_config: S3Config | None,
) -> JobRequest:
    """The ``JobRequest`` model for /run and /runsync; raises InvalidInputError on bad options."""
    options = (("policy", policy, ExecutionPolicy), ("s3_config", s3_config, S3Config))
    for name, value, kind in options:
        if value is not None and not isinstance(value, kind):
            raise InvalidInputError(
                f"{name} must be an {kind.__name__}, got {type(value).__name__}"
            )
    from runpod_generated import models

    body = models.JobRequest(input_=_check_input(input))
    if webhook is not None:
        body.webhook = check_webhook(webhook)
    wire_policy = None if policy is None else policy.to_wire()
    if wire_policy:
        body.policy = models.ExecutionPolicy.from_dict(wire_policy)
    if s3_config is not None:
        body.s_3_config = models.S3Config.from_dict(s3_config.to_wire())
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
    if policy is None and webhook is None and s3_config is None:
        # The generated model's dict of a job without options is {"input": input}: built
        # directly (tests/core/test_wire.py checks both agree), without the model's two passes.
        return JobBody(encode_body({"input": _check_input(input)}))
    model = build_job_body(input, policy=policy, webhook=webhook, s3_config=s3_config)
    return JobBody(encode_body(model.to_dict()))


def _check_input(value: Any) -> Any:
    if value.__class__ is dict and "input" not in value:
        return value  # the usual input: neither an Input nor a whole request body
    if isinstance(value, Input):
        return value.value
    if is_request_body(value):
        raise InvalidInputError(
            'input is {"input": ...}: the SDK already sends your value as the request\'s '
            '"input", so the worker would receive {"input": {"input": ...}}. Pass the inner '
            "value (ep.run({...})), or wrap it as runpod_facade.Input({...}) to send it as is."
        )
    return value
