"""runpod-facade: a typed Python SDK for RunPod Serverless endpoints.

```python
from runpod_facade import Endpoint, ExecutionPolicy

with Endpoint("ENDPOINT_ID") as ep:            # api key from RUNPOD_API_KEY
    job = ep.run({"prompt": "hi"}, policy=ExecutionPolicy(execution_timeout=300))
    print(job.wait(timeout=60).output)
```

The asyncio classes (``AsyncEndpoint``, ``AsyncJob``, ``AsyncJobStream``) are imported on
first use, so blocking code never pays for asyncio.
"""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Any

from ._batches.journal import JournalError
from ._batches.threads import BatchResults
from ._batches.types import BatchItem, BatchStats, BatchTimeout, StopReport
from ._batchjobs import (
    BatchApiItem,
    BatchApiResults,
    BatchApiStats,
    Batches,
    BatchJournalError,
    BatchRequestResult,
    BatchStateError,
    BatchSummary,
    CreatedBatch,
)
from ._clients.sync import Endpoint, Job, JobStream
from ._core.retry import PollPolicy, RetryPolicy
from ._exceptions import (
    APIConnectionError,
    APIError,
    APIResponseValidationError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ClientClosedError,
    ConflictError,
    InternalServerError,
    InvalidInputError,
    JobCancelled,
    JobError,
    JobFailed,
    JobTimedOut,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    RateLimitError,
    RunpodError,
    StreamIdleTimeout,
    UnprocessableEntityError,
    WaitTimeout,
    WebhookPayloadError,
)
from ._logging import setup_from_env as _setup_logging
from ._options import ExecutionPolicy, Input, S3Config
from ._status import TERMINAL_STATUSES, JobStatus
from ._timeout import Timeout
from ._types import Health, HealthJobs, HealthWorkers, JobState, PurgeResult, Reply
from ._version import __version__
from ._webhook import parse_webhook

if TYPE_CHECKING:
    from ._batches.tasks import AsyncBatchResults
    from ._batchjobs._async import AsyncBatchApiResults, AsyncBatches
    from ._clients.aio import AsyncEndpoint, AsyncJob, AsyncJobStream

_setup_logging()

_LAZY = {
    "AsyncEndpoint",
    "AsyncJob",
    "AsyncJobStream",
    "AsyncBatchApiResults",
    "AsyncBatchResults",
    "AsyncBatches",
}


def __getattr__(name: str) -> Any:
    if name in _LB_LAZY:
        from . import _loadbalancing

        value = getattr(_loadbalancing, name)
        _as_public(value)
        globals()[name] = value
        return value
    if name in _LAZY:
        from ._batches import tasks as _map_tasks
        from ._clients import aio as _async_client

        value = getattr(_map_tasks if name == "AsyncBatchResults" else _async_client, name)
        _as_public(value)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'runpod_facade' has no attribute {name!r}")


__all__ = [
    "TERMINAL_STATUSES",
    "APIConnectionError",
    "APIError",
    "APIResponseValidationError",
    "APIStatusError",
    "APITimeoutError",
    "AsyncBatchApiResults",
    "AsyncBatchResults",
    "AsyncBatches",
    "AsyncEndpoint",
    "AsyncJob",
    "AsyncJobStream",
    "AuthenticationError",
    "BadRequestError",
    "BatchApiItem",
    "BatchApiResults",
    "BatchApiStats",
    "BatchItem",
    "BatchJournalError",
    "BatchRequestResult",
    "BatchResults",
    "BatchStateError",
    "BatchStats",
    "BatchSummary",
    "BatchTimeout",
    "Batches",
    "ClientClosedError",
    "ConflictError",
    "CreatedBatch",
    "Endpoint",
    "ExecutionPolicy",
    "Health",
    "HealthJobs",
    "HealthWorkers",
    "Input",
    "InternalServerError",
    "InvalidInputError",
    "Job",
    "JobCancelled",
    "JobError",
    "JobFailed",
    "JobState",
    "JobStatus",
    "JobStream",
    "JobTimedOut",
    "JournalError",
    "NotFoundError",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "PollPolicy",
    "PurgeResult",
    "RateLimitError",
    "Reply",
    "RetryPolicy",
    "RunpodError",
    "S3Config",
    "StopReport",
    "StreamIdleTimeout",
    "Timeout",
    "UnprocessableEntityError",
    "WaitTimeout",
    "WebhookPayloadError",
    "__version__",
    "parse_webhook",
]

# Load-balancing endpoints (issue #18): direct HTTP to workers.
from ._loadbalancing import (  # noqa: E402
    Affinity,
    AffinityTimeoutError,
    AffinityWorkerGoneError,
    LBRetryPolicy,
    LoadBalancedEndpoint,
    NotReadyError,
    NoWorkersAvailableError,
    PinnedSession,
    PlatformError,
    ProcessingTimeoutError,
    RequestTooLargeError,
    WorkerUnreachableError,
)

if TYPE_CHECKING:
    from ._loadbalancing.aio import AsyncLoadBalancedEndpoint, AsyncPinnedSession

_LB_LAZY = {"AsyncLoadBalancedEndpoint", "AsyncPinnedSession"}

__all__ += [
    "Affinity",
    "AffinityTimeoutError",
    "AffinityWorkerGoneError",
    "AsyncLoadBalancedEndpoint",
    "AsyncPinnedSession",
    "LBRetryPolicy",
    "LoadBalancedEndpoint",
    "MemorySeenStore",
    "NoWorkersAvailableError",
    "NotReadyError",
    "PinnedSession",
    "PlatformError",
    "ProcessingTimeoutError",
    "RateLimit",
    "RateLimits",
    "RequestTooLargeError",
    "RouteStats",
    "SeenStore",
    "WebhookDeduplicator",
    "WorkerUnreachableError",
    "new_webhook_secret",
    "verify_webhook_url",
    "webhook_url",
]


# --- rate limits and webhook receiving (issue #19) ------------------------------------------
from ._core.pacing import RouteStats  # noqa: E402
from ._rate_limits import RateLimit, RateLimits  # noqa: E402
from ._webhook_security import (  # noqa: E402
    MemorySeenStore,
    SeenStore,
    WebhookDeduplicator,
    new_webhook_secret,
    verify_webhook_url,
    webhook_url,
)


def _as_public(value: object) -> None:
    """Name ``value``'s module ``runpod_facade``, where users import it from (as httpx and
    openai do): reprs, tracebacks, help() and pickles then show ``runpod_facade.JobFailed``,
    not the private module that defines it."""
    if isinstance(value, type) or inspect.isfunction(value):
        value.__module__ = __name__


# The asyncio names are left alone here: touching them would import asyncio. __getattr__
# names them on first use.
for _name in __all__:
    if _name not in _LAZY and _name not in _LB_LAZY:
        _as_public(globals()[_name])
del _name
