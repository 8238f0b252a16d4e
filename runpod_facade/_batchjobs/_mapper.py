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
from types import TracebackType
from typing import Any, Final, Self

from .._exceptions import InvalidInputError, RateLimitError, WaitTimeout
from ._journal import BatchJournal, BatchJournalError, BatchRow
from ._plan import (
    FIRST_PAUSE,
    MAX_ACTIVE_BATCHES,
    MAX_PAGE_SIZE,
    MAX_PAYLOAD_BYTES,
    MAX_REQUESTS_PER_BATCH,
    BatchStateError,
    chunk_items,
    encode_items,
    next_pause,
    progress,
)
from ._sync import Batches

__all__ = ["BatchApiItem", "BatchApiResults", "BatchApiStats", "map_batch_api", "map_via"]

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


def _check_int(value: object, name: str, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= high:
        raise InvalidInputError(f"{name} must be an int from 1 to {high}, got {value!r}")
    return value


def _digest(items: list[bytes]) -> str:
    return hashlib.sha256(b"\n".join(items)).hexdigest()


class BatchApiResults(Iterator[BatchApiItem]):
    """The items of ``map(via="batch-api")``, batch by batch as each is done. Iterate once;
    ``with`` (or :meth:`close`) releases the journal. Leaving early leaves the batches
    running on RunPod: a rerun with the same journal picks them up by id."""

    def __init__(
        self,
        batches: Batches,
        inputs: Iterable[Any],
        *,
        journal: BatchJournal,
        batch_size: int,
        max_active: int,
        page_size: int,
        interval: float,
        replay: bool,
        timeout: float | None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        after_batch: Callable[[], int | None] = lambda: None,
        max_call_bytes: int = MAX_PAYLOAD_BYTES,
    ) -> None:
        self._batches = batches
        self._max_call_bytes = max_call_bytes
        self._inputs = iter(inputs)
        self._journal = journal
        self._batch_size = batch_size
        self._max_active = max_active
        self._page_size = page_size
        self._interval = interval
        self._replay = replay
        self._clock = clock
        self._sleep = sleep
        self._deadline = None if timeout is None else clock() + timeout
        self._timeout = timeout
        #: Called once a batch's items were all handed out, before the journal marks it
        #: written; what it returns (a results file's size, flushed) is journaled with it.
        self.after_batch = after_batch
        self.stats = BatchApiStats()
        self._pause_s = min(FIRST_PAUSE, interval)
        self._rows = {row.seq: row for row in journal.batches()}
        self._iterator = self._run()

    def __iter__(self) -> Self:
        return self

    def __next__(self) -> BatchApiItem:
        return next(self._iterator)

    def close(self) -> None:
        """Stop handing out items and release the journal (the batches run on)."""
        self._iterator.close()
        self._journal.close()
        self._batches.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

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

    def _run(self) -> Generator[BatchApiItem, None, None]:
        with self._batches:  # one connection pool for the run
            yield from self._steps()

    def _steps(self) -> Iterator[BatchApiItem]:
        active: dict[int, str] = {}
        chunks = self._chunks()
        more = True
        while True:
            while more and len(active) < self._max_active:
                chunk = next(chunks, None)
                if chunk is None:
                    more = False
                    break
                seq, first, items = chunk
                row = self._checked_row(seq, first, items)
                if row is not None and row.state == "written":
                    if self._replay:
                        assert row.batch_id is not None
                        yield from self._page(seq, first, row.batch_id, resumed=True)
                    continue
                active[seq] = self._send(seq, first, items, row)
            if not active:
                return
            finished = False
            for seq, batch_id in list(active.items()):
                summary = self._batches.get(batch_id)
                if not summary.done:
                    continue
                yield from self._page(seq, self._rows_first(seq), batch_id, resumed=False)
                self._journal.written(seq, self.after_batch())
                del active[seq]
                finished = True
                self._pause_s = FIRST_PAUSE
            if not finished:
                self._pause(active)

    def _rows_first(self, seq: int) -> int:
        return self._rows[seq].first_index

    def _pause(self, active: dict[int, str]) -> None:
        if self._deadline is not None and self._clock() >= self._deadline:
            batch_id = next(iter(active.values()))
            summary = self._batches.get(batch_id)
            raise WaitTimeout(batch_id, timeout=self._timeout, reason=progress(summary))
        self._sleep(self._pause_s)
        self._pause_s = next_pause(self._pause_s, self._interval)

    def _checked_row(self, seq: int, first: int, items: list[bytes]) -> BatchRow | None:
        row = self._rows.get(seq)
        if row is None:
            return None
        if (row.first_index, row.count, row.digest) != (first, len(items), _digest(items)):
            raise BatchJournalError(
                f"inputs {first}..{first + len(items) - 1} differ from those the journal "
                f"{self._journal.path} recorded: it belongs to another run (use another journal)"
            )
        return row

    def _reload(self, seq: int) -> BatchRow:
        rows = {row.seq: row for row in self._journal.batches()}
        self._rows[seq] = rows[seq]
        return rows[seq]

    # ----------------------------------------------------------------- one batch, step by step

    def _send(self, seq: int, first: int, items: list[bytes], row: BatchRow | None) -> str:
        """Bring batch ``seq`` to FINALIZED from wherever the journal left it; its id."""
        journal = self._journal
        groups = list(
            chunk_items(items, max_count=self._batch_size, max_bytes=self._max_call_bytes)
        )
        fresh = row is None
        if row is None:
            journal.plan(seq, first, len(items), _digest(items), int(time.time() * 1000))
            row = self._reload(seq)
        if row.state == "creating":
            # Only an earlier run's create can have been lost; a fresh plan has none.
            batch_id = None if fresh else self._recover(row, len(groups[0]))
            if batch_id is None:
                batch_id = self._create(groups[0])
            journal.created(seq, batch_id, len(groups[0]))
            row = self._reload(seq)
        assert row.batch_id is not None
        batch_id = row.batch_id
        if row.state == "draft":
            self._append_rest(row, groups)
            ids = [r.id for r in self._batches.results(batch_id, page_size=MAX_PAGE_SIZE)]
            if len(ids) != len(items):
                raise BatchJournalError(
                    f"batch {batch_id} holds {len(ids)} requests; {len(items)} were sent"
                )
            journal.ready(seq, ids)
            row = self._reload(seq)
        if row.state == "ready":
            self._finalize(batch_id)
            journal.finalized(seq)
            self._reload(seq)
        return batch_id

    def _recover(self, row: BatchRow, first_call: int) -> str | None:
        """The batch a create call of an earlier run made before it could journal the id."""
        known = self._journal.batch_ids()
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
                if self._deadline is not None and self._clock() >= self._deadline:
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
            item = BatchApiItem(
                index=first + position,
                request_id=result.id,
                batch_id=batch_id,
                status=result.status,
                output=result.output if result.status == "COMPLETED" else None,
                error=None
                if result.status == "COMPLETED"
                else (result.error or f"request {result.status}"),
                resumed=resumed,
            )
            self.stats.items += 1
            self.stats.resumed += resumed
            yield item


def map_via(
    batches: Batches,
    inputs: Iterable[Any],
    *,
    via: str,
    endpoint_id: str,
    journal: str | os.PathLike[str] | None,
    timeout: float | timedelta | None,
    replay: bool,
    batch_size: int | None,
    unsupported: dict[str, bool],
) -> BatchApiResults:
    """``Endpoint.map(..., via=...)`` for a ``via`` other than ``"jobs"``: checks that the
    options of job-by-job mapping were left alone (``unsupported``: name -> was it given)."""
    if via != "batch-api":
        raise InvalidInputError(f"via must be 'jobs' or 'batch-api', got {via!r}")
    given = sorted(name for name, used in unsupported.items() if used)
    if given:
        raise InvalidInputError(
            f"{', '.join(given)} cannot be used with via='batch-api' (RunPod runs the batch)"
        )
    if isinstance(timeout, timedelta):
        timeout = timeout.total_seconds()
    if timeout is not None and (
        isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout < 0
    ):
        raise InvalidInputError(f"timeout must be seconds >= 0 or None: {timeout!r}")
    return map_batch_api(
        batches,
        inputs,
        endpoint_id=endpoint_id,
        journal=None if journal is None else os.fspath(journal),
        batch_size=batch_size,
        replay=replay,
        timeout=None if timeout is None else float(timeout),
    )


def map_batch_api(
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
) -> BatchApiResults:
    """Check the arguments (before anything is sent) and start the run (lazily: nothing is
    sent before the first item is asked for)."""
    size = _check_int(
        MAX_REQUESTS_PER_BATCH if batch_size is None else batch_size,
        "batch_size",
        MAX_REQUESTS_PER_BATCH,
    )
    active = _check_int(max_active, "max_active", MAX_ACTIVE_BATCHES)
    page = _check_int(page_size, "page_size", MAX_PAGE_SIZE)
    if isinstance(interval, bool) or not isinstance(interval, (int, float)) or interval <= 0:
        raise InvalidInputError(f"interval must be a positive number of seconds: {interval!r}")
    if isinstance(inputs, (str, bytes, dict)):
        raise InvalidInputError("inputs must be an iterable of inputs, one per request")
    return BatchApiResults(
        batches,
        inputs,
        journal=BatchJournal(":memory:" if journal is None else journal, endpoint_id),
        batch_size=size,
        max_active=active,
        page_size=page,
        interval=float(interval),
        replay=replay,
        timeout=timeout,
        after_batch=after_batch,
        max_call_bytes=_check_int(max_call_bytes, "max_call_bytes", MAX_PAYLOAD_BYTES),
    )
