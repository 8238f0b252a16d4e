"""One run of ``batch``: ``Endpoint.map`` over INPUT's lines with the journal, each final
item written to OUTPUT unless its line is there already, progress on stderr, then the
outcome and the exit code.

Order matters on start: the map opens (and locks) the journal before OUTPUT is opened,
locked and read, and only then is the first line read — so a torn last line is trimmed
only by the one run that owns the batch.
"""

from __future__ import annotations

import contextlib
import sys

from .._batches.journal import JournalError
from .._batches.threads import BatchResults
from .._batches.types import BatchItem, BatchTimeout
from .._clients.sync import Endpoint
from .._core.interrupts import NOTE_PREFIX
from .._exceptions import AuthenticationError, PermissionDeniedError, RunpodError
from ._batch_files import journal_message, open_input, remove_journal
from ._batch_input import BLANK, InputLines, count_lines
from ._batch_items import Breaker, Stopped, result_record
from ._batch_output import ResultFile
from ._batch_signals import EXIT_TERMINATED, Terminated
from ._batch_summary import Outcome
from ._context import Context
from ._errors import UsageError, cli_terms
from ._exit import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK
from ._input import policy_from
from ._progress import BatchProgress
from ._term import Ticker

__all__ = ["PROGRESS_INTERVAL", "BatchCommand"]

#: Seconds between plain progress lines when stderr is not a terminal.
PROGRESS_INTERVAL = 10.0
#: How often the display's counts are refreshed from the running batch.
_REFRESH = 0.5


class BatchCommand:
    """One run of ``batch``: the map, OUTPUT, the display and the tallies."""

    def __init__(self, ctx: Context, source: str, output: str, journal: str) -> None:
        self.ctx = ctx
        self.args = ctx.args
        self.out = ctx.output
        self.source, self.output, self.journal = source, output, journal
        self.quiet = bool(self.args.quiet) or ctx.output.as_json
        self.expected: int | None = None  # the jobs (non-blank lines) INPUT holds, if known
        self.file = ResultFile(output)
        self.reader = InputLines(())
        self.results: BatchResults | None = None
        self.progress: BatchProgress | None = None
        self.left = 0  # items whose outcome is not final (this run)
        self.last_left: RunpodError | None = None
        self.duplicated: list[int] = []
        self.breaker = Breaker(max(2 * self.args.concurrency, 10))

    def run(self, endpoint: Endpoint) -> int:
        args = self.args
        if args.restart:
            remove_journal(self.journal)
        counted = None if self.source == "-" else count_lines(self.source)
        if counted is not None:
            self.expected = counted[0] - counted[1]
        with open_input(self.source) as lines:
            self.reader = InputLines(lines, as_is=args.input_as_is)
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
                raise UsageError(journal_message(exc)) from None
            try:
                return self._drive(self.results)
            finally:
                self.file.close()

    def _drive(self, results: BatchResults) -> int:
        """Iterate the map, writing results; then the summary and the exit code."""
        stopped: Stopped | None = None
        ended: BaseException | None = None  # Ctrl-C, the batch's deadline, a journal refusal
        refresher: Ticker | None = None
        try:
            with results:
                # The journal's lock is held from here: OUTPUT can be read and trimmed.
                self.file.open()
                if self.args.restart:
                    self.file.truncate()
                self.file.scan()
                self._start_progress()
                if self.progress is not None:
                    refresher = Ticker(_REFRESH, self._refresh, name="batch-refresh")
                    refresher.start()
                try:
                    for item in results:
                        self._handle(item)
                except Stopped as exc:
                    stopped = exc  # leaving the block closes the batch, jobs left running
        except (KeyboardInterrupt, BatchTimeout, JournalError) as exc:
            ended = exc
        finally:
            if refresher is not None:
                refresher.stop()
            self.file.sync()
            if self.progress is not None:
                self._refresh()
                self.progress.close(summary=not isinstance(ended, JournalError))
        if isinstance(ended, JournalError):
            self.file.close(discard_new=True)
            raise UsageError(journal_message(ended)) from None
        notes = list(getattr(ended, "__notes__", ()))  # the façade's: jobs left running
        if stopped is not None:
            notes = results.close().notes(cancel=False, why="")
        return self._finish(stopped, ended, notes)

    def _handle(self, item: BatchItem) -> None:
        bad = self.reader.claim(item.index)
        if bad is BLANK:
            return
        if item.possibly_duplicated:
            self.duplicated.append(item.index + 1)
        if not item.final:
            self.left += 1  # a timeout or an outage: the next run retries or reattaches
            self.last_left = item.error
        self.breaker.check(item)
        if item.final:
            self.file.write(item.index + 1, result_record(item, bad), item.ok and bad is None)

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

    def _jobs(self) -> int | None:
        """The jobs of INPUT: counted once it is read, else as the first count said."""
        read = self.reader.read - self.reader.blank
        if self.reader.exhausted:
            return read
        return None if self.expected is None else max(self.expected, read)

    def _refresh(self) -> None:
        if self.progress is None or self.results is None:
            return
        stats = self.results.stats
        running = stats.running  # jobs the server accepted, not submits it refused
        done, failed, total = self.file.completed, self.file.failed, self._jobs()
        queued = None if total is None else max(0, total - done - failed - running - self.left)
        self.progress.update(done=done, failed=failed, running=running, queued=queued, total=total)

    # --- the end ------------------------------------------------------------------------

    def _finish(
        self, stopped: Stopped | None, ended: BaseException | None, notes: list[str]
    ) -> int:
        assert self.results is not None
        out = self.out
        interrupted = isinstance(ended, KeyboardInterrupt)
        terminated = isinstance(ended, Terminated)
        outcome = Outcome(
            output=self.output,
            journal=self.journal,
            jobs=self._jobs(),
            completed=self.file.completed,
            failed=self.file.failed,
            blank=self.reader.blank,
            written=self.file.written_now,
            stats=self.results.stats,
            duplicated=tuple(self.duplicated),
            dropped_torn=self.file.dropped_torn,
            last_left=self.last_left,
            interrupted=interrupted,
            terminated=terminated,
            timed_out=isinstance(ended, BatchTimeout),
        )
        if terminated:
            out.error("terminated (SIGTERM): nothing more is submitted")
        elif interrupted:
            with contextlib.suppress(OSError, ValueError):
                sys.stderr.write("\n")  # end the line the terminal echoed ^C on
            out.error("interrupted: nothing more is submitted")
        elif stopped is not None:
            out.error(f"stopped: {stopped}: {cli_terms(str(stopped.error))}")
            if isinstance(stopped.error, AuthenticationError | PermissionDeniedError):
                out.note("check the API key (--api-key or $RUNPOD_API_KEY)")
        elif isinstance(ended, BatchTimeout) and not self.quiet:
            out.note(f"--timeout passed ({self.args.timeout:g} s): nothing more was submitted")
        for note in notes:
            out.note(note.removeprefix(NOTE_PREFIX))
        if out.as_json:
            out.json(outcome.to_json(), indent=None)
        elif not self.quiet:
            for line in outcome.lines():
                out.note(line)
        if outcome.unfinished != 0 and (interrupted or stopped is not None or not self.quiet):
            out.note(f"to resume: run the same command again (journal {self.journal})")
        if interrupted:
            return EXIT_TERMINATED if terminated else EXIT_INTERRUPTED
        if stopped is not None:
            return stopped.code
        return EXIT_OK if outcome.success else EXIT_FAILED
