"""What the command line prints: results on stdout (human text or JSON), notes and errors on
stderr.

Results are written exactly as the API returned them: masking a secret that happens to occur
in a job's output (a short key, a key that is a common word or a JSON token) would change the
data, so only stderr passes through the façade's secret masking.

The live displays are beside this module: :mod:`._live` (a job's status line) and
:mod:`._progress` (a batch's progress).
"""

from __future__ import annotations

import json
import re
import sys
from datetime import timedelta
from typing import IO, Any

from .._logging import redact
from .._types import JobState

__all__ = ["Output", "compact", "headline", "state_json"]


def _seconds(value: timedelta | None) -> str | None:
    if value is None:
        return None
    seconds = value.total_seconds()
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.1f} s"


def state_json(state: JobState) -> dict[str, Any]:
    """The state as the API reported it (camelCase wire fields, unknown fields kept)."""
    data = dict(state.raw)
    data.pop("stream", None)  # a /stream reply's chunk list is not part of the job's state
    data["id"] = state.id
    data["status"] = str(state.status)
    return data


def headline(state: JobState) -> str:
    """``job ID STATUS in 1.2 s (queue 30 ms)``: one line saying where a job stands."""
    line = f"job {state.id} {state.status}"
    run = _seconds(state.execution_time)
    queue = _seconds(state.delay_time)
    if run is not None and state.is_terminal:
        line += f" in {run}"
    if queue is not None:
        line += f" (queue {queue})"
    return line


def _pretty(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, indent=2, ensure_ascii=False)


def compact(value: Any, limit: int = 60) -> str:
    """``value`` on one line of at most ``limit`` characters, secrets masked: a preview for
    status lines on stderr, never the result itself. Masked before it is cut, so a cut never
    leaves part of a key showing."""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    text = " ".join(redact(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


class Output:
    """Where results go: stdout (human or JSON, never masked), stderr for notes and errors
    (masked).

    The streams are looked up on each write, so a test (or a live display) that swaps
    ``sys.stdout``/``sys.stderr`` is honoured.
    """

    def __init__(self, *, as_json: bool) -> None:
        self.as_json = as_json
        self._kept: set[str] = set()
        self._kept_pattern: re.Pattern[str] | None = None

    def keep(self, text: str) -> None:
        """Leave ``text`` whole in notes and errors: a job id is the caller's handle on the
        job, not a secret, and a short key that happens to occur inside it must not make
        the id unusable in a "resume with" hint."""
        if text and text not in self._kept:
            self._kept.add(text)
            longest_first = sorted(self._kept, key=len, reverse=True)
            self._kept_pattern = re.compile("(" + "|".join(map(re.escape, longest_first)) + ")")

    def _masked(self, text: str) -> str:
        if self._kept_pattern is None:
            return redact(text)
        # split() with a group: kept strings at the odd indexes, the rest masked.
        parts = self._kept_pattern.split(text)
        return "".join(part if i % 2 else redact(part) for i, part in enumerate(parts))

    @property
    def out(self) -> IO[str]:
        return sys.stdout

    @property
    def err(self) -> IO[str]:
        return sys.stderr

    def write(self, text: str) -> None:
        """Result text on stdout, unchanged (not masked), flushed (token streams write
        without newlines)."""
        self.out.write(text)
        self.out.flush()

    def json(self, value: Any, *, indent: int | None = 2) -> None:
        """``value`` as JSON on stdout (``indent=None``: one line, for JSON-lines output)."""
        self.write(json.dumps(value, indent=indent, ensure_ascii=False) + "\n")

    def line(self, text: str = "") -> None:
        """One line of result on stdout."""
        self.write(text + "\n")

    def note(self, text: str) -> None:
        """A remark for the human (stderr, so stdout stays clean for pipes), secrets masked."""
        self.err.write(self._masked(text) + "\n")
        self.err.flush()

    def error(self, text: str) -> None:
        """``error: …`` on stderr."""
        self.note("error: " + text)

    def state(self, state: JobState) -> None:
        """A job state: headline then output (or error), or the state as JSON."""
        if self.as_json:
            self.json(state_json(state))
            return
        self.line(headline(state))
        if state.error:
            self.line(_pretty(state.error_details or state.error))
        if state.output is not None:
            self.line(_pretty(state.output))
