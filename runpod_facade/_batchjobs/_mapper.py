"""``Endpoint.map(inputs, via="batch-api")``: hand the inputs to RunPod's batch engine.

The inputs are cut into batches of at most ``batch_size`` (<= 5,000) requests, each sent in
calls of at most 10 MiB; at most ``max_active`` (<= 10) of the run's batches are live at a
time. Before anything is finalized, each batch id and each input's request id are in the
journal (:mod:`._journal`), step by step, so that a run killed at any moment resumes by
batch id and creates no batch and no request twice:

* a create whose reply was lost is found again among the endpoint's DRAFT batches (created
  after the journal's intent mark, not in the journal, holding the first call's requests);
* an append whose reply was lost is settled by the batch's ``requestTotal``;
* a finalize whose reply was lost is settled by the batch's status.

Results are handed out as they page in, batch by batch as each is done (completed + failed
== total), each input's item carrying its ``index``. A batch whose results were all handed
out is ``written`` in the journal: a rerun skips it, or with ``replay=True`` pages its
results in again from the server (``item.resumed``). The client keeps state per batch: the
inputs of the batch being sent, and the request ids of the batch being paged.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import time
from collections.abc import Callable, Generator, Iterable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Final, Self

from .._batches.plan import PerJob, check_batch_options
from .._drivers.api import Closing
from .._exceptions import InvalidInputError, RateLimitError, WaitTimeout
from ._journal import BatchJournal, BatchJournalError, BatchRow
from ._plan import (
    FIRST_PAUSE,
    MAX_ACTIVE_BATCHES,
    MAX_PAGE_SIZE,
    MAX_PAYLOAD_BYTES,
    MAX_REQUESTS_PER_BATCH,
    BatchStateError,
    check_count,
    check_interval,
    chunk_items,
    encode_items,
    next_pause,
    progress,
)
from ._sync import Batches

__all__ = ["BatchApiItem", "BatchApiResults", "BatchApiStats", "map_via"]

# A batch created up to this long before the journal's intent mark (clock skew between the
# client and RunPod) may still be the one a lost create reply named.
_SKEW_MS: Final = 60_000


@dataclass(frozen=True, slots=True)
class BatchApiItem:
    """The outcome of one input sent through the Batch Jobs API.

    ``index`` is its position in ``inputs``; ``request_id`` and ``batch_id`` name it on
    RunPod; ``status`` is the request's (COMPLETED, FAILED, CANCELLED …); ``output`` when it
    COMPLETED, ``error`` (the server's text) otherwise; ``resumed`` when an earlier run had
    already handed it out (``replay=True``).
    """

    index: int
    request_id: str
    batch_id: str
    status: str
    output: Any
    error: str | None
    resumed: bool = False

    @property
    def ok(self) -> bool:
        return self.status == "COMPLETED"

    def to_line(self) -> dict[str, Any]:
        """The item as one line of a results file (``line`` is 1-based)."""
        return {
            "line": self.index + 1,
            "id": self.request_id,
            "batch": self.batch_id,
            "status": self.status,
            "output": self.output,
            "error": self.error,
        }


@dataclass
class BatchApiStats:
    """What this run did: batches and requests it created, items it handed out."""

    batches_created: int = 0
    requests_created: int = 0
    batches_adopted: int = 0
    items: int = 0
    resumed: int = 0


def _digest(items: list[bytes]) -> str:
    return hashlib.sha256(b"\n".join(items)).hexdigest()


class BatchApiResults(Iterator[BatchApiItem], Closing):
    """The items of ``map(via="batch-api")``, batch by batch as each is done. Iterate once;
    ``with`` (or :meth:`close`) releases the journal. Leaving early leaves the batches
    running on RunPod: a rerun with the same journal picks them up by id."""

    def __init__(
        self,
        batches: Batches,
        inputs: Iterable[Any],
        *,
        endpoint_id: str,
        journal: str | None,
        batch_size: int | None = None,
        max_active: int = MAX_ACTIVE_BATCHES,
        page_size: int = MAX_PAGE_SIZE,
        interval: float = 2.0,
        replay: bool = True,
        timeout: float | None = None,
        after_batch: Callable[[], int | None] = lambda: None,
        max_call_bytes: int = MAX_PAYLOAD_BYTES,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        # Every argument is checked before anything is sent (timeout, journal and replay by
        # map_via, as for job-by-job batches); nothing is sent before the first item is asked for.
        size = MAX_REQUESTS_PER_BATCH if batch_size is None else batch_size
        self._batch_size = check_count(size, "batch_size", MAX_REQUESTS_PER_BATCH)
        self._max_active = check_count(max_active, "max_active", MAX_ACTIVE_BATCHES)
        self._page_size = check_count(page_size, "page_size", MAX_PAGE_SIZE)
        self._max_call_bytes = check_count(max_call_bytes, "max_call_bytes", MAX_PAYLOAD_BYTES)
        self._interval = check_interval(interval)
        if isinstance(inputs, (str, bytes, dict)):
            raise InvalidInputError("inputs must be an iterable of inputs, one per request")
        self._batches = batches
        self._inputs = iter(inputs)
        self._replay = replay
        self._timeout = timeout
        self._deadline = None if timeout is None else time.monotonic() + timeout
        #: Called once a batch's items were all handed out, before the journal marks it
        #: written; what it returns (a results file's size, flushed) is journaled with it.
        self.after_batch = after_batch
        # How the run pauses between polls (the asyncio map's pause ends early, raising,
        # once the task awaiting the step is cancelled).
        self._sleep = sleep
        self.stats = BatchApiStats()
        self._pause_s = min(FIRST_PAUSE, self._interval)
        self._journal = BatchJournal(":memory:" if journal is None else journal, endpoint_id)
        self._rows = {row.seq: row for row in self._journal.batches()}
        self._iterator = self._steps()

    def __iter__(self) -> Self:
        return self

    def __next__(self) -> BatchApiItem:
        return next(self._iterator)

    def close(self) -> None:
        """Stop handing out items and release the journal (the batches run on)."""
        self._iterator.close()
        self._journal.close()
        self._batches.close()

    # ----------------------------------------------------------------- the run

    def _chunks(self) -> Iterator[tuple[int, int, list[bytes]]]:
        """(seq, first index, encoded requests) of each batch, read lazily."""
        first = 0
        for seq in itertools.count():
            items = encode_items(itertools.islice(self._inputs, self._batch_size))
            if not items:
                return
            yield seq, first, items
            first += len(items)

    def _steps(self) -> Generator[BatchApiItem, None, None]:
        active: dict[int, tuple[int, str]] = {}  # seq -> (first index, batch id)
        chunks = self._chunks()
        with self._batches:  # one connection pool for the run
            while True:
                # (An exhausted generator gives the default again.)
                while len(active) < self._max_active and (chunk := next(chunks, None)):
                    seq, first, items = chunk
                    row = self._checked_row(seq, first, items)
                    if row is None or row.state != "written":
                        active[seq] = first, self._send(seq, first, items, row)
                    elif self._replay:
                        assert row.batch_id is not None
                        yield from self._page(seq, first, row.batch_id, resumed=True)
                if not active:
                    return
                finished = False
                for seq, (first, batch_id) in list(active.items()):
                    if not self._batches.get(batch_id).done:
                        continue
                    yield from self._page(seq, first, batch_id, resumed=False)
                    self._journal.written(seq, self.after_batch())
                    del active[seq]
                    finished = True
                    self._pause_s = FIRST_PAUSE
                if not finished:
                    self._pause(next(iter(active.values()))[1])

    def _expired(self) -> bool:
        return self._deadline is not None and time.monotonic() >= self._deadline

    def _pause(self, batch_id: str) -> None:
        if self._expired():
            summary = self._batches.get(batch_id)
            raise WaitTimeout(
                batch_id, timeout=self._timeout, subject="batch", progress=progress(summary)
            )
        self._sleep(self._pause_s)
        self._pause_s = next_pause(self._pause_s, self._interval)

    def _checked_row(self, seq: int, first: int, items: list[bytes]) -> BatchRow | None:
        row = self._rows.get(seq)
        if row and (row.first_index, row.count, row.digest) != (first, len(items), _digest(items)):
            raise BatchJournalError(
                f"inputs {first}..{first + len(items) - 1} differ from those the journal "
                f"{self._journal.path} recorded: it belongs to another run (use another journal)"
            )
        return row

    # ----------------------------------------------------------------- one batch, step by step

    def _send(self, seq: int, first: int, items: list[bytes], row: BatchRow | None) -> str:
        """Bring batch ``seq`` to FINALIZED from wherever the journal left it; its id."""
        journal = self._journal
        groups = list(
            chunk_items(items, max_count=self._batch_size, max_bytes=self._max_call_bytes)
        )
        if row is None:
            journal.plan(seq, first, len(items), _digest(items), int(time.time() * 1000))
        if row is None or row.state == "creating":
            # Only an earlier run's create can have been lost; a fresh plan has none.
            batch_id = None if row is None else self._recover(row, len(groups[0]))
            journal.created(seq, batch_id or self._create(groups[0]), len(groups[0]))
            row = journal.row(seq)
        assert row.batch_id is not None
        if row.state == "draft":
            self._append_rest(row, groups)
            ids = [r.id for r in self._batches.results(row.batch_id, page_size=MAX_PAGE_SIZE)]
            if len(ids) != len(items):
                raise BatchJournalError(
                    f"batch {row.batch_id} holds {len(ids)} requests; {len(items)} were sent"
                )
            journal.ready(seq, ids)
        if row.state in ("draft", "ready"):
            self._finalize(row.batch_id)
            journal.finalized(seq)
        return row.batch_id

    def _recover(self, row: BatchRow, first_call: int) -> str | None:
        """The batch a create call of an earlier run made before it could journal the id."""
        known = {r.batch_id for r in self._journal.batches()}
        candidates = [
            s
            for s in self._batches.list(page_size=MAX_PAGE_SIZE)
            if s.id not in known
            and s.status == "DRAFT"
            and s.request_total == first_call
            and (s.created_at_ms is None or s.created_at_ms >= row.intent_ms - _SKEW_MS)
        ]
        if not candidates:
            return None
        self.stats.batches_adopted += 1
        return candidates[-1].id  # newest first: the oldest candidate is the earliest create

    def _create(self, items: list[bytes]) -> str:
        while True:
            try:
                created = self._batches.create_encoded(items)
            except RateLimitError as exc:
                # The endpoint's active batches or queued requests are at the limit (batches
                # of other clients): nothing was created, so trying again later is safe.
                if self._expired():
                    raise
                self._sleep(exc.retry_after or self._interval)
                continue
            self.stats.batches_created += 1
            self.stats.requests_created += len(items)
            return created.id

    def _append_rest(self, row: BatchRow, groups: list[list[bytes]]) -> None:
        assert row.batch_id is not None
        added = row.added
        if row.pending:
            total = self._batches.get(row.batch_id).request_total
            if total == added + row.pending:
                added += row.pending  # the lost append was applied
                self._journal.appended(row.seq, added)
            elif total != added:
                raise BatchJournalError(
                    f"batch {row.batch_id} holds {total} requests; the journal expected "
                    f"{added} or {added + row.pending}"
                )
        bounds = list(itertools.accumulate(len(g) for g in groups))
        if added not in bounds:
            raise BatchJournalError(
                f"batch {row.batch_id}: {added} requests is not a call boundary"
            )
        for group in groups[bounds.index(added) + 1 :]:
            self._journal.appending(row.seq, len(group))
            self._batches.add_encoded(row.batch_id, group)
            self.stats.requests_created += len(group)
            added += len(group)
            self._journal.appended(row.seq, added)

    def _finalize(self, batch_id: str) -> None:
        try:
            self._batches.finalize(batch_id)
        except BatchStateError:
            # A finalize whose reply was lost: the batch is past DRAFT already.
            if self._batches.get(batch_id).status == "DRAFT":
                raise

    def _page(
        self, seq: int, first: int, batch_id: str, *, resumed: bool
    ) -> Iterator[BatchApiItem]:
        positions = self._journal.positions(seq)
        for result in self._batches.results(batch_id, page_size=self._page_size):
            position = positions.get(result.id)
            if position is None:
                raise BatchJournalError(f"request {result.id} of batch {batch_id} is not journaled")
            ok = result.status == "COMPLETED"
            self.stats.items += 1
            self.stats.resumed += resumed
            yield BatchApiItem(
                index=first + position,
                request_id=result.id,
                batch_id=batch_id,
                status=result.status,
                output=result.output if ok else None,
                error=None if ok else (result.error or f"request {result.status}"),
                resumed=resumed,
            )


def map_via(
    batches: Batches,
    inputs: Iterable[Any],
    options: PerJob,
    *,
    via: str,
    endpoint_id: str,
    journal: str | os.PathLike[str] | None,
    timeout: float | timedelta | None,
    replay: bool,
    batch_size: int | None,
    sleep: Callable[[float], None] = time.sleep,
) -> BatchApiResults:
    """``Endpoint.map(..., via=...)`` for a ``via`` other than ``"jobs"``: checks that the
    ``options`` of job-by-job mapping were left at their defaults."""
    if via == "jobs":
        raise InvalidInputError("batch_size applies only with via='batch-api'")
    if via != "batch-api":
        raise InvalidInputError(f"via must be 'jobs' or 'batch-api', got {via!r}")
    if given := options.given():
        raise InvalidInputError(
            f"{', '.join(given)} cannot be used with via='batch-api' (RunPod runs the batch)"
        )
    seconds, replay = check_batch_options(timeout, journal, replay)
    return BatchApiResults(
        batches,
        inputs,
        endpoint_id=endpoint_id,
        journal=None if journal is None else os.fspath(journal),
        batch_size=batch_size,
        replay=replay,
        timeout=seconds,
        sleep=sleep,
    )
