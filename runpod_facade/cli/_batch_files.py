"""``batch``'s files before anything runs: INPUT, OUTPUT and the journal checked against
each other, OUTPUT refused without its journal, the journal removed by ``--restart``, and
the journal's errors told in lines."""

from __future__ import annotations

import contextlib
import os
import re
import sqlite3
import sys
from collections.abc import Iterator
from typing import IO

from .._batches.journal import JournalError
from ._errors import UsageError

__all__ = ["check_paths", "check_resumable", "journal_message", "open_input", "remove_journal"]


def _same_file(a: str, b: str) -> bool:
    with contextlib.suppress(OSError):
        return os.path.samefile(a, b)
    return os.path.abspath(a) == os.path.abspath(b)


def check_paths(source: str, output: str, journal: str) -> None:
    """A :class:`UsageError` for paths that cannot work together."""
    if output == "-":
        raise UsageError("-o must be a file: it is how a rerun knows which lines have their result")
    if source != "-":
        if not os.path.exists(source):
            raise UsageError(f"cannot read INPUT {source!r}: no such file")
        if os.path.exists(output) and _same_file(source, output):
            raise UsageError("INPUT and OUTPUT are the same file")
    for path, name in ((output, "OUTPUT"), (source, "INPUT")):
        if path != "-" and os.path.exists(journal) and _same_file(journal, path):
            raise UsageError(f"the journal and {name} are the same file")


def check_resumable(output: str, journal: str) -> None:
    """Refuse a non-empty OUTPUT whose journal is missing: a run would submit every line
    again, the finished ones included."""
    try:
        holds_data = os.path.getsize(output) > 0
    except OSError:
        holds_data = False
    if holds_data and not os.path.exists(journal):
        raise UsageError(
            f"OUTPUT {output!r} already holds results but its journal {journal!r} is "
            "missing: running again would submit every line again. Pass --journal if it is "
            "elsewhere, or --restart to start over (OUTPUT is overwritten)"
        )


def remove_journal(path: str) -> None:
    """``--restart``: delete the journal at ``path`` — only if it is one, and not in use."""
    if not os.path.exists(path):
        return
    try:
        db = sqlite3.connect(path, timeout=0)
        try:
            db.execute("BEGIN IMMEDIATE")  # fails at once if a run holds the journal
            db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
            db.execute("ROLLBACK")
        finally:
            db.close()
    except sqlite3.Error as exc:
        why = "is in use by another batch run" if "locked" in str(exc) else "is not a batch journal"
        raise UsageError(f"--restart: {path!r} {why} ({exc}); not removing it") from None
    for suffix in ("", "-wal", "-shm"):
        with contextlib.suppress(FileNotFoundError):
            os.remove(path + suffix)


def journal_message(exc: JournalError) -> str:
    """The journal's error in terms of lines (input index ``i`` is line ``i + 1``)."""
    text = re.sub(
        r"^input (\d+) is not the input",
        lambda m: f"line {int(m[1]) + 1} of INPUT is not the input",
        str(exc),
    )
    return re.sub(r"the inputs ended at index (\d+)", r"INPUT ended after line \1", text)


@contextlib.contextmanager
def open_input(source: str) -> Iterator[IO[bytes] | IO[str]]:
    """INPUT opened for reading (binary; stdin's bytes for ``-``)."""
    if source == "-":
        yield getattr(sys.stdin, "buffer", sys.stdin)  # a test may swap in a text stream
        return
    try:
        handle = open(source, "rb")  # noqa: SIM115 - closed below
    except OSError as exc:
        raise UsageError(f"cannot read INPUT {source!r}: {exc.strerror or exc}") from None
    with handle:
        yield handle
