"""``runpod-facade``: run, watch and manage RunPod serverless jobs from a shell.

Usage (global options go before or after the subcommand)::

    runpod-facade [--endpoint-id ID] [--base-url URL] [--json] [--timeout S] COMMAND ...

    run          queue a job and print its id (--wait to wait for the result)
    run-sync     run a job and wait for its result
    status       print a job's current state
    wait         wait for a queued job and print its result
    stream       print the chunks a streaming (generator) handler yields, as they come
    cancel       cancel a queued or running job
    retry        requeue a FAILED or TIMED_OUT job (same id)
    health       job and worker counters of the endpoint
    purge-queue  remove every queued job (running jobs keep running)
    serve        serve a Python handler as a local RunPod-compatible endpoint

The endpoint id, API key and base URL come from ``--endpoint-id`` / ``--api-key`` /
``--base-url`` or from ``RUNPOD_ENDPOINT_ID`` / ``RUNPOD_API_KEY`` / ``RUNPOD_BASE_URL``.
Prefer the environment for the key: a command line is visible to other local users. The key
is never printed, not even with ``--debug``.

Job input is JSON from ``--input JSON``, ``--input-file PATH`` (``-`` for stdin), or piped
on stdin when neither is given.

Exit codes (stable, for scripts):

    0    success; for commands that wait, the job COMPLETED
    1    the job FAILED
    2    usage error or bad input (invalid JSON, missing endpoint id, bad option value)
    3    the job was CANCELLED
    4    the job TIMED_OUT on the server (execution timeout or TTL)
    5    --timeout passed before the job finished; the job goes on (its id is printed)
    6    the API answered with an HTTP error (401, 404, 429, 5xx ...)
    7    no answer from the API (connection refused, DNS, network timeout)
    8    unexpected internal error (a bug: rerun with --debug and report it)
    130  interrupted (Ctrl-C)

``status``, ``cancel`` and ``retry`` (without ``--wait``) exit 0 whenever the API answered,
whatever state the job is in.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import logging
import os
import shutil
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from datetime import timedelta
from typing import IO, Any, NoReturn

from ._client import Endpoint, Job
from ._errors import (
    APIConnectionError,
    APIError,
    InvalidInputError,
    JobCancelled,
    JobError,
    JobFailed,
    JobTimedOut,
    RunpodError,
    WaitTimeout,
)
from ._options import ExecutionPolicy
from ._retry import PollPolicy
from ._status import JobStatus
from ._types import Health, JobState, PurgeResult
from ._version import __version__

__all__ = [
    "EXIT_API_ERROR",
    "EXIT_CANCELLED",
    "EXIT_CONNECTION_ERROR",
    "EXIT_FAILED",
    "EXIT_INTERNAL_ERROR",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_TIMED_OUT",
    "EXIT_USAGE",
    "EXIT_WAIT_TIMEOUT",
    "build_parser",
    "main",
]

PROG = "runpod-facade"

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_CANCELLED = 3
EXIT_TIMED_OUT = 4
EXIT_WAIT_TIMEOUT = 5
EXIT_API_ERROR = 6
EXIT_CONNECTION_ERROR = 7
EXIT_INTERNAL_ERROR = 8
EXIT_INTERRUPTED = 130

ENV_ENDPOINT_ID = "RUNPOD_ENDPOINT_ID"
ENV_API_KEY = "RUNPOD_API_KEY"
ENV_BASE_URL = "RUNPOD_BASE_URL"

_EPILOG = """\
environment:
  RUNPOD_ENDPOINT_ID   endpoint id (or --endpoint-id)
  RUNPOD_API_KEY       API key (or --api-key; the environment is safer)
  RUNPOD_BASE_URL      API base URL (default https://api.runpod.ai/v2)

exit codes:
  0    success; for commands that wait, the job COMPLETED
  1    the job FAILED
  2    usage error or bad input (invalid JSON, missing endpoint id, bad option)
  3    the job was CANCELLED
  4    the job TIMED_OUT on the server (execution timeout or TTL)
  5    --timeout passed before the job finished (the job goes on; its id is printed)
  6    the API answered with an HTTP error
  7    no answer from the API (connection refused, DNS, network timeout)
  8    unexpected internal error (rerun with --debug and report it)
  130  interrupted (Ctrl-C)

examples:
  export RUNPOD_ENDPOINT_ID=... RUNPOD_API_KEY=...
  runpod-facade run-sync --input '{"prompt": "hello"}'
  echo '{"prompt": "hello"}' | runpod-facade run --wait --json
  runpod-facade stream --input '{"prompt": "hello"}'
  runpod-facade serve my_handler.py --port 8000
"""

_REDACTED = "<redacted>"
_DEFAULT_HTTP_TIMEOUT = 30.0
_INTERACTIVE_POLL = PollPolicy(initial=0.25, factor=1.5, maximum=2.0)


class UsageError(Exception):
    """A bad command line or bad input, found after argument parsing (exit 2)."""


class _Secrets:
    """Values that must never be printed (API keys), scrubbed from every error message."""

    def __init__(self) -> None:
        self._values: set[str] = set()

    def add(self, value: str | None) -> None:
        if value and len(value) >= 4:
            self._values.add(value)

    def scrub(self, text: str) -> str:
        for value in sorted(self._values, key=len, reverse=True):
            text = text.replace(value, _REDACTED)
        return text


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one scrubbed line (and exit 2)."""

    secrets: _Secrets | None = None

    def error(self, message: str) -> NoReturn:
        if self.secrets is not None:
            message = self.secrets.scrub(message)
        self.exit(EXIT_USAGE, f"error: {message} (see '{self.prog} --help')\n")


# --- argument types ---------------------------------------------------------------------


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds, got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {text!r}")
    return value


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected 0 or more, got {text!r}")
    return value


def _positive_int(text: str) -> int:
    value = _non_negative_int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected 1 or more, got {text!r}")
    return value


def _port(text: str) -> int:
    value = _non_negative_int(text)
    if value > 65535:
        raise argparse.ArgumentTypeError(f"expected a port number (0-65535), got {text!r}")
    return value


# --- the parser -------------------------------------------------------------------------


def _add_global_options(parser: argparse.ArgumentParser, *, suppress: bool) -> None:
    """The options every command takes. On subcommands their default is SUPPRESS, so a value
    given before the subcommand is not overwritten by the subcommand's default."""

    def default(value: object) -> object:
        return argparse.SUPPRESS if suppress else value

    group = parser.add_argument_group("global options")
    group.add_argument(
        "--endpoint-id",
        metavar="ID",
        default=default(None),
        help=f"endpoint id (default: ${ENV_ENDPOINT_ID})",
    )
    group.add_argument(
        "--api-key",
        metavar="KEY",
        default=default(None),
        help=f"API key (default: ${ENV_API_KEY}, which is safer: command lines are visible)",
    )
    group.add_argument(
        "--base-url",
        metavar="URL",
        default=default(None),
        help=f"API base URL (default: ${ENV_BASE_URL}, then https://api.runpod.ai/v2)",
    )
    group.add_argument(
        "--timeout",
        metavar="SECONDS",
        type=_positive_seconds,
        default=default(None),
        help="give up waiting after this long (exit 5; the job goes on); for commands that "
        "do not wait, the HTTP request timeout",
    )
    group.add_argument(
        "--max-retries",
        metavar="N",
        type=_non_negative_int,
        default=default(None),
        help="retries of a request on transient errors (default 3)",
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


def _add_input_options(parser: argparse.ArgumentParser) -> None:
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
        "--policy-execution-timeout",
        metavar="SECONDS",
        type=_positive_seconds,
        help="server-side execution timeout of this job (5 s to 7 days); past it the job "
        "ends TIMED_OUT",
    )
    group.add_argument(
        "--ttl",
        metavar="SECONDS",
        type=_positive_seconds,
        help="lifetime of the job from submission, queue time included (10 s to 7 days)",
    )
    group.add_argument(
        "--low-priority",
        action="store_true",
        help="the job does not make the endpoint scale up workers",
    )
    group.add_argument(
        "--webhook", metavar="URL", help="URL the platform POSTs the finished job to"
    )


def _add_wait_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--cancel-on-timeout",
        action="store_true",
        help="cancel the job when --timeout passes (default: leave it running)",
    )


def build_parser() -> argparse.ArgumentParser:
    """The ``runpod-facade`` argument parser."""
    parser = _Parser(
        prog=PROG,
        description="Run and manage RunPod serverless jobs (runpod-facade "
        f"{__version__}). Input is JSON; --json makes the output JSON too.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    _add_global_options(parser, suppress=False)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    commands.required = True

    def command(name: str, help: str, description: str | None = None) -> argparse.ArgumentParser:
        sub = commands.add_parser(
            name,
            help=help,
            description=description or help,
            epilog=_EPILOG,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        _add_global_options(sub, suppress=True)
        return sub

    run = command(
        "run",
        "queue a job and print its id",
        "Queue a job (/run) and print its id and status. With --wait, wait for it and print "
        "its result, as run-sync does.",
    )
    _add_input_options(run)
    run.add_argument("--wait", action="store_true", help="wait for the result")
    run.add_argument(
        "-q", "--quiet", action="store_true", help="print only the job id (without --wait)"
    )
    _add_wait_options(run)

    run_sync = command(
        "run-sync",
        "run a job and wait for its result",
        "Run a job (/runsync, then long-polls) and print its result.",
    )
    _add_input_options(run_sync)
    _add_wait_options(run_sync)

    status = command("status", "print a job's current state")
    status.add_argument("job_id", metavar="JOB_ID")

    wait = command(
        "wait",
        "wait for a job and print its result",
        "Wait until the job finishes and print its result; the exit code tells how it ended.",
    )
    wait.add_argument("job_id", metavar="JOB_ID")
    _add_wait_options(wait)

    stream = command(
        "stream",
        "print a streaming job's chunks as they come",
        "Print the chunks a generator handler yields, as they arrive. Give a JOB_ID to "
        "follow an existing job, or job input to submit a new one first. With --json, one "
        "JSON value per line.",
    )
    stream.add_argument("job_id", metavar="JOB_ID", nargs="?")
    _add_input_options(stream)
    stream.add_argument(
        "--concat",
        action="store_true",
        help="write text chunks back to back instead of one per line (token streams)",
    )
    stream.add_argument(
        "--idle-timeout",
        metavar="SECONDS",
        type=_positive_seconds,
        help="give up when no chunk arrives for this long (exit 5)",
    )

    cancel = command("cancel", "cancel a queued or running job")
    cancel.add_argument("job_id", metavar="JOB_ID")

    retry = command(
        "retry",
        "requeue a FAILED or TIMED_OUT job",
        "Requeue a FAILED or TIMED_OUT job with its original input; the id stays the same.",
    )
    retry.add_argument("job_id", metavar="JOB_ID")
    retry.add_argument("--wait", action="store_true", help="wait for the result")
    _add_wait_options(retry)

    command("health", "print the endpoint's job and worker counters")
    command(
        "purge-queue",
        "remove every queued job",
        "Remove every queued job of the endpoint. Jobs already running keep running.",
    )

    serve = commands.add_parser(
        "serve",
        help="serve a handler as a local RunPod-compatible endpoint",
        description="Serve a Python handler as a local RunPod-compatible endpoint (needs "
        "pip install 'runpod-facade[local]'). HANDLER is 'module:function' or "
        "'path/to/file.py[:function]' (the function defaults to 'handler'). Point a client "
        "at http://HOST:PORT/v2 with any endpoint id. Ctrl-C stops it (exit 0).",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    serve.add_argument("handler", metavar="HANDLER")
    serve.add_argument("--host", default="127.0.0.1", help="interface (default 127.0.0.1)")
    serve.add_argument("--port", type=_port, default=8000, help="port (default 8000)")
    serve.add_argument(
        "--api-key",
        metavar="KEY",
        default=argparse.SUPPRESS,
        help="require this key as 'Authorization: Bearer KEY' (default: no auth)",
    )
    serve.add_argument(
        "--workers", type=_positive_int, default=1, help="jobs run concurrently (default 1)"
    )
    serve.add_argument(
        "--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks"
    )
    return parser


# --- input ------------------------------------------------------------------------------


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
    try:
        return sys.stdin is None or sys.stdin.isatty()
    except (OSError, ValueError):
        return True


def _has_input(args: argparse.Namespace) -> bool:
    return args.input is not None or args.input_file is not None or not _stdin_is_tty()


def _read_input(args: argparse.Namespace) -> Any:
    if args.input is not None:
        return _parse_json(args.input, "--input")
    if args.input_file is not None:
        if args.input_file == "-":
            return _parse_json(_read_stdin(), "stdin")
        try:
            with open(args.input_file, encoding="utf-8") as handle:
                text = handle.read()
        except OSError as exc:
            raise UsageError(f"cannot read --input-file: {exc.strerror or exc}") from None
        except UnicodeDecodeError:
            raise UsageError(f"--input-file {args.input_file!r} is not UTF-8 text") from None
        return _parse_json(text, f"--input-file {args.input_file!r}")
    if not _stdin_is_tty():
        return _parse_json(_read_stdin(), "stdin")
    raise UsageError(
        "no job input: pass --input JSON, --input-file PATH, or pipe JSON on stdin "
        "(use --input '{}' for a handler that takes none)"
    )


def _policy(args: argparse.Namespace) -> ExecutionPolicy | None:
    if args.policy_execution_timeout is None and args.ttl is None and not args.low_priority:
        return None
    return ExecutionPolicy(
        execution_timeout=args.policy_execution_timeout,
        ttl=args.ttl,
        low_priority=True if args.low_priority else None,
    )


# --- output -----------------------------------------------------------------------------


def _seconds(value: timedelta | None) -> str | None:
    if value is None:
        return None
    seconds = value.total_seconds()
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.1f} s"


def _state_json(state: JobState) -> dict[str, Any]:
    """The state as the API reported it (camelCase wire fields, unknown fields kept)."""
    data = dict(state.raw)
    data.pop("stream", None)  # a /stream reply's chunk list is not part of the job's state
    data["id"] = state.id
    data["status"] = str(state.status)
    return data


def _headline(state: JobState) -> str:
    line = f"job {state.id} {state.status}"
    run = _seconds(state.execution_time)
    queue = _seconds(state.delay_time)
    if run is not None and state.is_terminal:
        line += f" in {run}"
    if queue is not None:
        line += f" (queue {queue})"
    return line


def _pretty(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, indent=2, ensure_ascii=False)


def _compact(value: Any, limit: int = 60) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


class _Output:
    """Where results go: stdout (human or JSON), stderr for notes and errors."""

    def __init__(self, *, as_json: bool, secrets: _Secrets) -> None:
        self.as_json = as_json
        self.secrets = secrets

    @property
    def out(self) -> IO[str]:
        return sys.stdout

    @property
    def err(self) -> IO[str]:
        return sys.stderr

    def json(self, value: Any, *, indent: int | None = 2) -> None:
        self.out.write(json.dumps(value, indent=indent, ensure_ascii=False) + "\n")
        self.out.flush()

    def line(self, text: str = "") -> None:
        self.out.write(text + "\n")
        self.out.flush()

    def note(self, text: str) -> None:
        """A remark for the human (stderr, so stdout stays clean for pipes)."""
        self.err.write(self.secrets.scrub(text) + "\n")
        self.err.flush()

    def error(self, text: str) -> None:
        self.err.write("error: " + self.secrets.scrub(text) + "\n")
        self.err.flush()

    def state(self, state: JobState) -> None:
        """A job state: headline then output (or error), or the state as JSON."""
        if self.as_json:
            self.json(_state_json(state))
            return
        self.line(_headline(state))
        if state.error:
            self.line(_pretty(state.error_details or state.error))
        if state.output is not None:
            self.line(_pretty(state.output))


class _StatusLine:
    """A live ``job … IN_QUEUE 3.2 s`` line on stderr while waiting, only when it is a TTY."""

    _FRAMES = "|/-\\"

    def __init__(self, label: str, *, interval: float = 0.2) -> None:
        self.label = label
        self.interval = interval
        self.status: str = "waiting"
        self.detail: str = ""
        self._stream = sys.stderr
        self._enabled = _isatty(self._stream)
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._started = time.monotonic()

    def update(self, state: JobState) -> None:
        with self._lock:
            self.label = f"job {state.id}"
            self.status = str(state.status)
            if state.status == JobStatus.IN_PROGRESS and state.output is not None:
                self.detail = f"progress {_compact(state.output)}"
            elif state.status == JobStatus.IN_QUEUE:
                self.detail = "waiting for a worker"
            else:
                self.detail = ""
        if self._enabled:
            self._render()

    def _render(self) -> None:
        with self._lock:
            elapsed = time.monotonic() - self._started
            frame = self._FRAMES[int(elapsed / self.interval) % len(self._FRAMES)]
            # Most telling first: a narrow terminal cuts the job id (printed already), not this.
            text = f"{frame} {elapsed:5.1f} s  {self.status}"
            if self.detail:
                text += f" · {self.detail}"
            text += f"  [{self.label}]"
            width = shutil.get_terminal_size((80, 24)).columns - 1
            if len(text) > width > 0:
                text = text[: width - 1] + "…"
            with contextlib.suppress(OSError, ValueError):
                self._stream.write("\r" + text + "\x1b[K")
                self._stream.flush()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._render()

    def __enter__(self) -> _StatusLine:
        if self._enabled:
            self._render()
            self._thread = threading.Thread(target=self._run, name="status-line", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
        if self._enabled:
            with contextlib.suppress(OSError, ValueError):
                self._stream.write("\r\x1b[K")
                self._stream.flush()


def _isatty(stream: IO[str] | None) -> bool:
    try:
        return stream is not None and stream.isatty()
    except (OSError, ValueError):
        return False


# --- commands ---------------------------------------------------------------------------


class _Context:
    def __init__(self, args: argparse.Namespace, output: _Output) -> None:
        self.args = args
        self.output = output
        # The job being worked on, so an interrupt or a timeout can say how to resume.
        self.job_id: str | None = None

    def endpoint(self, *, waits: bool) -> Endpoint:
        args = self.args
        endpoint_id = args.endpoint_id or os.environ.get(ENV_ENDPOINT_ID)
        if not endpoint_id:
            raise UsageError(f"no endpoint id: pass --endpoint-id or set {ENV_ENDPOINT_ID}")
        timeout = _DEFAULT_HTTP_TIMEOUT
        if args.timeout is not None and not waits:
            timeout = args.timeout
        kwargs: dict[str, Any] = {}
        if args.max_retries is not None:
            kwargs["max_retries"] = args.max_retries
        if waits and _isatty(sys.stderr):
            # Someone is watching the status line: poll /status so progress updates show
            # (the /status-sync long-poll only answers when the job ends).
            kwargs["long_poll"] = False
            kwargs["poll_policy"] = _INTERACTIVE_POLL
        return Endpoint(
            endpoint_id,
            api_key=args.api_key,
            base_url=args.base_url,
            timeout=timeout,
            **kwargs,
        )

    def wait(self, job: Job) -> JobState:
        self.job_id = job.id
        with _StatusLine(f"job {job.id}") as line:
            if job.last_state is not None:
                line.update(job.last_state)
            return job.wait_state(
                self.args.timeout,
                cancel_on_timeout=self.args.cancel_on_timeout,
                on_status=line.update,
            )


def _cmd_run(ctx: _Context) -> int:
    args = ctx.args
    payload = _read_input(args)
    policy = _policy(args)
    with ctx.endpoint(waits=args.wait) as endpoint:
        job = endpoint.run(payload, policy=policy, webhook=args.webhook)
        ctx.job_id = job.id
        if not args.wait:
            state = job.last_state or JobState(id=job.id, status=JobStatus.IN_QUEUE)
            if args.quiet:
                ctx.output.line(job.id)
            elif ctx.output.as_json:
                ctx.output.json(_state_json(state))
            else:
                ctx.output.line(_headline(state))
                ctx.output.note(f"wait for it with: {PROG} wait {job.id}")
            return EXIT_OK
        if not ctx.output.as_json:
            ctx.output.note(f"job {job.id} queued")
        ctx.output.state(ctx.wait(job))
    return EXIT_OK


def _cmd_run_sync(ctx: _Context) -> int:
    args = ctx.args
    payload = _read_input(args)
    policy = _policy(args)
    line = _StatusLine("run-sync")
    line.status = "submitted, waiting for the result"
    with ctx.endpoint(waits=True) as endpoint, line:
        state = endpoint.run_sync(
            payload,
            timeout=args.timeout,
            policy=policy,
            webhook=args.webhook,
            cancel_on_timeout=args.cancel_on_timeout,
        )
    ctx.output.state(state)
    return EXIT_OK


def _cmd_status(ctx: _Context) -> int:
    with ctx.endpoint(waits=False) as endpoint:
        state = endpoint.status(ctx.args.job_id)
    ctx.output.state(state)
    return EXIT_OK


def _cmd_wait(ctx: _Context) -> int:
    with ctx.endpoint(waits=True) as endpoint:
        ctx.output.state(ctx.wait(endpoint.job(ctx.args.job_id)))
    return EXIT_OK


def _cmd_stream(ctx: _Context) -> int:
    args = ctx.args
    if args.job_id is not None and (args.input is not None or args.input_file is not None):
        raise UsageError("give either a JOB_ID to follow or job input to submit, not both")
    out = ctx.output
    with ctx.endpoint(waits=True) as endpoint:
        if args.job_id is not None:
            job = endpoint.job(args.job_id)
        elif _has_input(args):
            job = endpoint.run(_read_input(args), policy=_policy(args), webhook=args.webhook)
            if not out.as_json:
                out.note(f"job {job.id} queued; streaming")
        else:
            raise UsageError(
                "nothing to stream: give a JOB_ID, or job input (--input JSON, --input-file "
                "PATH or stdin) to submit a new job"
            )
        ctx.job_id = job.id
        ends_with_newline = True
        with job.stream(args.timeout, idle_timeout=args.idle_timeout) as chunks:
            for chunk in chunks:
                if out.as_json:
                    out.json(chunk, indent=None)
                elif isinstance(chunk, str) and args.concat:
                    out.out.write(chunk)
                    out.out.flush()
                    ends_with_newline = chunk.endswith("\n") if chunk else ends_with_newline
                elif isinstance(chunk, str):
                    out.line(chunk)
                else:
                    if not ends_with_newline:
                        out.out.write("\n")
                    out.line(json.dumps(chunk, ensure_ascii=False))
                    ends_with_newline = True
            status = chunks.status
            count = chunks.progress.chunks
        if not ends_with_newline:
            out.line()
        if not out.as_json:
            out.note(f"job {job.id} {status} ({count} chunk{'s' if count != 1 else ''})")
    if status == JobStatus.CANCELLED:
        out.error(f"job {job.id} was cancelled")
        return EXIT_CANCELLED
    return EXIT_OK


def _cmd_cancel(ctx: _Context) -> int:
    with ctx.endpoint(waits=False) as endpoint:
        state = endpoint.cancel(ctx.args.job_id)
    ctx.output.state(state)
    return EXIT_OK


def _cmd_retry(ctx: _Context) -> int:
    args = ctx.args
    with ctx.endpoint(waits=args.wait) as endpoint:
        job = endpoint.retry(args.job_id)
        ctx.job_id = job.id
        if not args.wait:
            state = job.last_state or JobState(id=job.id, status=JobStatus.IN_QUEUE)
            if ctx.output.as_json:
                ctx.output.json(_state_json(state))
            else:
                ctx.output.line(f"{_headline(state)} (requeued)")
            return EXIT_OK
        ctx.output.state(ctx.wait(job))
    return EXIT_OK


def _health_json(health: Health) -> dict[str, Any]:
    jobs, workers = health.jobs, health.workers
    return {
        "jobs": {
            "completed": jobs.completed,
            "failed": jobs.failed,
            "inProgress": jobs.in_progress,
            "inQueue": jobs.in_queue,
            "retried": jobs.retried,
        },
        "workers": {
            "idle": workers.idle,
            "initializing": workers.initializing,
            "ready": workers.ready,
            "running": workers.running,
            "throttled": workers.throttled,
            "unhealthy": workers.unhealthy,
        },
    }


def _cmd_health(ctx: _Context) -> int:
    with ctx.endpoint(waits=False) as endpoint:
        health = endpoint.health()
        endpoint_id = endpoint.endpoint_id
    if ctx.output.as_json:
        ctx.output.json(_health_json(health))
        return EXIT_OK
    jobs, workers = health.jobs, health.workers
    ctx.output.line(f"endpoint {endpoint_id}")
    ctx.output.line(
        f"  workers: {workers.ready} ready, {workers.idle} idle, {workers.running} running, "
        f"{workers.initializing} initializing, {workers.throttled} throttled, "
        f"{workers.unhealthy} unhealthy"
    )
    ctx.output.line(
        f"  jobs:    {jobs.in_queue} in queue, {jobs.in_progress} in progress, "
        f"{jobs.completed} completed, {jobs.failed} failed, {jobs.retried} retried"
    )
    return EXIT_OK


def _cmd_purge_queue(ctx: _Context) -> int:
    with ctx.endpoint(waits=False) as endpoint:
        result: PurgeResult = endpoint.purge_queue()
    if ctx.output.as_json:
        ctx.output.json({"removed": result.removed, "status": result.status})
    else:
        plural = "" if result.removed == 1 else "s"
        ctx.output.line(f"removed {result.removed} queued job{plural} ({result.status})")
    return EXIT_OK


def _cmd_serve(ctx: _Context) -> int:
    args = ctx.args
    missing = [name for name in ("starlette", "uvicorn") if importlib.util.find_spec(name) is None]
    if missing:
        ctx.output.error(f"serve needs {' and '.join(missing)}: pip install 'runpod-facade[local]'")
        return EXIT_USAGE
    from .local import load_handler, serve

    try:
        handler = load_handler(args.handler)
    except Exception as exc:  # any import-time error of the user's module is a bad HANDLER
        if getattr(args, "debug", False):
            traceback.print_exc()
        raise UsageError(
            f"cannot load handler {args.handler!r}: {type(exc).__name__}: {exc}"
        ) from None
    api_key = getattr(args, "api_key", None)
    host = f"[{args.host}]" if ":" in args.host else args.host
    ctx.output.note(
        f"serving {args.handler} at http://{host}:{args.port}/v2/<any-endpoint-id>/… "
        f"({args.workers} worker{'s' if args.workers != 1 else ''}, "
        f"auth {'on' if api_key else 'off'}); Ctrl-C stops"
    )
    # uvicorn re-raises the Ctrl-C it shut down on; stopping the server is not an error.
    with contextlib.suppress(KeyboardInterrupt):
        serve(handler, host=args.host, port=args.port, api_key=api_key, workers=args.workers)
    ctx.output.note("server stopped")
    return EXIT_OK


_COMMANDS: dict[str, Callable[[_Context], int]] = {
    "run": _cmd_run,
    "run-sync": _cmd_run_sync,
    "status": _cmd_status,
    "wait": _cmd_wait,
    "stream": _cmd_stream,
    "cancel": _cmd_cancel,
    "retry": _cmd_retry,
    "health": _cmd_health,
    "purge-queue": _cmd_purge_queue,
    "serve": _cmd_serve,
}


# --- errors -----------------------------------------------------------------------------


def _job_error_code(exc: JobError) -> int:
    if isinstance(exc, JobFailed):
        return EXIT_FAILED
    if isinstance(exc, JobCancelled):
        return EXIT_CANCELLED
    if isinstance(exc, JobTimedOut):
        return EXIT_TIMED_OUT
    return EXIT_FAILED


def _report(ctx: _Context, exc: BaseException) -> int:
    """Print one line for ``exc`` (plus a JSON state when one helps) and pick the exit code."""
    out = ctx.output
    if isinstance(exc, UsageError | InvalidInputError):
        out.error(str(exc))
        return EXIT_USAGE
    # `stream --json` writes JSON lines: keep a final state on one line too.
    indent = None if ctx.args.command == "stream" else 2
    if isinstance(exc, JobError):
        if out.as_json:
            out.json(_state_json(exc.state), indent=indent)
        elif isinstance(exc, JobFailed) and ctx.args.debug and exc.error_details:
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
            out.json(_state_json(state), indent=indent)
        out.error(str(exc))
        if not exc.cancelled:
            out.note(f"the job goes on; resume with: {PROG} wait {exc.job_id}")
        return EXIT_WAIT_TIMEOUT
    if isinstance(exc, APIError):
        out.error(str(exc))
        if exc.status_code in (401, 403):
            out.note(f"check the API key (--api-key or ${ENV_API_KEY})")
        return EXIT_API_ERROR
    if isinstance(exc, APIConnectionError):
        out.error(f"cannot reach the API: {exc}")
        return EXIT_CONNECTION_ERROR
    if isinstance(exc, RunpodError):
        out.error(str(exc))
        return EXIT_API_ERROR
    out.error(f"unexpected {type(exc).__name__}: {exc} (rerun with --debug for details)")
    return EXIT_INTERNAL_ERROR


@contextlib.contextmanager
def _debug_logging(enabled: bool, secrets: _Secrets) -> Iterator[None]:
    """With --debug, the SDK's log records go to stderr (secrets masked) for this call."""
    if not enabled:
        yield
        return

    class _Scrub(logging.Filter):
        def filter(self, record: logging.LogRecord) -> bool:
            message = record.getMessage()
            cleaned = secrets.scrub(message)
            if cleaned != message:
                record.msg, record.args = cleaned, None
            return True

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("debug: %(name)s: %(message)s"))
    handler.addFilter(_Scrub())
    loggers = [logging.getLogger("runpod_facade"), logging.getLogger("httpx")]
    previous = [lg.level for lg in loggers]
    for lg in loggers:
        lg.addHandler(handler)
        lg.setLevel(logging.DEBUG)
    try:
        yield
    finally:
        for lg, level in zip(loggers, previous, strict=True):
            lg.removeHandler(handler)
            lg.setLevel(level)


def _collect_secrets(argv: Sequence[str]) -> _Secrets:
    secrets = _Secrets()
    secrets.add(os.environ.get(ENV_API_KEY))
    for index, arg in enumerate(argv):
        if arg == "--api-key" and index + 1 < len(argv):
            secrets.add(argv[index + 1])
        elif arg.startswith("--api-key="):
            secrets.add(arg.partition("=")[2])
    return secrets


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit code (see the module docstring)."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    secrets = _collect_secrets(arguments)
    _Parser.secrets = secrets
    parser = build_parser()
    try:
        args = parser.parse_args(arguments)
    except SystemExit as exc:
        code = exc.code
        return code if isinstance(code, int) else (0 if code is None else EXIT_USAGE)
    finally:
        _Parser.secrets = None
    debug = bool(getattr(args, "debug", False))
    output = _Output(as_json=bool(getattr(args, "json", False)), secrets=secrets)
    ctx = _Context(args, output)
    try:
        with _debug_logging(debug, secrets):
            return _COMMANDS[args.command](ctx)
    except KeyboardInterrupt:
        with contextlib.suppress(OSError, ValueError):
            sys.stderr.write("\n")
        output.error("interrupted")
        if ctx.job_id is not None:
            output.note(
                f"job {ctx.job_id} may still be running: {PROG} wait {ctx.job_id} to resume, "
                f"{PROG} cancel {ctx.job_id} to stop it"
            )
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader went away (e.g. `| head`): stop quietly, and keep Python's exit flush
        # from failing again on the closed stdout.
        with contextlib.suppress(OSError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        return EXIT_OK
    except Exception as exc:
        if debug:
            output.note(secrets.scrub("".join(traceback.format_exception(exc)).rstrip()))
        return _report(ctx, exc)
