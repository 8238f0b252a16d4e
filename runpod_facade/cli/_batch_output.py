"""``batch``'s OUTPUT file: one JSON line per input line, appended as results come, each line
written once even across runs.

On open, the file is locked (so two runs never append to it at once), a last line cut
short by a killed run is dropped, and the line numbers already written are read into a
bitmap (one bit per input line: 125 kB for a million lines). Each result is written with
one ``write`` call — a line is in the OS's cache, safe from the process being killed, as
soon as :meth:`ResultFile.write` returns — and the file is fsynced at most once a second
and when it is closed.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import time
from collections.abc import Callable
from typing import Any

from .._logging import redact
from ._errors import UsageError

try:
    import fcntl
except ImportError:  # Windows: the journal's own lock still guards the usual case
    fcntl = None  # type: ignore[assignment]

__all__ = ["LineSet", "ResultFile", "result_line"]

#: How often, at most, written lines are fsynced (a power cut loses at most this much).
SYNC_INTERVAL = 1.0

# What this module writes starts so (json.dumps's default separators): the line number and
# status of a line are read without decoding its output.
_PREFIX = re.compile(
    rb'\{"line": ([1-9][0-9]*), "id": (?:null|"(?:[^"\\]|\\.)*"), "status": (null|"[A-Z_]*")'
)


class LineSet:
    """A set of line numbers (1 or more) as a bitmap: flat memory for millions of lines."""

    def __init__(self) -> None:
        self._bits = bytearray()
        self.count = 0

    def __contains__(self, line: int) -> bool:
        byte = (line - 1) >> 3
        return byte < len(self._bits) and bool(self._bits[byte] >> ((line - 1) & 7) & 1)

    def add(self, line: int) -> bool:
        """Add ``line``; ``False`` if it was there already."""
        byte, bit = (line - 1) >> 3, 1 << ((line - 1) & 7)
        if byte >= len(self._bits):
            # Doubling: appending lines in order costs amortized O(1).
            self._bits.extend(bytes(max(byte + 1 - len(self._bits), len(self._bits))))
        if self._bits[byte] & bit:
            return False
        self._bits[byte] |= bit
        self.count += 1
        return True


def result_line(record: dict[str, Any]) -> bytes:
    """``record`` as one JSON line. Only the error's message, a diagnostic, has secrets
    masked: the output and the worker's error details are the job's data, written as they
    came (a key that also occurs in them, a short one or a common word, must not change
    them). Non-ASCII stays UTF-8 unless the text holds a lone surrogate (possible in a JSON
    reply), which only escaping can carry."""
    error = record.get("error")
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        record = {**record, "error": {**error, "message": redact(error["message"])}}
    try:
        return json.dumps(record, ensure_ascii=False).encode("utf-8") + b"\n"
    except UnicodeEncodeError:
        return json.dumps(record).encode("ascii") + b"\n"


def _parse(line: bytes) -> tuple[int, bool] | None:
    """``(line number, COMPLETED?)`` of a line of OUTPUT, or ``None`` if it is not one."""
    match = _PREFIX.match(line)
    if match is not None:
        return int(match[1]), match[2] == b'"COMPLETED"'
    try:
        record = json.loads(line)
    except ValueError:
        return None
    number = record.get("line") if isinstance(record, dict) else None
    if isinstance(number, bool) or not isinstance(number, int) or number < 1:
        return None
    return number, record.get("status") == "COMPLETED"


class ResultFile:
    """OUTPUT, open for appending results; see the module docstring."""

    def __init__(self, path: str, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.path = path
        self.written = LineSet()
        self.completed = 0  # lines written with a COMPLETED job (any run)
        self.failed = 0  # lines written with an error (any run)
        self.written_now = 0
        self.dropped_torn = False
        self.created = False  # this run created the file
        self._clock = clock
        self._fd: int | None = None
        self._synced = clock()
        self._dirty = False

    def open(self) -> None:
        """Create or open OUTPUT and lock it; a :class:`UsageError` if another run holds it."""
        flags = os.O_RDWR | getattr(os, "O_BINARY", 0)
        try:
            try:
                fd = os.open(self.path, flags | os.O_CREAT | os.O_EXCL, 0o644)
                self.created = True
            except FileExistsError:
                fd = os.open(self.path, flags | os.O_CREAT, 0o644)
        except OSError as exc:
            raise UsageError(f"cannot open OUTPUT {self.path!r}: {exc.strerror or exc}") from None
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                raise UsageError(
                    f"OUTPUT {self.path!r} is being written by another batch run; wait for it "
                    "to end, or write to another file"
                ) from None
            except OSError:
                pass  # a file system without locks: go on, as on Windows
        self._fd = fd

    def truncate(self) -> None:
        """Empty the file (``--restart``)."""
        assert self._fd is not None
        os.ftruncate(self._fd, 0)

    def scan(self) -> None:
        """Read the line numbers already written, dropping a torn last line; then position
        for appending. A :class:`UsageError` if a line is not a result of ``batch``."""
        assert self._fd is not None
        end = 0  # just past the last whole line
        with open(os.dup(self._fd), "rb") as reader:
            reader.seek(0)
            for number, line in enumerate(reader, start=1):
                if not line.endswith(b"\n"):
                    break  # the last line, cut short by a killed run
                parsed = _parse(line)
                if parsed is None:
                    raise UsageError(
                        f"line {number} of OUTPUT {self.path!r} is not a result of "
                        "runpod-facade batch: refusing to append to this file (pick another "
                        "-o, or --restart to overwrite it)"
                    )
                end += len(line)
                if self.written.add(parsed[0]):
                    if parsed[1]:
                        self.completed += 1
                    else:
                        self.failed += 1
        size = os.fstat(self._fd).st_size
        if size > end:
            os.ftruncate(self._fd, end)
            self.dropped_torn = True
        os.lseek(self._fd, end, os.SEEK_SET)

    def write(self, line: int, record: dict[str, Any], ok: bool) -> bool:
        """Append ``record`` as the result of input ``line`` unless that line has one;
        ``True`` if written."""
        assert self._fd is not None
        if line in self.written:
            return False
        data = memoryview(result_line(record))
        while data:
            data = data[os.write(self._fd, data) :]
        self.written.add(line)
        self.written_now += 1
        if ok:
            self.completed += 1
        else:
            self.failed += 1
        self._dirty = True
        if self._clock() - self._synced >= SYNC_INTERVAL:
            self.sync()
        return True

    def sync(self) -> None:
        """fsync what was written (if anything was since the last sync)."""
        if self._fd is not None and self._dirty:
            with contextlib.suppress(OSError):  # e.g. a pipe or a device: nothing to sync
                os.fsync(self._fd)
            self._dirty = False
        self._synced = self._clock()

    def close(self, *, discard_new: bool = False) -> None:
        """fsync, unlock and close; idempotent. ``discard_new``: a refused run removes the
        file if it created it and it is still empty, leaving the directory as it was."""
        if self._fd is None:
            return
        self.sync()
        fd, self._fd = self._fd, None
        if discard_new and self.created and os.fstat(fd).st_size == 0:
            with contextlib.suppress(OSError):
                os.remove(self.path)  # still locked: no other run has it
        os.close(fd)  # also releases the lock
