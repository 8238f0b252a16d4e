"""The RunPod Batch Jobs API: ``ep.batches`` (sync and async) and ``map(via="batch-api")``.

* :mod:`._model` — the replies (summary, child request, page), parsed strictly.
* :mod:`._plan` — sans-IO: the calls, their limits, what a reply means, paging, waiting.
* :mod:`._journal` / :mod:`._mapper` — ``map(via="batch-api")``: the per-batch journal and
  the resumable run.
* :mod:`._sync` / :mod:`._async` — the resources, each with its own short-lived HTTP client
  (``._async`` is imported by the asyncio client only, keeping ``import runpod_facade`` light).
"""

from __future__ import annotations

from ._journal import BatchJournalError
from ._mapper import BatchApiItem, BatchApiResults, BatchApiStats
from ._model import BatchRequestResult, BatchSummary, CreatedBatch
from ._plan import BatchStateError
from ._sync import Batches

for _public in (
    BatchApiItem,
    BatchApiResults,
    BatchApiStats,
    BatchRequestResult,
    BatchSummary,
    CreatedBatch,
):
    _public.__module__ = "runpod_facade"

__all__ = [
    "BatchApiItem",
    "BatchApiResults",
    "BatchApiStats",
    "BatchJournalError",
    "BatchRequestResult",
    "BatchStateError",
    "BatchSummary",
    "Batches",
    "CreatedBatch",
]
