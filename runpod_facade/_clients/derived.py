"""Handle methods derived from the spec: every job-scoped read operation whose endpoint
method exists (``ep.queue_position(job_id)``) gets the same method on the job handles
(``job.queue_position()``), the job's id filled in — so adding such an operation needs no
handle code. A handle method written by hand (``status``, ``cancel``, ``wait`` …) is
left as it is; tests/contract checks that every job-scoped operation has one either way.

Derived methods are found at run time: a type checker sees only the hand-written ones."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .._core.effects import Operation
from .._drivers.api import api
from .._types import JobState

if TYPE_CHECKING:
    from .._wire.requests import OperationInfo
    from .base import EndpointBase
    from .handles import JobBase

__all__ = ["derive_job_methods"]

#: The operation table to derive from; ``None``: the generated one (a test may set its own).
OPERATIONS: Mapping[str, OperationInfo] | None = None


def _for_this_job(name: str, build: Any) -> Any:
    """The handle's version of the endpoint's ``build(self, job_id, ...)``."""

    def method(self: JobBase, /, *args: Any, **kwargs: Any) -> Operation[Any]:
        value = yield from build(self.endpoint, self.id, *args, **kwargs)
        if isinstance(value, JobState) and value.id == self.id:
            self._seen(value)  # a reply that is this job's state is the last one seen
        return value

    functools.update_wrapper(method, build)
    method.__qualname__ = f"JobBase.{name}"
    method.__doc__ = f"``endpoint.{name}(job.id, ...)``: {build.__doc__ or ''}".strip()
    signature = inspect.signature(build)
    self_, _job_id, *rest = signature.parameters.values()
    method.__signature__ = signature.replace(parameters=[self_, *rest])  # type: ignore[attr-defined]
    return method


def derive_job_methods(handle: type[JobBase], endpoint: type[EndpointBase]) -> None:
    """Add to ``handle`` the method of every job-scoped read operation it lacks and
    ``endpoint`` has (an :class:`api` method whose first argument is ``job_id``)."""
    if OPERATIONS is not None:
        table = OPERATIONS
    else:
        from .._wire.requests import OPERATIONS as table  # loaded on first use, not at import

    for info in table.values():
        if not info.job_scoped or info.safety != "repeatable" or hasattr(handle, info.python):
            continue
        found = inspect.getattr_static(endpoint, info.python, None)
        if not isinstance(found, api):
            continue  # no endpoint method (yet): the contract test names what is missing
        build = found.build
        parameters = list(inspect.signature(build).parameters)
        if parameters[1:2] != ["job_id"]:
            continue
        setattr(handle, info.python, api(_for_this_job(info.python, build)))
