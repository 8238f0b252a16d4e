"""runpod-facade: a typed Python SDK for RunPod Serverless endpoints.

```python
from runpod_facade import Endpoint, ExecutionPolicy

with Endpoint("ENDPOINT_ID") as ep:            # api key from RUNPOD_API_KEY
    job = ep.run({"prompt": "hi"}, policy=ExecutionPolicy(execution_timeout=300))
    print(job.wait(timeout=60))
```

The asyncio classes (``AsyncEndpoint``, ``AsyncJob``, ``AsyncJobStream``) are imported on
first use, so blocking code never pays for asyncio.
"""

from __future__ import annotations

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
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ClientClosedError,
    InvalidInputError,
    JobCancelled,
    JobError,
    JobFailed,
    JobTimedOut,
    NotFoundError,
    PayloadTooLargeError,
    RateLimitError,
    RunpodError,
    ServerError,
    StreamIdleTimeout,
    WaitTimeout,
    WebhookPayloadError,
)
from ._logging import setup_from_env as _setup_logging
from ._options import ExecutionPolicy, Input, S3Config
from ._status import TERMINAL_STATUSES, JobStatus
from ._types import Health, HealthJobs, HealthWorkers, JobState, PurgeResult
from ._version import __version__
from ._webhook import parse_webhook

if TYPE_CHECKING:
    from ._batches.tasks import AsyncBatchResults
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
    if name in _LAZY:
        from ._batches import tasks as _map_tasks
        from ._clients import aio as _async_client

        value = getattr(_map_tasks if name == "AsyncBatchResults" else _async_client, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'runpod_facade' has no attribute {name!r}")


__all__ = [
    "TERMINAL_STATUSES",
    "APIConnectionError",
    "APIError",
    "APIResponseValidationError",
    "APITimeoutError",
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
    "CreatedBatch",
    "Endpoint",
    "ExecutionPolicy",
    "Health",
    "HealthJobs",
    "HealthWorkers",
    "Input",
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
    "PollPolicy",
    "PurgeResult",
    "RateLimitError",
    "RetryPolicy",
    "RunpodError",
    "S3Config",
    "ServerError",
    "StopReport",
    "StreamIdleTimeout",
    "WaitTimeout",
    "WebhookPayloadError",
    "__version__",
    "parse_webhook",
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

for _public in (
    RouteStats,
    RateLimit,
    RateLimits,
    MemorySeenStore,
    SeenStore,
    WebhookDeduplicator,
    new_webhook_secret,
    verify_webhook_url,
    webhook_url,
):
    _public.__module__ = "runpod_facade"
del _public

__all__ += [
    "MemorySeenStore",
    "RateLimit",
    "RateLimits",
    "RouteStats",
    "SeenStore",
    "WebhookDeduplicator",
    "new_webhook_secret",
    "verify_webhook_url",
    "webhook_url",
]
