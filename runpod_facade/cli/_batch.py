"""``batch``: every line of a JSON-lines file as a job, one result line per input line,
resumable after a crash or Ctrl-C.

    runpod-facade batch INPUT.jsonl -o OUTPUT.jsonl [--concurrency N] [--journal PATH] ...

Built on ``Endpoint.map(..., journal=, replay=True)``: the journal (SQLite, default
``OUTPUT.journal``) records every submit before it is sent and every outcome before it is
handed over; OUTPUT (:mod:`._batch_output`) records which lines have their result. A rerun
of the same command replays the journal's outcomes and writes those whose line is missing
from OUTPUT (a run killed between the two writes), waits by id for the jobs an earlier run
submitted, resubmits (flagged ``possibly_duplicated``) the submits a crash caught in
flight, and submits the rest. Input is read lazily (:mod:`._batch_input`), so memory stays
flat in the number of lines.
"""

from __future__ import annotations

import contextlib
import os
import re
import sqlite3
import sys
from collections.abc import Iterator
from typing import IO, TYPE_CHECKING, Any

from .._batch_types import BatchItem, BatchTimeout
from .._client import Endpoint
from .._errors import (
    APIConnectionError,
    APIError,
    JobFailed,
    RateLimitError,
    RunpodError,
    ServerError,
)
from .._interrupts import NOTE_PREFIX
from .._journal import JournalError
from .._map_threads import BatchResults
from ._batch_input import BLANK, BadLine, InputLines, count_lines
from ._batch_output import ResultFile
from ._context import Context
from ._errors import UsageError, cli_terms
from ._exit import (
    EXIT_API_ERROR,
    EXIT_CONNECTION_ERROR,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
)
from ._input import policy_from
from ._options import add_command, add_job_options, non_negative_int, positive_int
from ._progress import BatchProgress
from ._term import Ticker

if TYPE_CHECKING:
    from ._options import Subparsers

__all__ = ["register"]

#: Seconds between plain progress lines when stderr is not a terminal.
PROGRESS_INTERVAL = 10.0
#: How often the display's counts are refreshed from the running batch.
_REFRESH = 0.5
#: Submits refused so are the same for every line (a wrong key or endpoint id): stop.
_REFUSED = frozenset({401, 403, 404})

_EPILOG = f"""\
output (one JSON line per input line, in completion order):
  {{"line": N, "id": JOB_ID, "status": "COMPLETED", "output": ..., "error": null}}
  error: null, or {{"type": ..., "message": ...}} ("details": a FAILED job's error JSON).
  "possibly_duplicated": true is added when a submit of that line was in flight when an
  earlier run died: the job may have run twice (RunPod has no idempotency key).
  A line that is not JSON gets its error; blank lines are skipped (no job, no output line).

--timeout S is the whole batch's deadline: then nothing more is submitted, the jobs still
running go on, and their lines are left for the next run (exit 1).

resuming:
  Run the same command again (same INPUT, OUTPUT and job options): lines already in OUTPUT
  are not written again, jobs already submitted are waited for by id, the rest is
  submitted. The journal (default OUTPUT.journal) must be kept: without it a rerun would
  submit every line again, so batch refuses to append to a non-empty OUTPUT whose journal
  is missing (--restart starts over). A result is kept by RunPod for 30 minutes after its
  job ends: a run resumed later than that reports such lines as lost (NotFoundError).

exit codes:
  {EXIT_OK:<4} every line COMPLETED
  {EXIT_FAILED:<4} some lines did not: a job failed, a line is not JSON, a result was lost
       (all in OUTPUT with their errors), or lines were left for the next run (--timeout,
       an outage)
  {EXIT_USAGE:<4} usage error: bad option, unreadable INPUT, OUTPUT not a batch output, a
       journal of another batch or in use, OUTPUT without its journal
  {EXIT_API_ERROR:<4} the API refused a submit as a wrong API key or endpoint id would (401,
       403, 404), or answered server errors or 429s as often in a row: stopped
  {EXIT_CONNECTION_ERROR:<4} the API could not be reached (2 x --concurrency requests in a row, at
       least 10, failed with no job ending meanwhile): stopped; rerun to resume
  {EXIT_INTERRUPTED:<4} interrupted (Ctrl-C): nothing more submitted, running jobs left
       running (or cancelled with --cancel-on-interrupt); run the same command to resume

examples:
  runpod-facade batch prompts.jsonl -o results.jsonl --concurrency 32
  runpod-facade batch prompts.jsonl -o results.jsonl      # again: resumes
  jq -c 'select(.error)' results.jsonl                     # the lines that failed
"""


class _Stopped(Exception):
    """The batch stopped early: the API refuses or keeps failing every submit."""

    def __init__(self, error: RunpodError, code: int, why: str) -> None:
        super().__init__(why)
        self.error = error
        self.code = code


class _Breaker:
    """Stops a batch whose submits cannot succeed: refused as a wrong key or endpoint id
    would be (401/403/404, at the first one), or failing with no answer or a server error
    ``limit`` times in a row without a single job ending meanwhile."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.failures = 0

    def check(self, item: BatchItem) -> None:
        error = item.error
        if item.final:
            self.failures = 0
            return
        if isinstance(error, APIError) and item.job_id is None and error.status_code in _REFUSED:
            raise _Stopped(error, EXIT_API_ERROR, "the API refused the submit")
        if isinstance(error, APIConnectionError | ServerError | RateLimitError):
            self.failures += 1
            if self.failures >= self.limit:
                code = (
                    EXIT_CONNECTION_ERROR
                    if isinstance(error, APIConnectionError)
                    else (EXIT_API_ERROR)
                )
                raise _Stopped(error, code, f"{self.failures} requests in a row failed")


def _error_json(error: RunpodError | None, bad: BadLine | None) -> dict[str, Any] | None:
    if bad is not None:
        return {"type": "InvalidInputError", "message": f"the line is {bad.reason}"}
    if error is None:
        return None
    data: dict[str, Any] = {"type": type(error).__name__, "message": cli_terms(str(error))}
    if isinstance(error, JobFailed):
        details = error.error_details if error.error_details is not None else error.error
        if details is not None:
            data["details"] = details
    return data


def _record(item: BatchItem, bad: BadLine | None) -> dict[str, Any]:
    record = {
        "line": item.index + 1,
        "id": item.job_id,
        "status": None if item.status is None else str(item.status),
        "output": item.output,
        "error": _error_json(item.error, bad),
    }
    if item.possibly_duplicated:
        record["possibly_duplicated"] = True
    return record


def _same_file(a: str, b: str) -> bool:
    with contextlib.suppress(OSError):
        return os.path.samefile(a, b)
    return os.path.abspath(a) == os.path.abspath(b)


def _holds_data(path: str) -> bool:
    try:
        return os.path.getsize(path) > 0
    except OSError:
        return False


def _remove_journal(path: str) -> None:
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


def _journal_message(exc: JournalError) -> str:
    """The journal's error in terms of lines (input index ``i`` is line ``i + 1``)."""
    text = re.sub(
        r"^input (\d+) is not the input",
        lambda m: f"line {int(m[1]) + 1} of INPUT is not the input",
        str(exc),
    )
    return re.sub(r"the inputs ended at index (\d+)", r"INPUT ended after line \1", text)


@contextlib.contextmanager
def _open_input(source: str) -> Iterator[IO[bytes] | IO[str]]:
    if source == "-":
        yield getattr(sys.stdin, "buffer", sys.stdin)  # a test may swap in a text stream
        return
    try:
        handle = open(source, "rb")  # noqa: SIM115 - closed below
    except OSError as exc:
        raise UsageError(f"cannot read INPUT {source!r}: {exc.strerror or exc}") from None
    with handle:
        yield handle


class _BatchCommand:
    """One run of ``batch``: the map, OUTPUT, the display and the tallies."""

    def __init__(self, ctx: Context) -> None:
        args = ctx.args
        self.ctx = ctx
        self.out = ctx.output
        self.source: str = args.input
        self.output: str = args.output
        self.journal: str = args.journal or args.output + ".journal"
        self.quiet = bool(args.quiet) or ctx.output.as_json
        self._check_paths()
        counted = None if self.source == "-" else count_lines(self.source)
        # The jobs (non-blank lines) INPUT holds, as far as a quick count can tell.
        self.expected = None if counted is None else counted[0] - counted[1]
        self.file = ResultFile(self.output)
        self.reader: InputLines | None = None
        self.results: BatchResults | None = None
        self.progress: BatchProgress | None = None
        self.left = 0  # lines whose outcome is not final yet (this run)
        self.last_left: RunpodError | None = None
        self.duplicated: list[int] = []
        self.breaker = _Breaker(max(2 * args.concurrency, 10))

    def _check_paths(self) -> None:
        if self.output == "-":
            raise UsageError(
                "-o must be a file: it is how a rerun knows which lines have their result"
            )
        if self.source != "-":
            if not os.path.exists(self.source):
                raise UsageError(f"cannot read INPUT {self.source!r}: no such file")
            if os.path.exists(self.output) and _same_file(self.source, self.output):
                raise UsageError("INPUT and OUTPUT are the same file")
        for path, name in ((self.output, "OUTPUT"), (self.source, "INPUT")):
            if path != "-" and os.path.exists(self.journal) and _same_file(self.journal, path):
                raise UsageError(f"the journal and {name} are the same file")

    # --- the run --------------------------------------------------------------------------

    def run(self, endpoint: Endpoint) -> int:
        args = self.ctx.args
        if args.restart:
            _remove_journal(self.journal)
        elif _holds_data(self.output) and not os.path.exists(self.journal):
            raise UsageError(
                f"OUTPUT {self.output!r} already holds results but its journal "
                f"{self.journal!r} is missing: running again would submit every line "
                "again. Pass --journal if it is elsewhere, or --restart to start over "
                "(OUTPUT is overwritten)"
            )
        with _open_input(self.source) as lines:
            self.reader = InputLines(lines)
            try:
                self.results = endpoint.map(
                    self.reader,
                    concurrency=args.concurrency,
                    timeout=args.timeout,
                    journal=self.journal,
                    replay=True,
                    retry_failed=args.retry_failed,
                    policy=policy_from(args),
                    webhook=args.webhook,
                    cancel_on_interrupt=args.cancel_on_interrupt,
                )
            except JournalError as exc:
                raise UsageError(_journal_message(exc)) from None
            try:
                return self._drive(self.results)
            finally:
                self.file.close()

    def _drive(self, results: BatchResults) -> int:
        """Iterate the map, writing results; then the summary and the exit code."""
        stopped: _Stopped | None = None
        interrupt: KeyboardInterrupt | None = None
        timeout: BatchTimeout | None = None
        refused: JournalError | None = None
        notes: list[str] = []
        refresher: Ticker | None = None
        try:
            with results:
                # The journal's lock is held from here: OUTPUT can be read and trimmed.
                self.file.open()
                if self.ctx.args.restart:
                    self.file.truncate()
                self.file.scan()
                self._start_progress()
                if self.progress is not None:
                    refresher = Ticker(_REFRESH, self._refresh, name="batch-refresh")
                    refresher.start()
                try:
                    for item in results:
                        self._handle(item)
                except _Stopped as exc:
                    stopped = exc  # leaving the block closes the batch, jobs left running
        except KeyboardInterrupt as exc:
            interrupt = exc
            notes = list(getattr(exc, "__notes__", ()))
        except BatchTimeout as exc:
            timeout = exc
            notes = list(getattr(exc, "__notes__", ()))
        except JournalError as exc:
            refused = exc
        finally:
            if refresher is not None:
                refresher.stop()
            self.file.sync()
            if self.progress is not None:
                self._refresh()
                self.progress.close(summary=refused is None)
        if refused is not None:
            raise UsageError(_journal_message(refused)) from None
        if stopped is not None:
            notes = results.close().notes(cancel=False, why="")
        return self._finish(stopped, interrupt, timeout, notes)

    def _handle(self, item: BatchItem) -> None:
        assert self.reader is not None
        bad = self.reader.claim(item.index)
        if bad is BLANK:
            return
        if item.possibly_duplicated:
            self.duplicated.append(item.index + 1)
        if not item.final:
            self.left += 1
            self.last_left = item.error
            self.breaker.check(item)
            return
        self.breaker.check(item)
        self.file.write(item.index + 1, _record(item, bad), item.ok and bad is None)

    # --- the display --------------------------------------------------------------------

    def _start_progress(self) -> None:
        if self.quiet:
            return
        self.progress = BatchProgress(
            total=self.expected,
            queued=None if self.expected is None else 0,
            stream=sys.stderr,
            interval=PROGRESS_INTERVAL,
            plain=self.ctx.debug,
        )
        self._refresh()

    def _running(self) -> int:
        if self.results is None:
            return 0
        stats = self.results.stats
        return max(0, stats.read - stats.yielded)

    def _total(self) -> int | None:
        assert self.reader is not None
        read = self.reader.read - self.reader.blank
        if self.reader.exhausted:
            return read
        return None if self.expected is None else max(self.expected, read)

    def _refresh(self) -> None:
        if self.progress is None:
            return
        done, failed, running, total = self.file.completed, self.file.failed, self._running(), None
        total = self._total()
        queued = None if total is None else max(0, total - done - failed - running - self.left)
        self.progress.update(done=done, failed=failed, running=running, queued=queued, total=total)

    # --- the end ------------------------------------------------------------------------

    def _finish(
        self,
        stopped: _Stopped | None,
        interrupt: KeyboardInterrupt | None,
        timeout: BatchTimeout | None,
        notes: list[str],
    ) -> int:
        assert self.reader is not None and self.results is not None
        out, file, stats = self.out, self.file, self.results.stats
        total = self._total()
        unfinished = None if total is None else max(0, total - file.completed - file.failed)
        if interrupt is not None:
            with contextlib.suppress(OSError, ValueError):
                sys.stderr.write("\n")  # end the line the terminal echoed ^C on
            out.error("interrupted: nothing more is submitted")
        elif stopped is not None:
            out.error(f"stopped: {stopped}: {cli_terms(str(stopped.error))}")
            if isinstance(stopped.error, APIError) and stopped.error.status_code in (401, 403):
                out.note("check the API key (--api-key or $RUNPOD_API_KEY)")
        elif timeout is not None and not self.quiet:
            out.note(f"--timeout passed: {timeout.timeout:g} s")
        for note in notes:
            out.note(note.removeprefix(NOTE_PREFIX))
        if out.as_json:
            out.json(
                {
                    "output": self.output,
                    "journal": self.journal,
                    "lines": total,
                    "completed": file.completed,
                    "failed": file.failed,
                    "unfinished": unfinished,
                    "blank": self.reader.blank,
                    "written": file.written_now,
                    "submitted": stats.submitted,
                    "resumed": stats.resumed,
                    "reattached": stats.reattached,
                    "possibly_duplicated": sorted(self.duplicated),
                    "interrupted": interrupt is not None,
                    "timed_out": timeout is not None,
                },
                indent=None,
            )
        elif not self.quiet:
            self._summary(unfinished)
        if unfinished != 0 and (interrupt is not None or stopped is not None or not self.quiet):
            out.note(f"to resume: run the same command again (journal {self.journal})")
        if interrupt is not None:
            return EXIT_INTERRUPTED
        if stopped is not None:
            return stopped.code
        if unfinished == 0 and file.failed == 0 and timeout is None:
            return EXIT_OK
        return EXIT_FAILED

    def _summary(self, unfinished: int | None) -> None:
        assert self.reader is not None and self.results is not None
        out, file, stats = self.out, self.file, self.results.stats
        left = "some lines" if unfinished is None else f"{unfinished} lines"
        line = f"{self.output}: {file.completed} completed, {file.failed} failed"
        if unfinished != 0:
            line += f", {left} left for the next run"
            if self.last_left is not None:
                line += f" (last: {type(self.last_left).__name__})"
        out.note(line)
        parts = [f"this run wrote {file.written_now}"]
        before = file.written.count - file.written_now
        if before:
            parts.append(f"{before} were there before")
        if stats.resumed:
            parts.append(f"{stats.resumed} results replayed from the journal")
        if stats.reattached:
            parts.append(f"{stats.reattached} jobs of an earlier run waited for by id")
        if self.reader.blank:
            parts.append(f"{self.reader.blank} blank lines skipped")
        out.note("; ".join(parts))
        if file.dropped_torn:
            out.note("dropped OUTPUT's last line, cut short by a killed run (written again)")
        if self.duplicated:
            shown = ", ".join(str(n) for n in sorted(self.duplicated)[:50])
            more = len(self.duplicated) - 50
            out.note(
                f"possibly duplicated (a submit was in flight when an earlier run died; the job "
                f"may have run twice): line{'s' if len(self.duplicated) > 1 else ''} {shown}"
                + (f" and {more} more" if more > 0 else "")
            )


def _batch(ctx: Context) -> int:
    command = _BatchCommand(ctx)
    with ctx.endpoint(waits=True, status_line=False) as endpoint:
        return command.run(endpoint)


def register(commands: Subparsers) -> None:
    """Add ``batch`` to ``commands``."""
    batch = add_command(
        commands,
        "batch",
        _batch,
        "run every line of a JSON-lines file as a job; resumable",
        "Run each line of INPUT (one JSON job input per line; '-' reads stdin) as a job, at "
        "most --concurrency at a time, and append one JSON line per input line to OUTPUT "
        "as the jobs end. A journal makes the batch resumable: run the same command again "
        "after a crash, Ctrl-C or --timeout and it picks up where it stopped, writing each "
        "line once. Progress goes to stderr (a bar on a terminal, a line every "
        f"{PROGRESS_INTERVAL:g} s otherwise), then a summary.",
        epilog=_EPILOG,
    )
    batch.add_argument("input", metavar="INPUT", help="JSON lines, one job input each ('-': stdin)")
    batch.add_argument(
        "-o", "--output", metavar="OUTPUT", required=True, help="where results are appended"
    )
    batch.add_argument(
        "--concurrency",
        metavar="N",
        type=positive_int,
        default=16,
        help="jobs in flight at most (default 16)",
    )
    batch.add_argument(
        "--journal",
        metavar="PATH",
        help="the batch's journal (SQLite; default OUTPUT.journal); keep it to resume",
    )
    batch.add_argument(
        "--retry-failed",
        metavar="N",
        type=non_negative_int,
        default=0,
        help="requeue a FAILED or TIMED_OUT job up to N times (/retry, same id)",
    )
    batch.add_argument(
        "--cancel-on-interrupt",
        action="store_true",
        help="cancel the running jobs on Ctrl-C (default: leave them running; a rerun waits "
        "for them)",
    )
    batch.add_argument(
        "--restart",
        action="store_true",
        help="start over: delete the journal and overwrite OUTPUT (every line runs again)",
    )
    batch.add_argument(
        "-q", "--quiet", action="store_true", help="no progress and no summary (errors only)"
    )
    add_job_options(batch)
