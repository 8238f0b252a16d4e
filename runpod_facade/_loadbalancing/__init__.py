"""Load-balancing endpoints: HTTP straight to a worker's own server, with cold starts, worker
affinity and the platform's errors handled. ``docs/load-balancing.md`` describes the rules.

```python
from runpod_facade import LoadBalancedEndpoint

with LoadBalancedEndpoint("ENDPOINT_ID") as ep:    # key from RUNPOD_API_KEY
    ep.wait_ready(timeout=120)
    reply = ep.post("/generate", json={"prompt": "hi"})   # an httpx.Response
    with ep.pinned() as session:                   # follow-ups to the same worker
        session.post("/chat", json={"turn": 1})
```

Modules: :mod:`.core` (the sans-IO decisions), :mod:`.prepare` (checks before sending),
:mod:`.affinity`, :mod:`.errors`, :mod:`.settings`, :mod:`.base` (each call once, httpx to
core and back), :mod:`.client` (blocking) and :mod:`.aio` (asyncio, imported on first use).
"""

from __future__ import annotations

from .affinity import Affinity
from .client import LoadBalancedEndpoint, PinnedSession
from .core import LBRetryPolicy
from .errors import (
    AffinityTimeoutError,
    AffinityWorkerGoneError,
    NotReadyError,
    NoWorkersAvailableError,
    PlatformError,
    ProcessingTimeoutError,
    RequestTooLargeError,
    WorkerUnreachableError,
)

# Exactly the public names: runpod_facade/__init__.py exports all of them.
__all__ = [
    "Affinity",
    "AffinityTimeoutError",
    "AffinityWorkerGoneError",
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
