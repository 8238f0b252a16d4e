"""runpod-facade: a typed Python SDK for RunPod Serverless endpoints.

```python
from runpod_facade import Endpoint, ExecutionPolicy

with Endpoint("ENDPOINT_ID") as ep:            # api key from RUNPOD_API_KEY
    job = ep.run({"prompt": "hi"}, policy=ExecutionPolicy(execution_timeout=300))
    print(job.wait(timeout=60).output)
```

The asyncio classes (``AsyncEndpoint``, ``AsyncJob``, ``AsyncJobStream``) are imported on
first use, so blocking code never pays for asyncio; so are the batch machinery (with the
first ``map`` or ``run_many``), webhook security, the Batch Jobs API and the load-balancing
clients (separate products: queue-endpoint code never pays for them). httpx is imported by the
first client that sends with it (``Endpoint``, ``AsyncEndpoint`` on its default backend, the
load-balancing and Batch Jobs clients): ``AsyncEndpoint(http_backend="aiohttp")`` never does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

# These modules' __all__ are exactly their public names, so each list is written once, there.
from . import _exceptions, _types
from ._clients.sync import Endpoint, Job, JobStream
from ._core.pacing import RouteStats
from ._core.retry import PollPolicy, RetryPolicy
from ._exceptions import *  # noqa: F403
from ._logging import setup_from_env as _setup_logging
from ._options import ExecutionPolicy, Input, S3Config
from ._public import name_public as _name_public
from ._rate_limits import RateLimit, RateLimits
from ._status import TERMINAL_STATUSES, JobStatus
from ._timeout import Timeout
from ._types import *  # noqa: F403
from ._version import __version__
from ._webhook import parse_webhook

if TYPE_CHECKING:
    from ._batches.journal import JournalError
    from ._batches.tasks import AsyncBatchResults
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
    from ._batchjobs._async import AsyncBatchApiResults, AsyncBatches
    from ._clients.aio import AsyncEndpoint, AsyncJob, AsyncJobStream
    from ._loadbalancing import (
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
    from ._loadbalancing.aio import AsyncLoadBalancedEndpoint, AsyncPinnedSession
    from ._webhook_security import (
        MemorySeenStore,
        SeenStore,
        WebhookDeduplicator,
        new_webhook_secret,
        verify_webhook_url,
        webhook_url,
    )

_setup_logging()

# The names imported on first use (see the module's docstring), and the module of each.
_LAZY = {
    "BatchItem": "._batches.types",
    "BatchResults": "._batches.threads",
    "BatchStats": "._batches.types",
    "BatchTimeout": "._batches.types",
    "JournalError": "._batches.journal",
    "StopReport": "._batches.types",
    "BatchApiItem": "._batchjobs",
    "BatchApiResults": "._batchjobs",
    "BatchApiStats": "._batchjobs",
    "BatchJournalError": "._batchjobs",
    "BatchRequestResult": "._batchjobs",
    "BatchStateError": "._batchjobs",
    "BatchSummary": "._batchjobs",
    "Batches": "._batchjobs",
    "CreatedBatch": "._batchjobs",
    "Affinity": "._loadbalancing",
    "AffinityTimeoutError": "._loadbalancing",
    "AffinityWorkerGoneError": "._loadbalancing",
    "LBRetryPolicy": "._loadbalancing",
    "LoadBalancedEndpoint": "._loadbalancing",
    "NoWorkersAvailableError": "._loadbalancing",
    "NotReadyError": "._loadbalancing",
    "PinnedSession": "._loadbalancing",
    "PlatformError": "._loadbalancing",
    "ProcessingTimeoutError": "._loadbalancing",
    "RequestTooLargeError": "._loadbalancing",
    "WorkerUnreachableError": "._loadbalancing",
    "AsyncBatchApiResults": "._batchjobs._async",
    "AsyncBatchResults": "._batches.tasks",
    "AsyncBatches": "._batchjobs._async",
    "AsyncEndpoint": "._clients.aio",
    "AsyncJob": "._clients.aio",
    "AsyncJobStream": "._clients.aio",
    "AsyncLoadBalancedEndpoint": "._loadbalancing.aio",
    "AsyncPinnedSession": "._loadbalancing.aio",
    "MemorySeenStore": "._webhook_security",
    "SeenStore": "._webhook_security",
    "WebhookDeduplicator": "._webhook_security",
    "new_webhook_secret": "._webhook_security",
    "verify_webhook_url": "._webhook_security",
    "webhook_url": "._webhook_security",
}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'runpod_facade' has no attribute {name!r}")
    import sys  # here: not public names of the package
    from importlib import import_module

    value = getattr(import_module(_LAZY[name], __name__), name)
    # Name every lazy class imported by now, not only this one: an AsyncJob reached through an
    # AsyncEndpoint shows the public path too. (The modules an endpoint imports on first use,
    # the batch machinery and the Batch Jobs API, name their own classes.)
    _name_public(
        getattr(loaded, other)
        for other, module in _LAZY.items()
        if (loaded := sys.modules.get(__name__ + module)) is not None
    )
    globals()[name] = value
    return value


__all__ = [
    "TERMINAL_STATUSES",
    "Affinity",
    "AffinityTimeoutError",
    "AffinityWorkerGoneError",
    "AsyncBatchApiResults",
    "AsyncBatchResults",
    "AsyncBatches",
    "AsyncEndpoint",
    "AsyncJob",
    "AsyncJobStream",
    "AsyncLoadBalancedEndpoint",
    "AsyncPinnedSession",
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
    "CreatedBatch",
    "Endpoint",
    "ExecutionPolicy",
    "Input",
    "Job",
    "JobStatus",
    "JobStream",
    "JournalError",
    "LBRetryPolicy",
    "LoadBalancedEndpoint",
    "MemorySeenStore",
    "NoWorkersAvailableError",
    "NotReadyError",
    "PinnedSession",
    "PlatformError",
    "PollPolicy",
    "ProcessingTimeoutError",
    "RateLimit",
    "RateLimits",
    "RequestTooLargeError",
    "RetryPolicy",
    "RouteStats",
    "S3Config",
    "SeenStore",
    "StopReport",
    "Timeout",
    "WebhookDeduplicator",
    "WorkerUnreachableError",
    "__version__",
    "new_webhook_secret",
    "parse_webhook",
    "verify_webhook_url",
    "webhook_url",
]
__all__ += _exceptions.__all__
__all__ += _types.__all__


# The lazy names are left alone here: touching them would import their modules.
# __getattr__ names them on first use.
_name_public(globals()[name] for name in __all__ if name not in _LAZY)
