"""A batch's journal: per input index, what was sent, what the server accepted, what was
handed to the caller — in one SQLite file (WAL), so a killed batch can be resumed.

Rows move through phases, each write committed before the step it records can happen:

* ``SENDING``   — the submit is about to leave (committed before the request is sent). A row
  still here after a crash has an unknown fate: the job may or may not exist.
* ``ACCEPTED``  — the server gave a job id (committed as soon as the reply is read).
* ``WITHDRAWN`` — the batch cancelled the job on the caller's behalf (interrupt, fail-fast):
  on resume it is resubmitted unless it had finished anyway.
* ``FINAL``     — the outcome was handed to the caller (committed just before it is yielded):
  a terminal job state (``raw_json`` kept byte for byte) or an error that will not change.

``synchronous=NORMAL`` in WAL mode: a commit survives the process being killed (it is in the
OS's cache), not necessarily a power cut. The connection takes SQLite's exclusive lock for as
long as the journal is open, so a second run on the same file — in this process or another —
gets :class:`JournalError` instead of interleaving with the first; the OS drops the lock when
a process dies, so a killed run never blocks its resume.
"""

from __future__ import annotations

import hashlib
import os
import threading
from dataclasses import dataclass
from enum import IntEnum

from .._exceptions import RunpodError

__all__ = ["Entry", "Journal", "JournalError", "Phase", "fingerprint"]

SCHEMA_VERSION = "1"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS items (
    idx         INTEGER PRIMARY KEY,
    fingerprint BLOB    NOT NULL,
    phase       INTEGER NOT NULL,
    job_id      TEXT,
    status      TEXT,
    raw_json    BLOB,
    error_kind  TEXT,
    error_code  INTEGER,
    error_text  TEXT,
    duplicates  INTEGER NOT NULL DEFAULT 0
);
"""


class JournalError(RunpodError):
    """The journal cannot be used: another run holds it, it belongs to another endpoint or
    another batch (an input differs from the one recorded at its index), or it is not a
    journal."""


class Phase(IntEnum):
    SENDING = 1
    ACCEPTED = 2
    WITHDRAWN = 3
    FINAL = 4


def fingerprint(content: bytes) -> bytes:
    """16 bytes identifying a request body (input and job options). A hash, so the journal
    never holds an input — nor a secret such as an S3 key — in clear."""
    return hashlib.blake2b(content, digest_size=16).digest()


@dataclass(frozen=True, slots=True)
class Entry:
    """One row of the journal."""

    index: int
    fingerprint: bytes
    phase: Phase
    job_id: str | None
    status: str | None
    raw_json: bytes | None
    error_kind: str | None
    error_code: int | None
    error_text: str | None
    duplicates: int


class Journal:
    """The journal file of one batch run. Thread-safe; every write is its own transaction.

    Writes after :meth:`close` are ignored: a worker still finishing a request after the
    batch stopped must not touch a journal the next run may already hold.
    """

    def __init__(self, path: str | os.PathLike[str], endpoint_id: str) -> None:
        self.path = os.fspath(path)
        self._lock = threading.Lock()
        self._closed = False
        import sqlite3  # only batches with a journal pay for it

        try:
            # timeout=0: a journal in use fails at once instead of waiting for the other run.
            self._db = sqlite3.connect(
                self.path, timeout=0, isolation_level=None, check_same_thread=False
            )
        except sqlite3.Error as exc:
            raise JournalError(f"cannot open the journal {self.path!r}: {exc}") from exc
        try:
            self._setup(endpoint_id)
        except BaseException:
            self._db.close()
            raise

    def _setup(self, endpoint_id: str) -> None:
        import sqlite3

        db = self._db
        try:
            db.execute("PRAGMA locking_mode=EXCLUSIVE")
            mode = db.execute("PRAGMA journal_mode=WAL").fetchone()
            db.execute("PRAGMA synchronous=NORMAL")
            # Take the exclusive lock now (and keep it), so a concurrent run fails here.
            db.execute("BEGIN IMMEDIATE")
            db.execute("COMMIT")
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc) or "busy" in str(exc):
                raise JournalError(
                    f"the journal {self.path!r} is in use by another batch run (in this "
                    "process or another); wait for it to end, or use another journal file"
                ) from None
            raise JournalError(f"cannot use the journal {self.path!r}: {exc}") from exc
        except sqlite3.DatabaseError as exc:
            raise JournalError(f"{self.path!r} is not a batch journal: {exc}") from exc
        if mode is None or str(mode[0]).lower() != "wal":
            raise JournalError(f"cannot put the journal {self.path!r} in WAL mode")
        try:
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    db.execute(statement)
            meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
        except sqlite3.DatabaseError as exc:
            raise JournalError(f"{self.path!r} is not a batch journal: {exc}") from exc
        if not meta:
            db.executemany(
                "INSERT INTO meta (key, value) VALUES (?, ?)",
                [("schema", SCHEMA_VERSION), ("endpoint_id", endpoint_id)],
            )
            return
        if meta.get("schema") != SCHEMA_VERSION:
            raise JournalError(
                f"the journal {self.path!r} has schema {meta.get('schema')!r}; this version of "
                f"runpod-facade writes schema {SCHEMA_VERSION!r}"
            )
        if meta.get("endpoint_id") != endpoint_id:
            raise JournalError(
                f"the journal {self.path!r} belongs to endpoint {meta.get('endpoint_id')!r}, "
                f"not {endpoint_id!r}: its job ids mean nothing there"
            )

    # --- reads -----------------------------------------------------------------------------

    def entry(self, index: int) -> Entry | None:
        with self._lock:
            row = self._db.execute(
                "SELECT idx, fingerprint, phase, job_id, status, raw_json, error_kind, "
                "error_code, error_text, duplicates FROM items WHERE idx = ?",
                (index,),
            ).fetchone()
        if row is None:
            return None
        return Entry(
            index=row[0],
            fingerprint=bytes(row[1]),
            phase=Phase(row[2]),
            job_id=row[3],
            status=row[4],
            raw_json=None if row[5] is None else bytes(row[5]),
            error_kind=row[6],
            error_code=row[7],
            error_text=row[8],
            duplicates=row[9],
        )

    def has_entries_from(self, index: int) -> bool:
        """Whether any row has an index of ``index`` or more (the batch was longer)."""
        with self._lock:
            row = self._db.execute("SELECT 1 FROM items WHERE idx >= ? LIMIT 1", (index,))
            return row.fetchone() is not None

    # --- writes ----------------------------------------------------------------------------

    def _write(self, sql: str, args: tuple[object, ...]) -> None:
        with self._lock:
            if not self._closed:
                self._db.execute(sql, args)

    def sending(self, index: int, digest: bytes, *, duplicate: bool) -> None:
        """The submit of ``index`` is about to be sent; ``duplicate``: an earlier one may
        have created a job already (it was in flight when a run died)."""
        self._write(
            "INSERT INTO items (idx, fingerprint, phase, duplicates) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (idx) DO UPDATE SET phase = excluded.phase, job_id = NULL, "
            "duplicates = duplicates + excluded.duplicates",
            (index, digest, Phase.SENDING, int(duplicate)),
        )

    def accepted(self, index: int, job_id: str) -> None:
        self._write(
            "UPDATE items SET phase = ?, job_id = ? WHERE idx = ?",
            (Phase.ACCEPTED, job_id, index),
        )

    def withdrawn(self, index: int) -> None:
        self._write(
            "UPDATE items SET phase = ? WHERE idx = ? AND phase = ?",
            (Phase.WITHDRAWN, index, Phase.ACCEPTED),
        )

    def unsent(self, index: int) -> None:
        """The submit provably created no job (never sent, or refused): forget the row."""
        self._write("DELETE FROM items WHERE idx = ? AND phase = ?", (index, Phase.SENDING))

    def final_state(self, index: int, job_id: str, status: str, raw_json: bytes) -> None:
        self._write(
            "UPDATE items SET phase = ?, job_id = ?, status = ?, raw_json = ? WHERE idx = ?",
            (Phase.FINAL, job_id, status, raw_json, index),
        )

    def final_error(
        self, index: int, digest: bytes, job_id: str | None, kind: str, code: int, text: str
    ) -> None:
        self._write(
            "INSERT INTO items (idx, fingerprint, phase, job_id, error_kind, error_code, "
            "error_text) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (idx) DO UPDATE SET "
            "phase = excluded.phase, job_id = excluded.job_id, error_kind = excluded.error_kind,"
            " error_code = excluded.error_code, error_text = excluded.error_text",
            (index, digest, Phase.FINAL, job_id, kind, code, text),
        )

    def close(self) -> None:
        """Release the file (and its lock). Idempotent; later writes are ignored."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._db.close()
