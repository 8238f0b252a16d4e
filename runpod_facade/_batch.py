"""A validated batch of jobs (``run_many``): every input encoded and checked before the first
request, and one deadline shared by every wait."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from . import _waiting
from ._base import check_retry_failed, optional_seconds
from ._core import EndpointCore
from ._deadline import Deadline
from ._effects import Operation
from ._errors import InvalidInputError
from ._options import ExecutionPolicy, S3Config
from ._types import JobState
from ._wire import ApiRequest

if TYPE_CHECKING:
    from ._base import EndpointBase

__all__ = ["Batch", "prepare_batch"]


@dataclass(frozen=True)
class Batch:
    """The encoded requests of a batch and the one deadline shared by every wait."""

    requests: list[ApiRequest]
    concurrency: int
    deadline: Deadline
    core: EndpointCore
    retry_failed: int

    def wait(self, job_id: str) -> Operation[JobState]:
        return _waiting.wait(
            self.core,
            job_id,
            timeout=self.deadline.remaining(),
            retry_failed=self.retry_failed,
        )


def prepare_batch(
    endpoint: EndpointBase,
    inputs: Iterable[Any],
    concurrency: int,
    timeout: float | timedelta | None,
    policy: ExecutionPolicy | None,
    webhook: str | None,
    s3_config: S3Config | None,
    retry_failed: int,
) -> Batch:
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
        raise InvalidInputError(f"concurrency must be a positive int, got {concurrency!r}")
    if isinstance(inputs, (str, bytes, dict)):
        raise InvalidInputError("inputs must be an iterable of inputs, one per job")
    seconds = optional_seconds(timeout, "timeout")
    core = endpoint._core
    # Encode and check every input before the first is sent: a bad batch sends nothing.
    requests = [
        core.request("run", body=endpoint._job_body(item, policy, webhook, s3_config))
        for item in inputs
    ]
    return Batch(
        requests=requests,
        concurrency=concurrency,
        deadline=core.deadline(seconds),
        core=core,
        retry_failed=check_retry_failed(retry_failed),
    )
