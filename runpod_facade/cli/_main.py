"""``main()``: parse, run one command, turn what happened into an exit code."""

from __future__ import annotations

import contextlib
import os
import sys
import traceback

from .._exceptions import JobError
from ._context import Context
from ._errors import UsageError, report
from ._exit import EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE
from ._logs import debug_logging, register_secrets
from ._output import Output
from ._parser import build_parser

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    """Run the command line with ``argv`` (default ``sys.argv[1:]``); returns the exit code
    (see :mod:`runpod_facade.cli`)."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    register_secrets(arguments)
    try:
        args = build_parser().parse_args(arguments)
    except SystemExit as exc:  # --help, --version, or a usage error already printed
        code = exc.code
        return code if isinstance(code, int) else (EXIT_OK if code is None else EXIT_USAGE)
    output = Output(as_json=bool(getattr(args, "json", False)))
    ctx = Context(args, output)
    try:
        with debug_logging(ctx.debug):
            status: int = args.run(ctx)
            return status
    except KeyboardInterrupt as exc:
        with contextlib.suppress(OSError, ValueError):
            sys.stderr.write("\n")  # end the line the terminal echoed ^C on
        ctx.interrupted(exc)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader went away (e.g. `| head`): stop quietly, and keep Python's exit flush
        # from failing again on the closed stdout.
        with contextlib.suppress(OSError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        return EXIT_OK
    except Exception as exc:
        # A job's own failure shows the worker's traceback (see report()); the CLI's stack
        # would only say where it noticed.
        if ctx.debug and not isinstance(exc, UsageError | JobError):
            output.note("".join(traceback.format_exception(exc)).rstrip())
        return report(exc, output, command=args.command, debug=ctx.debug)
