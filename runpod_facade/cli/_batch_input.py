"""``batch``'s input: JSON lines read one at a time, each turned into a job input.

A line that cannot be a job input — not JSON, not UTF-8 — still takes its place in the
batch, as a :class:`BadLine` handed to ``Endpoint.map``: the map's encoder refuses it (it is
not JSON-serializable), so it comes back at once as an ``InvalidInputError`` item at that
very index, nothing is sent and nothing journaled. Input index ``i`` is thus always line
``i + 1``, whatever lines are bad, which keeps the journal's indices meaningful across runs.
Blank lines are handed over the same way and skipped (no job, no output line).
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from .._options import Input, is_request_body

__all__ = ["BLANK", "BadLine", "InputLines", "count_lines"]

_CHUNK = 1 << 20


@dataclass(frozen=True, slots=True)
class BadLine:
    """A line that is no job input, and why (the error of its output line)."""

    reason: str


#: A blank (empty or whitespace-only) line: skipped, no output line.
BLANK = BadLine("blank line")


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def parse_line(raw: bytes | str, first: bool) -> Any:
    """The job input on one line, or the :class:`BadLine` saying why there is none."""
    if isinstance(raw, bytes):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            return BadLine(f"not UTF-8 text (byte {exc.start + 1})")
    else:
        text = raw
    if first:
        text = text.removeprefix("\ufeff")  # a byte-order mark some editors write
    if not text.strip():
        return BLANK
    try:
        # Strict JSON: NaN and Infinity are Python's extension, and the API refuses them.
        return json.loads(text, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        return BadLine(f"not valid JSON: {exc.msg} (column {exc.colno})")
    except ValueError as exc:
        return BadLine(f"not valid JSON: {exc}")
    except RecursionError:
        return BadLine("not valid JSON: nested too deeply")


class InputLines:
    """The job inputs of ``lines`` (a binary file, or text lines), read lazily, one per line.

    The bad lines read and not yet claimed wait in :attr:`bad` (by input index) until their
    item is :meth:`claim`-ed — at once, since the map yields such items as it reads them.
    """

    def __init__(self, lines: Iterable[bytes] | Iterable[str], *, as_is: bool = False) -> None:
        self._lines = lines
        # --input-as-is: each line is sent exactly as written, even one shaped {"input": ...}.
        self._as_is = as_is
        self.read = 0  # lines read so far
        self.blank = 0  # blank lines among them
        self.exhausted = False  # every line was read
        self.bad: dict[int, BadLine] = {}

    def __iter__(self) -> Iterator[Any]:
        for raw in self._lines:
            self.read += 1
            value = parse_line(raw, self.read == 1)
            if self._as_is and not isinstance(value, BadLine):
                value = Input(value)
            elif is_request_body(value):
                value = BadLine(
                    'the line is {"input": ...}: the worker would receive it nested in a second '
                    '"input". Give only the inner value, or pass --input-as-is to send lines '
                    "exactly as written"
                )
            if isinstance(value, BadLine):
                if value is BLANK:
                    self.blank += 1
                self.bad[self.read - 1] = value
            yield value
        self.exhausted = True

    def claim(self, index: int) -> BadLine | None:
        """The bad line at input ``index``, if it is one (then forgotten)."""
        return self.bad.pop(index, None)


def count_lines(path: str) -> tuple[int, int] | None:
    """``(lines, blank lines)`` of a regular file, read once in large chunks; ``None`` for
    anything else (a pipe, a device), which can be read only once."""
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            return None
        lines = blank = 0
        tail = b""
        with open(path, "rb") as handle:
            while chunk := handle.read(_CHUNK):
                parts = (tail + chunk).split(b"\n")
                tail = parts.pop()
                lines += len(parts)
                blank += sum(1 for part in parts if not part.strip())
        if tail:
            lines += 1
            blank += not tail.strip()
    except OSError:
        return None
    return lines, blank
