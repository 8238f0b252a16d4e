"""A JSON-lines file in, a JSON-lines file out, through the Batch Jobs API (the CLI's
``batch --server``), each input line's result written exactly once across crashes.

Every line of the input must be a JSON value: the whole file is checked (streaming) before
anything is sent. Results are appended batch by batch as they page in; once a batch's lines
are written and synced, the journal records the file's size with the batch (``written``).
A rerun first cuts the file back to that size — dropping the tail a killed run may have
half-written — and then goes on, so each line appears once.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from typing import Any, BinaryIO

from .._exceptions import InvalidInputError
from ._journal import BatchJournal
from ._mapper import BatchApiItem, BatchApiResults

__all__ = ["ResultsFile", "check_lines", "read_inputs"]


def check_lines(path: str) -> int:
    """The number of input lines; InvalidInputError naming the first line that is not JSON."""
    count = 0
    with open(path, "rb") as source:
        for number, raw in enumerate(source, start=1):
            try:
                json.loads(raw)
            except ValueError:
                what = "blank" if not raw.strip() else "not JSON"
                raise InvalidInputError(
                    f"{path}:{number} is {what}: with --server every line is one input"
                ) from None
            count = number
    return count


def read_inputs(path: str) -> Iterator[Any]:
    """The inputs of ``path``, one per line, read lazily."""
    with open(path, "rb") as source:
        for raw in source:
            yield json.loads(raw)


def _line(item: BatchApiItem) -> bytes:
    # The server's output, re-encoded as JSON without loss. Not masked: every field is the
    # job's data or RunPod's, and a key that also occurs in an output must not change it.
    return json.dumps(item.to_line(), ensure_ascii=False).encode("utf-8") + b"\n"


class ResultsFile:
    """The results file of one run: cut back to what the journal knows was written, then
    appended to. :meth:`commit` (the results' ``after_batch``) syncs it and returns its size."""

    def __init__(self, path: str, journal_path: str, endpoint_id: str) -> None:
        journal = BatchJournal(journal_path, endpoint_id)
        try:
            size = journal.out_size()
        finally:
            journal.close()
        self.path = path
        self._file: BinaryIO = open(path, "ab")  # noqa: SIM115 - closed by close()
        if self._file.tell() < size:
            self._file.close()
            raise InvalidInputError(
                f"{path} is shorter than its journal {journal_path} says: not this run's output"
            )
        self._file.truncate(size)
        self.written = 0

    def write(self, item: BatchApiItem) -> None:
        self._file.write(_line(item))
        self.written += 1

    def commit(self) -> int:
        self._file.flush()
        os.fsync(self._file.fileno())
        return self._file.tell()

    def close(self) -> None:
        self._file.close()

    def drain(self, results: BatchApiResults, on_item: Callable[[BatchApiItem], None]) -> None:
        """Write every item of ``results`` (made with ``replay=False``), committing after
        each batch."""
        results.after_batch = self.commit
        with results:
            for item in results:
                self.write(item)
                on_item(item)
