"""The command line's exit codes: one table, read by ``--help`` and by the tests.

The numbers are a stable interface for scripts: never renumber one, only add new ones.
"""

from __future__ import annotations

__all__ = [
    "EXIT_API_ERROR",
    "EXIT_CANCELLED",
    "EXIT_CODES",
    "EXIT_CONNECTION_ERROR",
    "EXIT_FAILED",
    "EXIT_INTERNAL_ERROR",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_STARTUP_FAILED",
    "EXIT_TIMED_OUT",
    "EXIT_USAGE",
    "EXIT_WAIT_TIMEOUT",
    "exit_code_table",
]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_CANCELLED = 3
EXIT_TIMED_OUT = 4
EXIT_WAIT_TIMEOUT = 5
EXIT_API_ERROR = 6
EXIT_CONNECTION_ERROR = 7
EXIT_INTERNAL_ERROR = 8
EXIT_STARTUP_FAILED = 9
EXIT_INTERRUPTED = 130

#: Every exit code with its meaning, in the order ``--help`` lists them.
EXIT_CODES: tuple[tuple[int, str], ...] = (
    (EXIT_OK, "success; for commands that wait, the job COMPLETED"),
    (EXIT_FAILED, "the job FAILED"),
    (EXIT_USAGE, "usage error or bad input (invalid JSON, missing endpoint id, bad option)"),
    (EXIT_CANCELLED, "the job was CANCELLED"),
    (EXIT_TIMED_OUT, "the job TIMED_OUT on the server (execution timeout or TTL)"),
    (
        EXIT_WAIT_TIMEOUT,
        "--timeout passed before the job finished (the job goes on; its id is printed)",
    ),
    (EXIT_API_ERROR, "the API answered with an HTTP error"),
    (EXIT_CONNECTION_ERROR, "no answer from the API (connection refused, DNS, network timeout)"),
    (EXIT_INTERNAL_ERROR, "unexpected internal error (rerun with --debug and report it)"),
    (EXIT_STARTUP_FAILED, "serve could not start (port already in use, address not available)"),
    (EXIT_INTERRUPTED, "interrupted (Ctrl-C)"),
)


def exit_code_table(codes: tuple[int, ...] | None = None) -> str:
    """The ``exit codes:`` block of an epilog, for all codes or only ``codes``."""
    lines = ["exit codes:"]
    for code, meaning in EXIT_CODES:
        if codes is None or code in codes:
            lines.append(f"  {code:<4} {meaning}")
    return "\n".join(lines) + "\n"
