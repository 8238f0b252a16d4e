"""``stream``: print the chunks a generator handler yields, as they come."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from .._status import JobStatus
from ._context import Context
from ._errors import UsageError
from ._exit import EXIT_CANCELLED, EXIT_OK
from ._input import has_input, policy_from, read_input
from ._numbers import wait_seconds
from ._options import add_command, add_input_options
from ._output import Output

if TYPE_CHECKING:
    from ._options import Subparsers

__all__ = ["register"]

_END = object()


class _Printer:
    """Writes chunks one per line (JSON values as JSON), or text chunks back to back."""

    def __init__(self, out: Output, *, concat: bool) -> None:
        self.out = out
        self.concat = concat
        self.ends_with_newline = True

    def chunk(self, chunk: Any) -> None:
        out = self.out
        if out.as_json:
            out.json(chunk, indent=None)
        elif isinstance(chunk, str) and self.concat:
            out.write(chunk)
            if chunk:
                self.ends_with_newline = chunk.endswith("\n")
        elif isinstance(chunk, str):
            out.line(chunk)
        else:
            if not self.ends_with_newline:
                out.write("\n")
            out.line(json.dumps(chunk, ensure_ascii=False))
            self.ends_with_newline = True

    def finish(self) -> None:
        if not self.ends_with_newline:
            self.out.line()


def _stream(ctx: Context) -> int:
    args = ctx.args
    if args.job_id is not None and (args.input is not None or args.input_file is not None):
        raise UsageError("give either a JOB_ID to follow or job input to submit, not both")
    out = ctx.output
    with ctx.endpoint(waits=True) as endpoint:
        if args.job_id is not None:
            job = endpoint.job(args.job_id)
        elif has_input(args):
            job = endpoint.run(read_input(args), policy=policy_from(args), webhook=args.webhook)
            if not out.as_json:
                out.note(f"job {job.id} queued; streaming")
        else:
            raise UsageError(
                "nothing to stream: give a JOB_ID, or job input (--input JSON, --input-file "
                "PATH or stdin) to submit a new job"
            )
        ctx.job_id = job.id
        printer = _Printer(out, concat=args.concat)
        with job.stream(timeout=args.timeout, idle_timeout=args.idle_timeout) as chunks:
            iterator = iter(chunks)
            # The status line shows until the first chunk: from then on the chunks are the
            # progress, and stdout may share the terminal with it.
            with ctx.status_line(
                f"job {job.id}",
                detail="waiting for the first chunk",
                status_source=lambda: chunks.progress.status,
            ):
                first = next(iterator, _END)
            if first is not _END:
                printer.chunk(first)
                for chunk in iterator:
                    printer.chunk(chunk)
            status, count = chunks.status, chunks.progress.chunks
            final = chunks.progress.state
        if count == 0 and final is not None and final.output is not None:
            printer.chunk(final.output)  # a plain (non-generator) handler's whole result
        printer.finish()
        if not out.as_json:
            out.note(f"job {job.id} {status} ({count} chunk{'s' if count != 1 else ''})")
    if status == JobStatus.CANCELLED:
        out.error(f"job {job.id} was cancelled")
        return EXIT_CANCELLED
    return EXIT_OK


def register(commands: Subparsers) -> None:
    """Add ``stream`` to ``commands``."""
    stream = add_command(
        commands,
        "stream",
        _stream,
        "print a streaming job's chunks as they come",
        "Print the chunks a generator handler yields, as they arrive. Give a JOB_ID to "
        "follow an existing job, or job input to submit a new one first. With --json, one "
        "JSON value per line.",
    )
    stream.add_argument("job_id", metavar="JOB_ID", nargs="?")
    add_input_options(stream)
    stream.add_argument(
        "--concat",
        action="store_true",
        help="write text chunks back to back instead of one per line (token streams)",
    )
    stream.add_argument(
        "--idle-timeout",
        metavar="SECONDS",
        type=wait_seconds,
        help="give up when no chunk arrives for this long (exit 5)",
    )
