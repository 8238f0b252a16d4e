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
OS's cache), not necessarily a power cut.

The writes are made inline — on the event loop, for ``AsyncEndpoint.map(journal=...)`` —
because a hop to a thread (``asyncio.to_thread``: 0.05 ms median) costs more than the commit
it would move, and ``SENDING`` must be committed before the submit leaves either way.
Measured (``benchmarks/journal_commits.py``: 10,000 items, a shared 2-core machine at load
5–7): an item makes 3 commits and one read, 0.025 ms (median; a commit 0.007 ms, 0.03 ms
p99), about 0.1 ms on average. The average is the spikes, the bound the loop pays: 1 commit
in 300 takes over 1 ms, the longest 10–180 ms — mostly SQLite's automatic WAL checkpoints,
which fsync the file.

The connection holds SQLite's exclusive lock while the journal is open, so a second run on
the same file — in this process or another — gets :class:`JournalError` instead of
interleaving with it; the OS drops the lock when a process dies, so a killed run never
blocks its resume.

A journal is stamped (``PRAGMA application_id`` = :data:`APPLICATION_ID`, ``user_version`` =
:data:`FORMAT_VERSION`) when it is created; :func:`probe` checks a path before it is opened.
"""

from __future__ import annotations

import hashlib
import os
import stat
import threading
from contextlib import closing
from dataclasses import dataclass
from enum import IntEnum
from typing import Literal

from .._exceptions import RunpodError
from .._public import name_public

__all__ = [
    "APPLICATION_ID",
    "FORMAT_VERSION",
    "SIDE_FILES",
    "Entry",
    "Journal",
    "JournalError",
    "Phase",
    "fingerprint",
    "probe",
    "same_file",
]

#: ``PRAGMA application_id`` of every journal ("RPFJ"): how a journal is told from any
#: other SQLite database before anything is written to it.
APPLICATION_ID = 0x5250464A
#: ``PRAGMA user_version``: the journal's format. Format 1 (runpod-facade before the stamp)
#: had no application id and ``schema = '1'`` in its ``meta`` table.
FORMAT_VERSION = 2

#: What :func:`probe` found at a journal path.
Found = Literal["missing", "empty", "journal"]

_MAGIC = b"SQLite format 3\x00"
#: The files SQLite may keep beside a journal (suffixes of its path).
SIDE_FILES = ("-wal", "-shm", "-journal")

_SCHEMA = f"""
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE items (
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
PRAGMA application_id = {APPLICATION_ID};
PRAGMA user_version = {FORMAT_VERSION}
"""


class JournalError(RunpodError):
    """The journal cannot be used: another run holds it, it belongs to another endpoint or
    another batch (an input differs from the one recorded at its index), it is not a
    journal (another program's database, not SQLite at all), it was written by another
    version, or it cannot be written.

    ``reason`` names the case, for a caller that words its own advice: ``"in_use"``,
    ``"endpoint"``, ``"other_batch"``, ``"not_sqlite"``, ``"foreign"``, ``"older"``,
    ``"newer"``, ``"read_only"``, ``"no_directory"``, ``"not_a_file"``, ``"source"`` (the
    file the inputs are read from) or ``"unusable"``.
    """

    def __init__(self, message: str, *, reason: str = "unusable") -> None:
        super().__init__(message)
        self.reason = reason


class Phase(IntEnum):
    SENDING = 1
    ACCEPTED = 2
    WITHDRAWN = 3
    FINAL = 4


def fingerprint(content: bytes) -> bytes:
    """16 bytes identifying a request body (input and job options). A hash, so the journal
    never holds an input — nor a secret such as an S3 key — in clear."""
    return hashlib.blake2b(content, digest_size=16).digest()


def _writable(path: str, what: str) -> None:
    """A :class:`JournalError` unless ``path``'s directory — and ``path``, if it exists —
    can be written: SQLite creates its side files (``-wal``) beside the journal."""
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise JournalError(
            f"cannot create the journal {path!r}: the directory {directory!r} does not exist",
            reason="no_directory",
        )
    if os.path.exists(path) and not os.access(path, os.W_OK):
        raise JournalError(
            f"the journal {path!r} is read-only: {what} needs to write to it (make it "
            "writable, or use another journal path)",
            reason="read_only",
        )
    if not os.access(directory, os.W_OK):
        raise JournalError(
            f"the journal's directory {directory!r} is read-only: SQLite keeps the journal's "
            f"side files ({os.path.basename(path)}-wal) there (use a journal path in a "
            "writable directory)",
            reason="read_only",
        )


def _format_1(path: str) -> bool:
    """Whether ``path`` is a journal of format 1 (no stamp; ``meta.schema = '1'``). Read as
    immutable: no lock, no side file, nothing written (a WAL a killed run left is not read,
    so such a journal passes for another program's database)."""
    import sqlite3
    from urllib.parse import quote

    uri = f"file:{quote(os.path.abspath(path))}?mode=ro&immutable=1"
    try:
        with closing(sqlite3.connect(uri, uri=True)) as db:
            row = db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
    except sqlite3.Error:
        return False
    return row is not None and row[0] == "1"


def probe(path: str | os.PathLike[str], *, purpose: str = "the batch") -> Found:
    """What is at ``path``, read without writing anything: ``"missing"``, ``"empty"``
    (0 bytes: holds no batch) or ``"journal"`` (one of ours, of this format, writable).

    Raises :class:`JournalError` for anything that must not be used — and so must be left
    as it is: a directory or device, a file that is not SQLite, another program's SQLite
    database, a journal of another format, a file or directory that cannot be written.
    The stamp is read from the database header (``application_id`` at offset 68,
    ``user_version`` at 60), so even opening the file with SQLite waits until it is known
    to be a journal.
    """
    path = os.fspath(path)
    try:
        info = os.stat(path)
        header = b""
        if stat.S_ISREG(info.st_mode) and info.st_size:  # (a FIFO is never opened)
            with open(path, "rb") as handle:
                header = handle.read(100)
    except FileNotFoundError:
        _writable(path, purpose)
        return "missing"
    except OSError as exc:
        raise JournalError(
            f"cannot read the journal {path!r}: {exc.strerror or exc}", reason="unusable"
        ) from None
    if not stat.S_ISREG(info.st_mode):
        kind = "a directory" if stat.S_ISDIR(info.st_mode) else "not a regular file"
        raise JournalError(f"the journal {path!r} is {kind}", reason="not_a_file")
    if info.st_size == 0:
        _writable(path, purpose)
        return "empty"
    if len(header) < 100 or not header.startswith(_MAGIC):
        raise JournalError(
            f"{path!r} is not a batch journal (not an SQLite database): it is left as it is; "
            "delete it or pick another journal path",
            reason="not_sqlite",
        )
    version = int.from_bytes(header[60:64], "big", signed=True)
    application = int.from_bytes(header[68:72], "big", signed=True)
    if application != APPLICATION_ID:
        if application == 0 and _format_1(path):
            version = 1
        else:
            raise JournalError(
                f"{path!r} is an SQLite database of another program (application id "
                f"{application:#x}), not a batch journal: it is left as it is; pick another "
                "journal path",
                reason="foreign",
            )
    if version < FORMAT_VERSION:
        raise JournalError(
            f"the journal {path!r} was written by an older runpod-facade (journal format "
            f"{version}; this version uses format {FORMAT_VERSION}) and is left as it is: "
            "finish that batch with the version that started it, or delete the journal to "
            "run the batch again from the start (every input is submitted again)",
            reason="older",
        )
    if version > FORMAT_VERSION:
        raise JournalError(
            f"the journal {path!r} was written by a newer runpod-facade (journal format "
            f"{version}; this version reads format {FORMAT_VERSION}): resume it with that "
            "version",
            reason="newer",
        )
    _writable(path, purpose)
    return "journal"


def same_file(a: str | os.PathLike[str], b: str | os.PathLike[str]) -> bool:
    """Whether two paths name one file: the same inode when both exist (hard links,
    symlinks), else the same resolved path (``./``, absolute or relative, symlinks)."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.realpath(a) == os.path.realpath(b)


def _check_source(path: str, source: object) -> None:
    """Refuse a journal that is the file ``source`` (an open file iterated for the inputs)
    reads: SQLite would overwrite the inputs."""
    fileno = getattr(source, "fileno", None)
    if fileno is None or not os.path.exists(path):
        return
    try:
        opened = os.fstat(fileno())
        info = os.stat(path)
    except (OSError, ValueError, TypeError, AttributeError):
        return  # not a file with a descriptor (or a closed one): no file to collide with
    if os.path.samestat(opened, info):
        raise JournalError(
            f"the journal {path!r} is the file the inputs are read from: it would be "
            "overwritten; pick another journal path",
            reason="source",
        )


@dataclass(frozen=True, slots=True)
class Entry:
    """One row of the journal (the columns of ``_SCHEMA``'s ``items``, in order)."""

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

    Opening checks the file first (:func:`probe`): only a missing or empty file becomes a
    new journal, and only a journal of this format is opened — anything else is refused
    unchanged. ``source``: the inputs' iterable; an open file that is the journal's path
    is refused. Writes after :meth:`close` are ignored: a worker still finishing a request
    after the batch stopped must not touch a journal the next run may already hold.
    """

    def __init__(
        self, path: str | os.PathLike[str], endpoint_id: str, *, source: object = None
    ) -> None:
        self.path = os.fspath(path)
        self._lock = threading.Lock()
        self._closed = False
        _check_source(self.path, source)
        found = probe(self.path)
        import sqlite3  # only batches with a journal pay for it

        try:
            # timeout=0: a journal in use fails at once instead of waiting for the other run.
            self._db = sqlite3.connect(
                self.path, timeout=0, isolation_level=None, check_same_thread=False
            )
        except sqlite3.Error as exc:
            raise JournalError(f"cannot open the journal {self.path!r}: {exc}") from exc
        try:
            self._setup(endpoint_id, new=found != "journal")
        except BaseException:
            self._db.close()
            raise

    def _setup(self, endpoint_id: str, *, new: bool) -> None:
        import sqlite3

        db = self._db
        try:
            db.execute("PRAGMA locking_mode=EXCLUSIVE")
            # Take the exclusive lock now (and keep it), so a concurrent run fails here. On an
            # error, __init__ closes the connection, which rolls this transaction back.
            db.execute("BEGIN IMMEDIATE")
            stamp = db.execute("PRAGMA application_id").fetchone()[0]
            tables = db.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
            if new and stamp == 0 and tables == 0:
                # Created and stamped before WAL is switched on, so the stamp is in the main
                # file from the first commit (a header read finds it).
                for statement in _SCHEMA.split(";"):
                    db.execute(statement)
                db.execute(
                    "INSERT INTO meta (key, value) VALUES ('endpoint_id', ?)", (endpoint_id,)
                )
            elif stamp != APPLICATION_ID:  # changed since the probe: leave it alone
                raise JournalError(
                    f"{self.path!r} is not a batch journal (it changed while it was being "
                    "opened): it is left as it is",
                    reason="foreign",
                )
            db.execute("COMMIT")
            mode = db.execute("PRAGMA journal_mode=WAL").fetchone()
            db.execute("PRAGMA synchronous=NORMAL")
        except sqlite3.OperationalError as exc:
            text = str(exc)
            if "locked" in text or "busy" in text:
                raise JournalError(
                    f"the journal {self.path!r} is in use by another batch run (in this "
                    "process or another); wait for it to end, or use another journal file",
                    reason="in_use",
                ) from None
            if "readonly" in text or "read-only" in text:
                raise JournalError(
                    f"the journal {self.path!r} cannot be written ({exc})", reason="read_only"
                ) from None
            raise JournalError(f"cannot use the journal {self.path!r}: {exc}") from exc
        except sqlite3.DatabaseError as exc:
            raise JournalError(
                f"{self.path!r} is not a batch journal: {exc}", reason="not_sqlite"
            ) from exc
        if mode is None or str(mode[0]).lower() != "wal":
            raise JournalError(f"cannot put the journal {self.path!r} in WAL mode")
        try:
            meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
        except sqlite3.DatabaseError as exc:
            raise JournalError(
                f"{self.path!r} is not a batch journal: {exc}", reason="foreign"
            ) from exc
        if meta.get("endpoint_id") != endpoint_id:
            raise JournalError(
                f"the journal {self.path!r} belongs to endpoint {meta.get('endpoint_id')!r}, "
                f"not {endpoint_id!r}: its job ids mean nothing there",
                reason="endpoint",
            )

    def entry(self, index: int) -> Entry | None:
        with self._lock:
            row = self._db.execute("SELECT * FROM items WHERE idx = ?", (index,)).fetchone()
        # The table's columns are Entry's fields, in order; SQLite hands BLOBs back as bytes.
        return None if row is None else Entry(row[0], row[1], Phase(row[2]), *row[3:])

    def has_entries_from(self, index: int) -> bool:
        """Whether any row has an index of ``index`` or more (the batch was longer)."""
        with self._lock:
            row = self._db.execute("SELECT 1 FROM items WHERE idx >= ? LIMIT 1", (index,))
            return row.fetchone() is not None

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


name_public([JournalError])  # public, imported on first use
