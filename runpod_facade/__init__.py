"""runpod-facade: a typed Python SDK for RunPod Serverless endpoints.

```python
from runpod_facade import Endpoint, ExecutionPolicy

with Endpoint("ENDPOINT_ID") as ep:            # api key from RUNPOD_API_KEY
    job = ep.run({"prompt": "hi"}, policy=ExecutionPolicy(execution_timeout=300))
    print(job.wait(timeout=60))
```
"""

from ._async_client import AsyncEndpoint, AsyncJob, AsyncJobStream
from ._client import Endpoint, Job, JobStream
from ._core import PollPolicy
from ._errors import (
    APIConnectionError,
    APIError,
    APIResponseValidationError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
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
)
from ._logging import setup_from_env as _setup_logging
from ._policy import ExecutionPolicy, S3Config
from ._retry import RetryPolicy
from ._status import TERMINAL_STATUSES, JobStatus
from ._types import Health, HealthJobs, HealthWorkers, JobState, PurgeResult
from ._version import __version__

_setup_logging()

__all__ = [
    "TERMINAL_STATUSES",
    "APIConnectionError",
    "APIError",
    "APIResponseValidationError",
    "APITimeoutError",
    "AsyncEndpoint",
    "AsyncJob",
    "AsyncJobStream",
    "AuthenticationError",
    "BadRequestError",
    "Endpoint",
    "ExecutionPolicy",
    "Health",
    "HealthJobs",
    "HealthWorkers",
    "InvalidInputError",
    "Job",
    "JobCancelled",
    "JobError",
    "JobFailed",
    "JobState",
    "JobStatus",
    "JobStream",
    "JobTimedOut",
    "NotFoundError",
    "PayloadTooLargeError",
    "PollPolicy",
    "PurgeResult",
    "RateLimitError",
    "RetryPolicy",
    "RunpodError",
    "S3Config",
    "ServerError",
    "StreamIdleTimeout",
    "WaitTimeout",
    "__version__",
]
