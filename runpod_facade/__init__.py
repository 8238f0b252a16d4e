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

from ._batch_types import BatchItem, BatchStats, BatchTimeout, StopReport
from ._client import Endpoint, Job, JobStream
from ._errors import (
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
from ._journal import JournalError
from ._logging import setup_from_env as _setup_logging
from ._map_threads import BatchResults
from ._options import ExecutionPolicy, Input, S3Config
from ._retry import PollPolicy, RetryPolicy
from ._status import TERMINAL_STATUSES, JobStatus
from ._types import Health, HealthJobs, HealthWorkers, JobState, PurgeResult
from ._version import __version__
from ._webhook import parse_webhook

if TYPE_CHECKING:
    from ._async_client import AsyncEndpoint, AsyncJob, AsyncJobStream
    from ._map_tasks import AsyncBatchResults

_setup_logging()

_LAZY = {"AsyncEndpoint", "AsyncJob", "AsyncJobStream", "AsyncBatchResults"}


def __getattr__(name: str) -> Any:
    if name in _LB_LAZY:
        from . import _loadbalancing

        value = getattr(_loadbalancing, name)
        globals()[name] = value
        return value
    if name in _LAZY:
        from . import _async_client, _map_tasks

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
    "AsyncEndpoint",
    "AsyncJob",
    "AsyncJobStream",
    "AuthenticationError",
    "BadRequestError",
    "BatchItem",
    "BatchResults",
    "BatchStats",
    "BatchTimeout",
    "ClientClosedError",
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
    "NoWorkersAvailableError",
    "NotReadyError",
    "PinnedSession",
    "PlatformError",
    "ProcessingTimeoutError",
    "RequestTooLargeError",
    "WorkerUnreachableError",
]
