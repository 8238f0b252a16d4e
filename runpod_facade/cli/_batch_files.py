"""``batch``'s files before anything is sent: INPUT, OUTPUT and the journal checked against
each other (no two the same file), the journal checked without writing to it (a file that
is not a journal of this version is refused unchanged), OUTPUT with results refused next
to a journal that holds no batch, the journal removed by ``--restart`` (only a journal),
and the journal's errors told in lines and flags."""

from __future__ import annotations

import contextlib
import os
import re
import sqlite3
import sys
from collections.abc import Iterator
from typing import IO

from .._batches.journal import SIDE_FILES, JournalError, probe, same_file
from ._errors import UsageError

__all__ = ["check_journal", "check_paths", "journal_message", "open_input", "remove_journal"]

#: Why two of the files cannot be one, per pair (the first named file, the second).
_CLASH = {
    ("INPUT", "OUTPUT"): "results would be appended to the file being read",
    ("INPUT", "journal"): "the journal would overwrite INPUT",
    ("OUTPUT", "journal"): "the journal and the results would overwrite each other",
}


def check_paths(source: str, output: str, journal: str, *, journal_named: bool) -> None:
    """A :class:`UsageError` for paths that cannot work together — before anything is
    opened or sent. Any two of INPUT, OUTPUT and the journal that name one file (by name,
    ``./``, absolute or relative, symlink or hard link; see :func:`same_file`) are refused,
    as are OUTPUT's missing directory and a file at the journal's side-file paths."""
    if output == "-":
        raise UsageError("-o must be a file: it is how a rerun knows which lines have their result")
    if source != "-" and not os.path.exists(source):
        raise UsageError(f"cannot read INPUT {source!r}: no such file")
    directory = os.path.dirname(os.path.abspath(output))
    if not os.path.isdir(directory):
        raise UsageError(
            f"cannot write OUTPUT {output!r}: its directory {directory!r} does not exist "
            "(create it first)"
        )
    if os.path.isdir(output):
        raise UsageError(f"OUTPUT {output!r} is a directory; -o names the file to write")
    flag = {
        "INPUT": "INPUT",
        "OUTPUT": "-o OUTPUT",
        "journal": "--journal" if journal_named else "the journal (default OUTPUT.journal)",
    }
    fix = {"OUTPUT": "pick another -o", "journal": "pick another --journal"}
    paths = {"INPUT": source, "OUTPUT": output, "journal": journal}
    for (first, second), why in _CLASH.items():
        a, b = paths[first], paths[second]
        if a != "-" and same_file(a, b):
            raise UsageError(
                f"{flag[first]} and {flag[second]} are the same file ({a!r} and {b!r}): "
                f"{why}; {fix[second]}"
            )
    for name in ("INPUT", "OUTPUT"):
        path = paths[name]
        for suffix in SIDE_FILES:
            if path != "-" and same_file(path, journal + suffix):
                raise UsageError(
                    f"{flag[name]} {path!r} is where SQLite keeps the journal's side file "
                    f"{journal + suffix!r}: pick another --journal"
                )


def _lines_in(path: str) -> int:
    """How many lines ``path`` holds (a last line without its newline counts); 0 if it
    cannot be read."""
    count, last = 0, b"\n"
    try:
        with open(path, "rb") as handle:
            while chunk := handle.read(1 << 20):
                count += chunk.count(b"\n")
                last = chunk[-1:]
    except OSError:
        return 0
    return count + (last != b"\n")


def check_journal(output: str, journal: str, *, restart: bool) -> None:
    """Check the journal before anything runs: a file that is not a usable journal of this
    version is refused, unchanged (``--restart`` may replace only a journal of another
    version). Without ``--restart``, a journal that holds no batch (missing or 0 bytes)
    next to an OUTPUT with results is refused: a run would submit every line again, the
    finished ones included."""
    try:
        found = probe(journal, purpose="batch")
    except JournalError as exc:
        if restart and exc.reason in ("older", "newer"):
            return  # a journal of ours: --restart deletes it
        raise UsageError(journal_message(exc, restart=restart)) from None
    if restart or found == "journal":
        return
    lines = _lines_in(output)
    if lines:
        state = "is missing" if found == "missing" else "is empty (0 bytes)"
        raise UsageError(
            f"OUTPUT {output!r} already has {lines} result line{'s' if lines > 1 else ''} but "
            f"the journal {journal!r} holds no batch (it {state}): running again would submit "
            "every line again. Pass --restart to run everything again (OUTPUT is "
            "overwritten), or --journal to the batch's journal"
        )


def remove_journal(path: str) -> None:
    """``--restart``: delete the journal at ``path`` — only if it is one (or an empty
    file), and not in use."""
    try:
        found = probe(path, purpose="--restart")
    except JournalError as exc:
        if exc.reason not in ("older", "newer"):
            raise UsageError(journal_message(exc, restart=True)) from None
        found = "journal"
    if found == "missing":
        return
    try:
        db = sqlite3.connect(path, timeout=0)
        try:
            db.execute("BEGIN IMMEDIATE")  # fails at once if a run holds the journal
            db.execute("ROLLBACK")
        finally:
            db.close()
    except sqlite3.Error as exc:
        why = "is in use by another batch run" if "locked" in str(exc) else "cannot be locked"
        raise UsageError(
            f"--restart: the journal {path!r} {why} ({exc}); not removing it"
        ) from None
    for suffix in ("", *SIDE_FILES):
        with contextlib.suppress(FileNotFoundError):
            os.remove(path + suffix)


def journal_message(exc: JournalError, *, restart: bool = False) -> str:
    """The journal's error in the command's terms: lines (input index ``i`` is line
    ``i + 1``) and flags."""
    text = str(exc)
    if exc.reason == "older":
        text = text.replace("or delete the journal to run", "or pass --restart to run")
    elif restart and exc.reason in ("foreign", "not_sqlite"):
        text += " (--restart deletes only a batch journal)"
    text = re.sub(
        r"^input (\d+) is not the input",
        lambda m: f"line {int(m[1]) + 1} of INPUT is not the input",
        text,
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
