"""From an exception to one line on stderr and an exit code (see :mod:`._exit`).

The façade's :class:`InvalidInputError` messages name Python arguments (``api_key=``,
``base_url``); :func:`cli_terms` rewrites them to the command line's flags at this boundary.
"""

from __future__ import annotations

import re

from .._config import ENV_API_KEY
from .._exceptions import (
    APIConnectionError,
    APIError,
    AuthenticationError,
    InvalidInputError,
    JobCancelled,
    JobError,
    JobFailed,
    JobTimedOut,
    PermissionDeniedError,
    RunpodError,
    WaitTimeout,
)
from .._types import JobState
from ._exit import (
    EXIT_API_ERROR,
    EXIT_CANCELLED,
    EXIT_CONNECTION_ERROR,
    EXIT_FAILED,
    EXIT_INTERNAL_ERROR,
    EXIT_STARTUP_FAILED,
    EXIT_TIMED_OUT,
    EXIT_USAGE,
    EXIT_WAIT_TIMEOUT,
)
from ._output import Output, state_json

__all__ = ["PROG", "StartupError", "UsageError", "cli_terms", "report"]

PROG = "runpod-facade"


class UsageError(Exception):
    """A bad command line or bad input, found after argument parsing (exit 2)."""


class StartupError(Exception):
    """``serve`` could not start: the port is taken, the address is not available (exit 9)."""


# Whole phrases first: they hold Python syntax (a call, a keyword) that has no flag form.
_PHRASES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"pass it as Endpoint\('ENDPOINT_ID'\)"), "pass --endpoint-id"),
    # The CLI has no way to allow plain http:// to a remote host, and should not grow one.
    (re.compile(r",? or pass allow_insecure_http=True if you must"), ""),
)
# Python argument names, anywhere outside quoted values (`api_key=` included).
_NAMES = {
    "endpoint_id": "--endpoint-id",
    "api_key": "--api-key",
    "base_url": "--base-url",
    "max_retries": "--max-retries",
    "execution_timeout": "--policy-execution-timeout",
    "idle_timeout": "--idle-timeout",
    "low_priority": "--low-priority",
    "job_id": "JOB_ID",
}
_NAME = re.compile(r"(?<![\w-])(" + "|".join(_NAMES) + r")=?(?!\w)")
# Plain words are argument names only as the subject that starts a message.
_SUBJECTS = {
    "timeout": "--timeout",
    "ttl": "--ttl",
    "webhook": "--webhook",
    "input": "the job input",
}
_SUBJECT = re.compile(r"(^|; )(" + "|".join(_SUBJECTS) + r")(?= )")
# A quoted value ('…' as repr() writes it) is the user's text: never rewritten.
_QUOTED = re.compile(r"((?<![A-Za-z])'(?:[^'\\]|\\.)*')")


def cli_terms(message: str) -> str:
    """``message`` with the façade's Python argument names replaced by CLI flags."""
    for pattern, replacement in _PHRASES:
        message = pattern.sub(replacement, message)
    parts = _QUOTED.split(message)
    for index in range(0, len(parts), 2):  # even parts lie outside quotes
        part = _NAME.sub(lambda m: _NAMES[m.group(1)], parts[index])
        if index == 0:
            part = _SUBJECT.sub(lambda m: m.group(1) + _SUBJECTS[m.group(2)], part)
        parts[index] = part
    return "".join(parts)


def _job_error_code(exc: JobError) -> int:
    if isinstance(exc, JobCancelled):
        return EXIT_CANCELLED
    if isinstance(exc, JobTimedOut):
        return EXIT_TIMED_OUT
    return EXIT_FAILED


def report(exc: BaseException, out: Output, *, command: str, debug: bool) -> int:
    """Print one line for ``exc`` (plus a JSON state when one helps); return the exit code."""
    if isinstance(exc, UsageError | InvalidInputError):
        out.error(cli_terms(str(exc)))
        return EXIT_USAGE
    if isinstance(exc, StartupError):
        out.error(str(exc))
        return EXIT_STARTUP_FAILED
    # `stream --json` writes JSON lines: keep a final state on one line too.
    indent = None if command == "stream" else 2
    if isinstance(exc, JobError):
        if out.as_json:
            out.json(state_json(exc.state), indent=indent)
        elif isinstance(exc, JobFailed) and debug and exc.error_details:
            trace = exc.error_details.get("error_traceback")
            if isinstance(trace, str):
                out.note(trace.rstrip())
        out.error(str(exc))
        if isinstance(exc, JobFailed | JobTimedOut):
            out.note(f"requeue it with: {PROG} retry {exc.state.id}")
        return _job_error_code(exc)
    if isinstance(exc, WaitTimeout):
        if out.as_json:
            last = exc.last_state
            state = last if last is not None else JobState(id=exc.job_id or "", status="UNKNOWN")
            out.json(state_json(state), indent=indent)
        out.error(str(exc))
        if not exc.cancelled:
            out.note(f"the job goes on; resume with: {PROG} wait {exc.job_id}")
        return EXIT_WAIT_TIMEOUT
    # A connection error is an APIError too (openai's tree): test for it first.
    if isinstance(exc, APIConnectionError):
        out.error(f"cannot reach the API: {exc}")
        return EXIT_CONNECTION_ERROR
    if isinstance(exc, APIError):
        out.error(str(exc))
        if isinstance(exc, AuthenticationError | PermissionDeniedError):
            out.note(f"check the API key (--api-key or ${ENV_API_KEY})")
        return EXIT_API_ERROR
    if isinstance(exc, RunpodError):
        out.error(str(exc))
        return EXIT_API_ERROR
    out.error(f"unexpected {type(exc).__name__}: {exc} (rerun with --debug for details)")
    return EXIT_INTERNAL_ERROR
