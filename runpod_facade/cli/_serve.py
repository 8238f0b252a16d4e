"""Local commands: ``serve`` a Python handler as a RunPod-compatible endpoint."""

from __future__ import annotations

import argparse
import contextlib
import errno
import importlib.util
import os
import socket
import sys
import traceback
from typing import TYPE_CHECKING

from ._context import Context
from ._errors import StartupError, UsageError
from ._exit import EXIT_OK, EXIT_STARTUP_FAILED, EXIT_USAGE
from ._options import add_command, non_empty, port, positive_int

if TYPE_CHECKING:
    from ._options import Subparsers

__all__ = ["register"]

_EPILOG = f"""\
exit codes:
  {EXIT_OK:<4} stopped with Ctrl-C
  {EXIT_USAGE:<4} bad HANDLER or option, or the [local] extra is missing
  {EXIT_STARTUP_FAILED:<4} serve could not start (port already in use, address not available)
"""


def _cwd_on_path() -> None:
    """Make ``serve my_module:handler`` find ``my_module.py`` in the current directory, as
    ``python -m`` and uvicorn do; a console script starts with only its own directory."""
    cwd = os.getcwd()
    if not any(entry in ("", ".", cwd) for entry in sys.path):
        sys.path.insert(0, cwd)


def _check_port(host: str, port_number: int) -> None:
    """Fail early and plainly when ``host:port`` cannot be listened on (uvicorn would log a
    line and exit 3, which this CLI uses for "job CANCELLED")."""
    where = f"[{host}]:{port_number}" if ":" in host else f"{host}:{port_number}"
    try:
        addresses = socket.getaddrinfo(
            host, port_number, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
    except socket.gaierror as exc:
        raise StartupError(f"cannot listen on {where}: {exc.strerror or exc}") from None
    for family, kind, proto, _, address in addresses:
        with socket.socket(family, kind, proto) as sock:
            # As asyncio does for servers: a port in TIME_WAIT is free to reuse.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind(address)
            except OSError as exc:
                if exc.errno == errno.EADDRINUSE:
                    raise StartupError(
                        f"cannot listen on {where}: the port is already in use "
                        "(another server? pick another --port)"
                    ) from None
                raise StartupError(f"cannot listen on {where}: {exc.strerror or exc}") from None


def _serve(ctx: Context) -> int:
    args = ctx.args
    missing = [name for name in ("starlette", "uvicorn") if importlib.util.find_spec(name) is None]
    if missing:
        raise UsageError(f"serve needs {' and '.join(missing)}: pip install 'runpod-facade[local]'")
    from ..local import load_handler, serve

    _check_port(args.host, args.port)
    _cwd_on_path()
    try:
        handler = load_handler(args.handler)
    except Exception as exc:  # any import-time error of the user's module is a bad HANDLER
        if ctx.debug:
            ctx.output.note("".join(traceback.format_exception(exc)).rstrip())
        raise UsageError(
            f"cannot load handler {args.handler!r}: {type(exc).__name__}: {exc}"
        ) from None
    # The address, auth and workers are in the banner serve() prints itself: say only what
    # it does not.
    ctx.output.note(f"serving {args.handler}")
    api_key = getattr(args, "api_key", None)
    try:
        # uvicorn re-raises the Ctrl-C it shut down on; stopping the server is not an error.
        with contextlib.suppress(KeyboardInterrupt):
            serve(
                handler,
                host=args.host,
                port=args.port,
                api_key=api_key,
                workers=args.workers,
                timeout_status=args.timeout_status,
            )
    except SystemExit as exc:
        # uvicorn exits (code 3) when it cannot start, e.g. the port was taken meanwhile.
        if exc.code not in (0, None):
            raise StartupError("the server could not start (see uvicorn's message above)") from None
    ctx.output.note("server stopped")
    return EXIT_OK


def register(commands: Subparsers) -> None:
    """Add ``serve`` to ``commands``."""
    serve = add_command(
        commands,
        "serve",
        _serve,
        "serve a handler as a local RunPod-compatible endpoint",
        "Serve a Python handler as a local RunPod-compatible endpoint (needs "
        "pip install 'runpod-facade[local]'). HANDLER is 'module:function' (the module is "
        "looked up in the current directory too) or 'path/to/file.py[:function]'; the "
        "function defaults to 'handler'. Point a client at http://HOST:PORT/v2 with any "
        "endpoint id. Ctrl-C stops it.",
        epilog=_EPILOG,
        global_options=False,
    )
    serve.add_argument("handler", metavar="HANDLER")
    serve.add_argument("--host", default="127.0.0.1", help="interface (default 127.0.0.1)")
    serve.add_argument("--port", type=port, default=8000, help="port (default 8000)")
    serve.add_argument(
        "--api-key",
        metavar="KEY",
        type=non_empty(None),
        default=argparse.SUPPRESS,
        help="require this key as 'Authorization: Bearer KEY' (default: no auth)",
    )
    serve.add_argument(
        "--workers", type=positive_int, default=1, help="jobs run concurrently (default 1)"
    )
    serve.add_argument(
        "--timeout-status",
        choices=("TIMED_OUT", "FAILED"),
        default="TIMED_OUT",
        help="how a job past its execution timeout ends: TIMED_OUT (default), or FAILED after "
        "one rerun with 'job timed out after 1 retries', as live RunPod reports it",
    )
    serve.add_argument(
        "--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks"
    )
