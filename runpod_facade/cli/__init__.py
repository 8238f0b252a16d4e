"""``runpod-facade``: run, watch and manage RunPod serverless jobs from a shell.

Usage (global options go before or after the subcommand)::

    runpod-facade [--endpoint-id ID] [--base-url URL] [--json] [--timeout S] COMMAND ...

``runpod-facade --help`` lists the commands: one for each operation of the spec that has a
CLI name (``x-runpod-operation.cli``), plus ``wait``, ``batch`` and ``serve``. An operation
without a command written by hand gets the generic one of :mod:`._generic` (its job id, its
input, and the reply printed as JSON), so no list of commands is kept here.

The endpoint id, API key and base URL come from ``--endpoint-id`` / ``--api-key`` /
``--base-url`` or from ``RUNPOD_ENDPOINT_ID`` / ``RUNPOD_API_KEY`` / ``RUNPOD_BASE_URL``; an
empty option is an error, not a way back to the variable. Prefer the environment for the key:
a command line is visible to other local users. The key is never printed, not even with
``--debug``.

Job input is JSON from ``--input JSON``, ``--input-file PATH`` (``-`` for stdin), or piped
on stdin when neither is given.

While a command waits on a terminal, a live status line shows on stderr (redrawn in place with
``pip install 'runpod-facade[cli]'``, plain lines without it); nothing when stderr is not a
terminal.

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
    9    serve could not start (port already in use, address not available)
    130  interrupted (Ctrl-C); the job id, when one had arrived, is printed with the
         commands to resume or cancel it

``status``, ``cancel`` and ``retry`` (without ``--wait``) exit 0 whenever the API answered,
whatever state the job is in.

The package: :mod:`._parser` builds the parser from one module per command group
(:mod:`._jobs`, :mod:`._stream`, :mod:`._batch`, :mod:`._endpoint`, :mod:`._serve`, then
:mod:`._generic`), each with a ``register(subparsers)``; :mod:`._main` runs a command and
maps what happened to an exit code (:mod:`._exit`, :mod:`._errors`); :mod:`._output`,
:mod:`._live` and :mod:`._progress` print.
"""

from __future__ import annotations

from ._exit import (
    EXIT_API_ERROR,
    EXIT_CANCELLED,
    EXIT_CONNECTION_ERROR,
    EXIT_FAILED,
    EXIT_INTERNAL_ERROR,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_STARTUP_FAILED,
    EXIT_TIMED_OUT,
    EXIT_USAGE,
    EXIT_WAIT_TIMEOUT,
)
from ._main import main
from ._parser import build_parser

__all__ = [
    "EXIT_API_ERROR",
    "EXIT_CANCELLED",
    "EXIT_CONNECTION_ERROR",
    "EXIT_FAILED",
    "EXIT_INTERNAL_ERROR",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_STARTUP_FAILED",
    "EXIT_TIMED_OUT",
    "EXIT_USAGE",
    "EXIT_WAIT_TIMEOUT",
    "build_parser",
    "main",
]
