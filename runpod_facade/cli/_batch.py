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
flat in the number of lines. The pieces: :mod:`._batch_files` (checks before the run),
:mod:`._batch_run` (the run), :mod:`._batch_items` (an item's line), :mod:`._batch_summary`,
:mod:`._batch_signals` (SIGTERM stops it as Ctrl-C does).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._batch_files import check_journal, check_paths
from ._batch_run import PROGRESS_INTERVAL, BatchCommand
from ._batch_server import run_server_batch
from ._batch_signals import EXIT_TERMINATED, Terminated, sigterm_as_interrupt
from ._context import Context
from ._exit import (
    EXIT_API_ERROR,
    EXIT_CONNECTION_ERROR,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
)
from ._numbers import integers, parallel, retries
from ._options import add_command, add_job_options

if TYPE_CHECKING:
    from ._options import Subparsers

__all__ = ["register"]

_EPILOG = f"""\
output (one JSON line per input line, in completion order):
  {{"line": N, "id": JOB_ID, "status": "COMPLETED", "output": ..., "error": null}}
  error: null, or {{"type": ..., "message": ...}} ("details": a FAILED job's error JSON).
  "possibly_duplicated": true is added when a submit of that line was in flight when an
  earlier run died: the job may have run twice (RunPod has no idempotency key).
  A line that is not JSON gets its error; blank lines are skipped (no job, no output line).
  with --server: {{"line": N, "id": REQUEST_ID, "batch": BATCH_ID, "status": ...,
  "output": ..., "error": ...}}, "error": RunPod's error text (a string) or null.

--timeout S is the whole batch's deadline: then nothing more is submitted, the jobs still
running go on, and their lines are left for the next run (exit 1).

resuming:
  Run the same command again (same INPUT, OUTPUT and job options): lines already in OUTPUT
  are not written again, jobs already submitted are waited for by id, the rest is
  submitted. The journal (default OUTPUT.journal) must be kept: without it a rerun would
  submit every line again, so batch refuses to append to a non-empty OUTPUT whose journal
  is missing or empty (--restart starts over). A file that is not a journal of this
  version is never written to, and --restart deletes only a batch journal. A result is
  kept by RunPod for 30 minutes after its job ends: a run resumed later than that reports
  such lines as lost (NotFoundError).

exit codes:
  {EXIT_OK:<4} every line COMPLETED
  {EXIT_FAILED:<4} some lines did not: a job failed, a line is not JSON, a result was lost (all
       in OUTPUT with their errors), or lines were left for the next run (--timeout)
  {EXIT_USAGE:<4} usage error: bad option, unreadable INPUT, two of INPUT, OUTPUT and the journal
       the same file, OUTPUT not a batch output or without its journal, a journal of
       another batch, version or program, in use or read-only
  {EXIT_API_ERROR:<4} stopped: the API refused a submit as a wrong API key or endpoint id would
       (401/403/404), or kept answering 5xx or 429 (as for {EXIT_CONNECTION_ERROR}); rerun to resume
  {EXIT_CONNECTION_ERROR:<4} stopped: no answer from the API for 2 x --concurrency requests in a row
       (at least 10) with no job ending meanwhile; rerun to resume
  {EXIT_INTERRUPTED:<4} interrupted (Ctrl-C): nothing more submitted, running jobs left running
       (cancelled with --cancel-on-interrupt); run the same command to resume
  {EXIT_TERMINATED:<4} terminated (SIGTERM): stopped as by Ctrl-C, same summary

examples:
  runpod-facade batch prompts.jsonl -o results.jsonl --concurrency 32
  runpod-facade batch prompts.jsonl -o results.jsonl      # again: resumes
  jq -c 'select(.error)' results.jsonl                     # the lines that failed
"""


def _batch(ctx: Context) -> int:
    args = ctx.args
    journal = args.journal or args.output + ".journal"
    # Every check on the files comes before the endpoint is built: nothing is sent.
    check_paths(args.input, args.output, journal, journal_named=args.journal is not None)
    if args.server:
        # A server-side batch keeps a journal of its own kind (per batch, not per line).
        return run_server_batch(ctx, args.input, args.output, journal)
    check_journal(args.output, journal, restart=args.restart)
    command = BatchCommand(ctx, args.input, args.output, journal)
    try:
        with sigterm_as_interrupt(), ctx.endpoint(waits=True, status_line=False) as endpoint:
            return command.run(endpoint)
    except Terminated:  # before the batch started, or after it ended: nothing to report
        ctx.output.error("terminated (SIGTERM)")
        return EXIT_TERMINATED


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
        type=parallel,
        default=16,
        help="jobs in flight at most (1 to 1000; default 16)",
    )
    batch.add_argument(
        "--input-as-is",
        action="store_true",
        help='send each line exactly as written, even one shaped {"input": ...} (refused '
        "otherwise: the worker would receive it nested in a second input)",
    )
    batch.add_argument(
        "--journal",
        metavar="PATH",
        help="the batch's journal (SQLite; default OUTPUT.journal); keep it to resume",
    )
    batch.add_argument(
        "--retry-failed",
        metavar="N",
        type=retries,
        default=0,
        help="requeue a FAILED or TIMED_OUT job up to N times (0 to 100; /retry, same id)",
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
        "--server",
        action="store_true",
        help="hand the lines to RunPod's Batch Jobs API (batches of up to 5,000 run on "
        "RunPod's batch workers; every line must be JSON; resumable by batch id)",
    )
    batch.add_argument(
        "--batch-size",
        metavar="N",
        type=integers(1, 5000),
        default=None,
        help="with --server: lines per batch (default and most 5000)",
    )
    batch.add_argument(
        "-q", "--quiet", action="store_true", help="no progress and no summary (errors only)"
    )
    add_job_options(batch)
