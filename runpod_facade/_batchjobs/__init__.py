"""The RunPod Batch Jobs API: ``ep.batches`` (sync and async) and ``map(via="batch-api")``.

* :mod:`._model` — the replies, parsed strictly; :mod:`._plan` — sans-IO checks and decisions.
* :mod:`._sync` — the methods of ``ep.batches``, once, run blocking; :mod:`._async` awaits
  them (and holds the asyncio ``map``; imported by the asyncio client only).
* :mod:`._http` — each call as an ``httpx.Request``, sent through the endpoint's
  ``http_client`` (the caller's) or a client of our own.
* :mod:`._journal` / :mod:`._mapper` — ``map(via="batch-api")``: the journal, the run.
"""

from __future__ import annotations

from .._public import name_public
from ._journal import BatchJournalError
from ._mapper import BatchApiItem, BatchApiResults, BatchApiStats
from ._model import BatchRequestResult, BatchSummary, CreatedBatch
from ._plan import BatchStateError
from ._sync import Batches

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

name_public(globals()[name] for name in __all__)  # public, imported on first use
