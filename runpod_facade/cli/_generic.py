"""A command for every operation of the spec that has a CLI name (``x-runpod-operation.cli``)
and no command written by hand: registered last, from the operation table, so adding such an
operation to the spec adds its command.

The command's arguments follow from the route, as the public method's do: ``JOB_ID`` when the
route has a job id, ``--input``/``--input-file`` when the operation takes a body; the global
``--timeout`` is the wait's deadline when the operation holds (long-polls), else the HTTP
request timeout. It calls the operation's public method and prints the reply as the API sent
it, as JSON; exit codes are those of every other command (0 whenever the API answered)."""

from __future__ import annotations

import argparse
from functools import partial
from typing import TYPE_CHECKING, Any

from .._types import JobState
from .._wire.requests import OPERATIONS, OperationInfo
from ._context import Context
from ._exit import EXIT_OK
from ._input import read_input
from ._options import add_command
from ._output import state_json

if TYPE_CHECKING:
    from ._options import Subparsers

__all__ = ["register"]


def _reply_json(value: Any) -> Any:
    """The reply as the API sent it (a job state as the other commands print it; a job
    handle's, for an operation that hands one back)."""
    value = getattr(value, "last_state", None) or value
    if isinstance(value, JobState):
        return state_json(value)
    to_dict = getattr(value, "to_dict", None)
    return to_dict() if callable(to_dict) else value


def _run(info: OperationInfo, ctx: Context) -> int:
    args = ctx.args
    positional: list[Any] = []
    if info.job_scoped:
        ctx.job_id = args.job_id
        positional.append(args.job_id)
    if info.has_body:
        positional.append(read_input(args))
    keywords = {"timeout": args.timeout} if info.holds else {}
    with ctx.endpoint(waits=info.holds, status_line=False) as endpoint:
        value = getattr(endpoint, info.python)(*positional, **keywords)
    ctx.output.json(_reply_json(value))
    return EXIT_OK


def _help(info: OperationInfo) -> str:
    text = info.summary.rstrip(".") or f"send {info.method} {info.path}"
    return text[:1].lower() + text[1:]


def register(commands: Subparsers) -> None:
    """Add a command for each operation with a CLI name that ``commands`` does not have yet
    (so this group registers after the hand-written ones)."""
    for info in OPERATIONS.values():
        if info.cli is None or info.cli in commands.choices:
            continue
        command = add_command(
            commands,
            info.cli,
            partial(_run, info),
            _help(info),
            f"{info.summary} ({info.method} {info.path}; the reply is printed as JSON.)",
        )
        if info.job_scoped:
            command.add_argument("job_id", metavar="JOB_ID")
        if info.has_body:
            _add_input(command)


def _add_input(command: argparse.ArgumentParser) -> None:
    source = command.add_argument_group("input").add_mutually_exclusive_group()
    source.add_argument("--input", metavar="JSON", help="the request's input, as JSON")
    source.add_argument(
        "--input-file", metavar="PATH", help="read the input (JSON) from a file; '-' reads stdin"
    )
