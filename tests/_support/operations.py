"""The spec's operation table, as the tests use it: which operation a request is for, and how
to call an operation through the public client.

Nothing here names an operation. ``OperationInfo.python`` (the spec's
``x-runpod-operation.python``) names the public method; its arguments follow from the route:
a job id when the route is job-scoped, an input when the operation takes a body, a
``timeout`` when it holds (long-polls). A stream comes back as an iterator and is consumed.
So a table built from :data:`OPERATIONS` covers an operation added to the spec as soon as
``make regen`` has run and its public method exists.
"""

from __future__ import annotations

import copy
import re
from collections.abc import AsyncIterator, Iterator
from functools import cache
from typing import Any

from runpod_generated.operations import BY_OPERATION_ID, OPERATIONS, OperationInfo

from .spec import schema

__all__ = [
    "BY_OPERATION_ID",
    "OPERATIONS",
    "OperationInfo",
    "acall",
    "call",
    "example_of",
    "operation_at",
    "public_args",
    "sample_reply",
    "submits",
]

#: Where the API lives on its host (``https://api.runpod.ai/v2``).
PREFIX = "/v2"


@cache
def _patterns() -> tuple[tuple[re.Pattern[str], OperationInfo], ...]:
    found = []
    for info in OPERATIONS.values():
        parts = re.split(r"(\{[^}]+\})", info.path)
        regex = "".join("[^/]+" if part.startswith("{") else re.escape(part) for part in parts)
        found.append((re.compile(regex), info))
    return tuple(found)


def operation_at(path: str) -> OperationInfo | None:
    """The operation whose route ``path`` (raw, after ``/v2`` or whatever base path) is."""
    index = path.find(PREFIX + "/")
    tail = path[index + len(PREFIX) :] if index >= 0 else path
    tail = tail.split("?", 1)[0]
    for pattern, info in _patterns():
        if pattern.fullmatch(tail):
            return info
    return None


def example_of(schema_name: str) -> dict[str, Any]:
    """The spec's ``example`` of a reply schema: a fresh copy (``make regen`` refuses a reply
    schema without one)."""
    example = schema(schema_name).get("example")
    assert isinstance(example, dict), f"the spec's {schema_name} has no example"
    return copy.deepcopy(example)


def sample_reply(info: OperationInfo, job_id: str) -> dict[str, Any]:
    """A plain success body of ``info``'s reply schema about ``job_id``: the schema's
    ``example`` in the spec, its ``id`` (if any) made ``job_id`` (so a ``Job`` is COMPLETED,
    a cancel CANCELLED, a submit IN_QUEUE; a stream has no chunks left)."""
    body = example_of(info.reply_schema)
    if "id" in body:
        body["id"] = job_id
    return body


def submits(info: OperationInfo) -> bool:
    """Sending it twice could create or requeue a job (``x-runpod-operation.safety``)."""
    return info.safety == "submit"


def public_args(
    info: OperationInfo, *, job_id: str, input: Any, timeout: float | None
) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """The arguments of ``info``'s public method, derived from its route."""
    args: list[Any] = []
    if info.job_scoped:
        args.append(job_id)
    if info.has_body:
        args.append(input)
    kwargs: dict[str, Any] = {}
    if info.holds:
        kwargs["timeout"] = timeout
    return tuple(args), kwargs


def call(
    endpoint: Any,
    info: OperationInfo,
    *,
    job_id: str = "job-1",
    input: Any = None,
    timeout: float | None = 30.0,
) -> Any:
    """Call ``info``'s public method on a blocking ``Endpoint``; a stream is read to its end
    (the list of its outputs)."""
    args, kwargs = public_args(info, job_id=job_id, input=input, timeout=timeout)
    value = getattr(endpoint, info.python)(*args, **kwargs)
    if isinstance(value, Iterator):
        return list(value)
    return value


async def acall(
    endpoint: Any,
    info: OperationInfo,
    *,
    job_id: str = "job-1",
    input: Any = None,
    timeout: float | None = 30.0,
) -> Any:
    """:func:`call` for an ``AsyncEndpoint``."""
    args, kwargs = public_args(info, job_id=job_id, input=input, timeout=timeout)
    value = getattr(endpoint, info.python)(*args, **kwargs)
    if isinstance(value, AsyncIterator):
        return [chunk async for chunk in value]
    return await value
