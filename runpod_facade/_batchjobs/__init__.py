"""The RunPod Batch Jobs API: ``ep.batches`` (sync and async) and ``map(via="batch-api")``.

* :mod:`._model` — the replies (summary, child request, page), parsed strictly.
* :mod:`._plan` — sans-IO: the calls, their limits, what a reply means, paging, waiting.
* :mod:`._sync` / :mod:`._async` — the resources, each with its own short-lived HTTP client
  (``._async`` is imported by the asyncio client only, keeping ``import runpod_facade`` light).
"""

from __future__ import annotations

from ._model import BatchRequestResult, BatchSummary, CreatedBatch
from ._plan import BatchStateError
from ._sync import Batches

for _public in (BatchRequestResult, BatchSummary, CreatedBatch):
    _public.__module__ = "runpod_facade"

__all__ = [
    "BatchRequestResult",
    "BatchStateError",
    "BatchSummary",
    "Batches",
    "CreatedBatch",
]
