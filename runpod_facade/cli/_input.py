"""Job input and per-job options from the command line: ``--input JSON``, ``--input-file PATH``
(``-`` for stdin), or JSON piped on stdin, and ``--input-as-is``; ``--policy-execution-timeout``,
``--ttl``, ``--low-priority``."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from .._options import ExecutionPolicy, Input, is_request_body
from ._errors import UsageError

__all__ = ["has_input", "policy_from", "read_input"]


def _parse_json(text: str, source: str) -> Any:
    if not text.strip():
        raise UsageError(f'{source} is empty; expected JSON such as \'{{"prompt": "hi"}}\'')
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(f"{source} is not valid JSON: {exc}") from None


def _read_stdin() -> str:
    try:
        return sys.stdin.read()
    except (OSError, ValueError) as exc:
        raise UsageError(f"could not read the job input from stdin: {exc}") from None


def _stdin_is_tty() -> bool:
    # A person at a terminal has not piped anything: never block reading their keyboard.
    try:
        return sys.stdin is None or sys.stdin.isatty()
    except (OSError, ValueError):
        return True


def has_input(args: argparse.Namespace) -> bool:
    """Whether job input was given (an option, or something piped on stdin)."""
    return args.input is not None or args.input_file is not None or not _stdin_is_tty()


def read_input(args: argparse.Namespace) -> Any:
    """The job input, parsed from JSON; a :class:`UsageError` says what is wrong with it.

    ``{"input": ...}`` is refused, naming ``--input-as-is``, unless that flag is given: then
    the value is sent as it is (wrapped in :class:`~runpod_facade.Input`)."""
    value, source = _read_json(args)
    if getattr(args, "input_as_is", False):
        return Input(value)
    if is_request_body(value):
        raise UsageError(
            f'{source} is {{"input": ...}}, a whole request body: the job input is already '
            'sent as the request\'s "input", so the worker would receive '
            '{"input": {"input": ...}}. Give only the inner value, or pass --input-as-is '
            "to send it as it is"
        )
    return value


def _read_json(args: argparse.Namespace) -> tuple[Any, str]:
    """The parsed job input and where it came from (for messages)."""
    if args.input is not None:
        return _parse_json(args.input, "--input"), "--input"
    if args.input_file is not None:
        if args.input_file == "-":
            return _parse_json(_read_stdin(), "stdin"), "stdin"
        source = f"--input-file {args.input_file!r}"
        try:
            with open(args.input_file, encoding="utf-8") as handle:
                text = handle.read()
        except OSError as exc:
            raise UsageError(f"cannot read --input-file: {exc.strerror or exc}") from None
        except UnicodeDecodeError:
            raise UsageError(f"{source} is not UTF-8 text") from None
        return _parse_json(text, source), source
    if not _stdin_is_tty():
        return _parse_json(_read_stdin(), "stdin"), "stdin"
    raise UsageError(
        "no job input: pass --input JSON, --input-file PATH, or pipe JSON on stdin "
        "(use --input '{}' for a handler that takes none)"
    )


def policy_from(args: argparse.Namespace) -> ExecutionPolicy | None:
    """The execution policy the options ask for, or ``None`` for the endpoint's defaults."""
    if args.policy_execution_timeout is None and args.ttl is None and not args.low_priority:
        return None
    return ExecutionPolicy(
        execution_timeout=args.policy_execution_timeout,
        ttl=args.ttl,
        low_priority=True if args.low_priority else None,
    )
