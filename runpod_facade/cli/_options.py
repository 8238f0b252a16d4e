"""The pieces every command's parser is built from: the parser class, the string argument
type, the global options, the shared option groups, and :func:`add_command` (the numeric
types are in :mod:`._numbers`)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TYPE_CHECKING, NoReturn

from .._config import ENV_API_KEY, ENV_BASE_URL, ENV_ENDPOINT_ID
from .._loadbalancing.settings import DEFAULT_LB_BASE_URL, DEFAULT_LB_TIMEOUT, ENV_LB_BASE_URL
from .._logging import redact
from ._exit import EXIT_USAGE, exit_code_table
from ._numbers import execution_timeout, retries, ttl, wait_seconds

if TYPE_CHECKING:
    from ._context import Context

    Subparsers = argparse._SubParsersAction[argparse.ArgumentParser]

__all__ = [
    "EPILOG",
    "CliParser",
    "Command",
    "add_command",
    "add_global_options",
    "add_input_options",
    "add_job_options",
    "add_wait_options",
    "non_empty",
]

#: What a command does with its run's :class:`Context`; returns the exit code.
Command = Callable[["Context"], int]

EPILOG = (
    f"""\
environment:
  {ENV_ENDPOINT_ID}   endpoint id (or --endpoint-id)
  {ENV_API_KEY}       API key (or --api-key; the environment is safer)
  {ENV_BASE_URL}      API base URL (default https://api.runpod.ai/v2)

"""
    + exit_code_table()
    + """
examples:
  export RUNPOD_ENDPOINT_ID=... RUNPOD_API_KEY=...
  runpod-facade run-sync --input '{"prompt": "hello"}'
  echo '{"prompt": "hello"}' | runpod-facade run --wait --json
  runpod-facade stream --input '{"prompt": "hello"}'
  runpod-facade serve my_handler.py --port 8000
"""
)


class CliParser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one masked line (and exit 2)."""

    def error(self, message: str) -> NoReturn:
        """Print ``error: …`` (secrets masked) and exit 2."""
        self.exit(EXIT_USAGE, redact(f"error: {message} (see '{self.prog} --help')\n"))


# --- argument types ---------------------------------------------------------------------


def non_empty(env_name: str | None) -> Callable[[str], str]:
    """A string option that must not be blank: an empty ``--endpoint-id ""`` is a mistake
    (an unset variable in a script), never a request to use ``env_name`` instead."""

    def check(text: str) -> str:
        if not text.strip():
            hint = f"; leave the option out to use ${env_name}" if env_name else ""
            raise argparse.ArgumentTypeError(f"must not be empty{hint}")
        return text

    return check


# --- option groups ----------------------------------------------------------------------


def add_global_options(
    parser: argparse.ArgumentParser, *, suppress: bool, load_balancing: bool = False
) -> None:
    """The options every API command takes. On subcommands their default is SUPPRESS, so a
    value given before the subcommand is not overwritten by the subcommand's default.
    ``load_balancing``: the ``lb`` commands, whose URL and deadline are not the queue API's."""

    def default(value: object) -> object:
        return argparse.SUPPRESS if suppress else value

    group = parser.add_argument_group("global options")
    group.add_argument(
        "--endpoint-id",
        metavar="ID",
        type=non_empty(ENV_ENDPOINT_ID),
        default=default(None),
        help=f"endpoint id (default: ${ENV_ENDPOINT_ID})",
    )
    group.add_argument(
        "--api-key",
        metavar="KEY",
        type=non_empty(ENV_API_KEY),
        default=default(None),
        help=f"API key (default: ${ENV_API_KEY}, which is safer: command lines are visible)",
    )
    if load_balancing:
        base_env = ENV_LB_BASE_URL
        base_url = DEFAULT_LB_BASE_URL.replace("{endpoint_id}", "ENDPOINT_ID")
        timeout = (
            f"a call's deadline, cold start included (default {DEFAULT_LB_TIMEOUT:g}; exit 7 "
            "when it passes); for wait-ready, how long to wait (default 120; exit 5)"
        )
    else:
        base_env, base_url = ENV_BASE_URL, "https://api.runpod.ai/v2"
        timeout = (
            "give up waiting after this long (exit 5; the job goes on); for commands that "
            "do not wait, the HTTP request timeout"
        )
    group.add_argument(
        "--base-url",
        metavar="URL",
        type=non_empty(base_env),
        default=default(None),
        help=f"API base URL (default: ${base_env}, then {base_url})",
    )
    group.add_argument(
        "--timeout",
        metavar="SECONDS",
        type=wait_seconds,
        default=default(None),
        help=timeout,
    )
    group.add_argument(
        "--max-retries",
        metavar="N",
        type=retries,
        default=default(None),
        help="retries of a request on transient errors (0 to 100; default 3)",
    )
    group.add_argument(
        "--json",
        action="store_true",
        default=default(False),
        help="machine-readable JSON on stdout",
    )
    group.add_argument(
        "--debug",
        action="store_true",
        default=default(False),
        help="log HTTP activity and show tracebacks on stderr (the API key stays hidden)",
    )


def add_input_options(parser: argparse.ArgumentParser) -> None:
    """Job input (``--input``, ``--input-file``, stdin, ``--input-as-is``) and the per-job
    policy options."""
    group = parser.add_argument_group("job input and options")
    source = group.add_mutually_exclusive_group()
    source.add_argument("--input", metavar="JSON", help="the job input, as JSON")
    source.add_argument(
        "--input-file",
        metavar="PATH",
        help="read the job input (JSON) from a file; '-' reads stdin. Without --input or "
        "--input-file, JSON piped on stdin is used",
    )
    group.add_argument(
        "--input-as-is",
        action="store_true",
        help='send the job input exactly as given, even an object whose only key is "input" '
        '(refused otherwise: it is usually a whole request body, {"input": ...}, pasted where '
        "only the input belongs)",
    )
    _add_job_options(group, "this job", "the job does not")


def add_job_options(parser: argparse.ArgumentParser) -> None:
    """The per-job policy options and ``--webhook``, for a command whose input comes
    otherwise (``batch``: every job of the batch gets them)."""
    _add_job_options(parser.add_argument_group("job options"), "every job", "the jobs do not")


def _add_job_options(group: argparse._ArgumentGroup, jobs: str, they_do_not: str) -> None:
    group.add_argument(
        "--policy-execution-timeout",
        metavar="SECONDS",
        type=execution_timeout,
        help=f"server-side execution timeout of {jobs} (5 s to 7 days); past it a job "
        "ends TIMED_OUT",
    )
    group.add_argument(
        "--ttl",
        metavar="SECONDS",
        type=ttl,
        help=f"lifetime of {jobs} from submission, queue time included (10 s to 7 days)",
    )
    group.add_argument(
        "--low-priority",
        action="store_true",
        help=f"{they_do_not} make the endpoint scale up workers",
    )
    group.add_argument(
        "--webhook", metavar="URL", help="URL the platform POSTs the finished job to"
    )


def add_wait_options(parser: argparse.ArgumentParser) -> None:
    """Options of the commands that wait for a job to finish."""
    parser.add_argument(
        "--cancel-on-timeout",
        action="store_true",
        help="cancel the job when --timeout passes (default: leave it running)",
    )
    parser.add_argument(
        "--cancel-on-interrupt",
        action="store_true",
        help="cancel the job on Ctrl-C (default: leave it running and print how to resume); "
        "run-sync then submits with /run so the job id is known at once",
    )


def add_command(
    commands: Subparsers,
    name: str,
    run: Command,
    help: str,
    description: str | None = None,
    *,
    epilog: str = EPILOG,
    global_options: bool = True,
    load_balancing: bool = False,
) -> argparse.ArgumentParser:
    """A subcommand whose run calls ``run(context)``; with the global options unless told."""
    sub = commands.add_parser(
        name,
        help=help,
        description=description or help,
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub.set_defaults(run=run)
    if global_options:
        add_global_options(sub, suppress=True, load_balancing=load_balancing)
    return sub
