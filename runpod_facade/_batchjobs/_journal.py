"""The journal of ``map(via="batch-api")``: one SQLite file, state per batch, not per job.

Per batch of the run (``seq`` 0, 1, …, each a fixed slice of the inputs) it records what is
known on the server before the next step is taken, so that a client killed at any moment
resumes by batch id and never creates a batch or a request twice:

``creating``   the create call may be on its way (``intent_ms`` marks when); no id yet
``draft``      the batch exists (``batch_id``); ``added`` of its requests are in it, and an
               append of ``pending`` more may be on its way
``ready``      every request is in, and each input's request id is recorded (``requests``)
``finalized``  finalize was answered; the batch runs on RunPod's batch workers
``written``    every result of the batch was handed out (``out_size``: where a results
               file stood afterwards, for the CLI to cut a half-written tail)

The only per-input rows are the request ids (``requests``), written once per batch in one
transaction. The file is stamped with ``PRAGMA application_id``/``user_version`` so that a
journal of another kind (``Endpoint.map``'s own, any SQLite file) is refused, as is a
journal of another endpoint or of other inputs (``digest`` per batch).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from .._exceptions import InvalidInputError

__all__ = ["APPLICATION_ID", "BatchJournal", "BatchJournalError", "BatchRow"]

#: ``PRAGMA application_id``: "RPBJ" (RunPod batch jobs).
APPLICATION_ID: Final = 0x52_50_42_4A
SCHEMA_VERSION: Final = 1

_SCHEMA: Final = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE batches (
    seq INTEGER PRIMARY KEY,
    first_index INTEGER NOT NULL,
    count INTEGER NOT NULL,
    digest TEXT NOT NULL,
    state TEXT NOT NULL,
    intent_ms INTEGER NOT NULL,
    batch_id TEXT UNIQUE,
    added INTEGER NOT NULL DEFAULT 0,
    pending INTEGER NOT NULL DEFAULT 0,
    out_size INTEGER
);
CREATE TABLE requests (
    request_id TEXT PRIMARY KEY,
    seq INTEGER NOT NULL,
    position INTEGER NOT NULL,
    UNIQUE (seq, position)
);
"""


class BatchJournalError(InvalidInputError):
    """The journal cannot be used for this run: not a batch-jobs journal, another endpoint,
    other inputs, or unreadable."""


@dataclass(frozen=True, slots=True)
class BatchRow:
    """One batch as the journal knows it (the columns of ``batches``, in order)."""

    seq: int
    first_index: int
    count: int
    digest: str
    state: str
    intent_ms: int
    batch_id: str | None
    added: int
    pending: int
    out_size: int | None


class BatchJournal:
    """The journal file at ``path`` (created if missing), for batches of ``endpoint_id``."""

    def __init__(self, path: str | os.PathLike[str], endpoint_id: str) -> None:
        # Imported here: a plain `import runpod_facade` never opens a journal.
        import sqlite3

        self.path = os.fspath(path)
        try:
            # Autocommit: every write below is one statement or one explicit transaction.
            # Any thread: the asyncio run steps on worker threads, one step at a time.
            self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            self._open(endpoint_id)
        except sqlite3.DatabaseError as exc:
            raise BatchJournalError(f"{self.path} is not a usable journal: {exc}") from None

    def _open(self, endpoint_id: str) -> None:
        db = self._db
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        app = db.execute("PRAGMA application_id").fetchone()[0]
        tables = db.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
        if app == 0 and tables == 0:
            # One transaction: a crash leaves an empty file or a whole journal, never half.
            # The script leaves its transaction open for the parameterized insert.
            db.executescript(
                f"BEGIN IMMEDIATE; {_SCHEMA} "
                f"PRAGMA application_id={APPLICATION_ID}; PRAGMA user_version={SCHEMA_VERSION};"
            )
            db.execute("INSERT INTO meta VALUES ('endpoint_id', ?)", (endpoint_id,))
            db.execute("COMMIT")
            return
        if app != APPLICATION_ID:
            raise BatchJournalError(
                f"{self.path} is not a batch-jobs journal (another kind of file or journal)"
            )
        version = db.execute("PRAGMA user_version").fetchone()[0]
        if version != SCHEMA_VERSION:
            raise BatchJournalError(f"{self.path} has journal version {version}, not 1")
        row = db.execute("SELECT value FROM meta WHERE key='endpoint_id'").fetchone()
        if row is None or row[0] != endpoint_id:
            raise BatchJournalError(
                f"{self.path} is the journal of endpoint {row[0] if row else '?'}, "
                f"not {endpoint_id}"
            )

    def close(self) -> None:
        self._db.close()

    # ----------------------------------------------------------------- reading

    def batches(self) -> list[BatchRow]:
        return [BatchRow(*row) for row in self._db.execute("SELECT * FROM batches ORDER BY seq")]

    def row(self, seq: int) -> BatchRow:
        return BatchRow(*self._db.execute("SELECT * FROM batches WHERE seq=?", (seq,)).fetchone())

    def positions(self, seq: int) -> dict[str, int]:
        """Request id -> position in its batch, for one batch (at most 5,000 rows)."""
        rows = self._db.execute("SELECT request_id, position FROM requests WHERE seq=?", (seq,))
        return {row[0]: row[1] for row in rows}

    def out_size(self) -> int:
        """Where the results file stood after the last batch was written (0: none yet)."""
        row = self._db.execute("SELECT max(out_size) FROM batches").fetchone()
        return int(row[0] or 0)

    # ----------------------------------------------------------------- writing (one step each)

    def plan(self, seq: int, first_index: int, count: int, digest: str, now_ms: int) -> None:
        """Before the create call: the batch may exist from now on."""
        self._db.execute(
            "INSERT INTO batches (seq, first_index, count, digest, state, intent_ms) "
            "VALUES (?, ?, ?, ?, 'creating', ?)",
            (seq, first_index, count, digest, now_ms),
        )

    def created(self, seq: int, batch_id: str, added: int) -> None:
        self._set(seq, state="draft", batch_id=batch_id, added=added, pending=0)

    def appending(self, seq: int, pending: int) -> None:
        """Before an append call of ``pending`` requests."""
        self._set(seq, pending=pending)

    def appended(self, seq: int, added: int) -> None:
        self._set(seq, added=added, pending=0)

    def ready(self, seq: int, request_ids: Iterable[str]) -> None:
        """Every request of the batch is in: its request ids in input order, in one go."""
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        with db:  # COMMIT, or ROLLBACK on any exception
            db.executemany(
                "INSERT INTO requests (request_id, seq, position) VALUES (?, ?, ?)",
                ((rid, seq, pos) for pos, rid in enumerate(request_ids)),
            )
            self._set(seq, state="ready")

    def finalized(self, seq: int) -> None:
        self._set(seq, state="finalized")

    def written(self, seq: int, out_size: int | None) -> None:
        self._set(seq, state="written", out_size=out_size)

    def _set(self, seq: int, **columns: object) -> None:
        """One UPDATE of the batch's row (the column names are this class's own)."""
        assignments = ", ".join(f"{name}=?" for name in columns)
        sql = f"UPDATE batches SET {assignments} WHERE seq=?"  # noqa: S608
        self._db.execute(sql, (*columns.values(), seq))
