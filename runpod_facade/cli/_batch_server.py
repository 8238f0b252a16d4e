"""``batch --server``: the lines of INPUT handed to RunPod's Batch Jobs API.

Built on ``Endpoint.map(..., via="batch-api", journal=, replay=False)`` and
:class:`runpod_facade._batchjobs._file.ResultsFile`: every line of INPUT must be JSON
(checked before anything is sent), batches of up to 5,000 lines run on RunPod's batch
workers, results are appended to OUTPUT batch by batch as they page in, and a rerun of the
same command resumes by batch id (the journal, default OUTPUT.journal), writing each line once.
"""

from __future__ import annotations

import contextlib
import os

from .._batchjobs._file import ResultsFile, check_lines, read_inputs
from .._batchjobs._mapper import BatchApiItem
from .._exceptions import InvalidInputError
from ._context import Context
from ._errors import UsageError
from ._exit import EXIT_FAILED, EXIT_OK

__all__ = ["run_server_batch"]


def run_server_batch(ctx: Context, source: str, output: str, journal: str) -> int:
    """Run the batch; the exit code (0: every line COMPLETED, 1: some did not)."""
    args = ctx.args
    if source == "-":
        raise UsageError("--server reads INPUT from a file, not stdin (a rerun reads it again)")
    if args.restart:
        for path in (journal, journal + "-wal", journal + "-shm", output):
            with contextlib.suppress(FileNotFoundError):
                os.remove(path)
    elif os.path.exists(output) and os.path.getsize(output) and not os.path.exists(journal):
        raise UsageError(
            f"{output} is not empty and its journal {journal} is missing: "
            "pass --restart to start over"
        )
    try:
        lines = check_lines(source)
    except InvalidInputError as exc:
        raise UsageError(str(exc)) from None
    failed = 0

    def seen(item: BatchApiItem) -> None:
        nonlocal failed
        failed += not item.ok

    with ctx.endpoint(waits=True, status_line=False) as endpoint:
        results = endpoint.map(
            read_inputs(source),
            via="batch-api",
            journal=journal,
            replay=False,
            batch_size=args.batch_size,
        )
        target = ResultsFile(output, journal, endpoint.endpoint_id)
        try:
            target.drain(results, seen)
        finally:
            target.close()
    if not args.quiet:
        ctx.output.note(
            f"{lines} lines through the Batch Jobs API: {target.written} results written "
            f"now, {failed} not COMPLETED"
        )
    return EXIT_OK if failed == 0 else EXIT_FAILED
