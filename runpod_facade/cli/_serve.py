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
from collections.abc import Callable
from typing import TYPE_CHECKING

from .._validation import is_loopback_host
from ._context import Context
from ._errors import StartupError, UsageError
from ._exit import EXIT_OK, EXIT_STARTUP_FAILED, EXIT_USAGE
from ._numbers import parallel, port, seconds
from ._options import add_command, non_empty

if TYPE_CHECKING:
    from ._options import Subparsers

__all__ = ["register"]


def serve_epilog(what: str) -> str:
    """The exit codes of a ``serve`` command whose argument is ``what`` (HANDLER, APP)."""
    return f"""\
exit codes:
  {EXIT_OK:<4} stopped with Ctrl-C
  {EXIT_USAGE:<4} bad {what} or option, or the [local] extra is missing
  {EXIT_STARTUP_FAILED:<4} serve could not start (port already in use, address not available), or
       would be reachable from the network with no --api-key (--allow-unauthenticated
       means it)
"""


def require_server_stack() -> None:
    """UsageError unless the [local] extra's server stack is installed."""
    missing = [name for name in ("starlette", "uvicorn") if importlib.util.find_spec(name) is None]
    if missing:
        raise UsageError(f"serve needs {' and '.join(missing)}: pip install 'runpod-facade[local]'")


def run_until_stopped(ctx: Context, serve: Callable[[], None]) -> int:
    """Run ``serve`` (a uvicorn server) until Ctrl-C; StartupError if it could not start."""
    try:
        # uvicorn re-raises the Ctrl-C it shut down on; stopping the server is not an error.
        with contextlib.suppress(KeyboardInterrupt):
            serve()
    except SystemExit as exc:
        # uvicorn exits (code 3) when it cannot start, e.g. the port was taken meanwhile.
        if exc.code not in (0, None):
            raise StartupError("the server could not start (see uvicorn's message above)") from None
    ctx.output.note("server stopped")
    return EXIT_OK


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


def _check_exposure(host: str, api_key: str | None, allow_unauthenticated: bool) -> None:
    """Refuse to start a server that anyone on the network could run jobs on (any host but
    loopback, no API key), unless ``--allow-unauthenticated`` says that is meant."""
    if api_key is not None or allow_unauthenticated or is_loopback_host(host):
        return
    raise StartupError(
        f"refusing to serve on {host!r} without an API key: anyone who can reach it could run "
        "jobs. Pass --api-key KEY, serve on 127.0.0.1 (the default), or pass "
        "--allow-unauthenticated if an open server is what you want"
    )


#: ``--rate-limit-scale``: past it a window of 10 s would last hours.
MAX_RATE_LIMIT_SCALE = 1000.0


def _scale(text: str) -> float:
    """``--rate-limit-scale``: a factor, more than 0 and up to :data:`MAX_RATE_LIMIT_SCALE`."""
    allowed = f"a factor, more than 0 and up to {MAX_RATE_LIMIT_SCALE:g}"
    try:
        value = float(text)
    except ValueError:
        value = None
    # NaN fails every comparison, so it is refused too.
    if value is None or not 0 < value <= MAX_RATE_LIMIT_SCALE:
        raise argparse.ArgumentTypeError(f"expected {allowed}, got {text!r}")
    return value


def _check_kind(args: argparse.Namespace) -> None:
    """Refuse an option of the other kind of endpoint rather than ignore it: the defaults are
    None so that a given option is seen, and are filled in here."""
    if args.load_balancer:
        for given, option in (
            (args.rate_limits, "--rate-limits"),
            (args.rate_limit_scale, "--rate-limit-scale"),
            (args.timeout_status, "--timeout-status"),
        ):
            if given is not None:
                raise UsageError(f"{option} is for a queue endpoint, not --load-balancer")
        args.cold_start = 0.0 if args.cold_start is None else args.cold_start
        return
    if args.cold_start is not None:
        raise UsageError(
            "--cold-start needs --load-balancer (a queue endpoint's workers start ready)"
        )
    if args.rate_limit_scale is not None and args.rate_limits is None:
        raise UsageError("--rate-limit-scale needs --rate-limits")
    args.timeout_status = args.timeout_status or "TIMED_OUT"
    args.rate_limit_scale = 1.0 if args.rate_limit_scale is None else args.rate_limit_scale


def _serve(ctx: Context) -> int:
    args = ctx.args
    _check_kind(args)
    if args.load_balancer:
        # `serve --load-balancer MODULE:APP` is `lb serve MODULE:APP`.
        from ._lb_serve import serve_app

        args.app = args.handler
        return serve_app(ctx)
    api_key = getattr(args, "api_key", None)
    _check_exposure(args.host, api_key, args.allow_unauthenticated)
    require_server_stack()
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
    if api_key is None and not is_loopback_host(args.host):
        ctx.output.note(
            f"warning: no API key on {args.host}: anyone who can reach this port can run jobs"
        )
    return run_until_stopped(
        ctx,
        lambda: serve(
            handler,
            host=args.host,
            port=args.port,
            api_key=api_key,
            workers=args.workers,
            timeout_status=args.timeout_status,
            rate_limits=args.rate_limits,
            rate_limit_scale=args.rate_limit_scale,
        ),
    )


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
        epilog=serve_epilog("HANDLER"),
        global_options=False,
    )
    serve.add_argument("handler", metavar="HANDLER")
    serve.add_argument(
        "--host",
        type=non_empty(None),
        default="127.0.0.1",
        help="interface (default 127.0.0.1); any other than loopback needs --api-key or "
        "--allow-unauthenticated",
    )
    serve.add_argument("--port", type=port, default=8000, help="port (1 to 65535; default 8000)")
    serve.add_argument(
        "--api-key",
        metavar="KEY",
        type=non_empty(None),
        default=argparse.SUPPRESS,
        help="require this key as 'Authorization: Bearer KEY' (default: no auth)",
    )
    serve.add_argument(
        "--allow-unauthenticated",
        action="store_true",
        help="serve on a non-loopback --host without --api-key: anyone who can reach the "
        "port can run jobs (refused otherwise, exit 9)",
    )
    serve.add_argument(
        "--workers", type=parallel, default=1, help="jobs run concurrently (1 to 1000; default 1)"
    )
    serve.add_argument(
        "--load-balancer",
        action="store_true",
        help="HANDLER is an ASGI app 'module:attribute' (FastAPI, Starlette ...), served as a "
        "local load-balancing endpoint of --workers simulated workers, as `lb serve` does",
    )
    serve.add_argument(
        "--cold-start",
        metavar="SECONDS",
        type=seconds(0, 3600),
        default=None,
        help="with --load-balancer: seconds before the workers turn ready (default 0)",
    )
    serve.add_argument(
        "--timeout-status",
        choices=("TIMED_OUT", "FAILED"),
        default=None,
        help="how a job past its execution timeout ends: TIMED_OUT (default), or FAILED after "
        "one rerun with 'job timed out after 1 retries', as live RunPod reports it",
    )
    serve.add_argument(
        "--rate-limits",
        choices=("runpod",),
        default=None,
        help="answer 429 past RunPod's documented per-route rate limits (default: no limits)",
    )
    serve.add_argument(
        "--rate-limit-scale",
        type=_scale,
        default=None,
        metavar="FACTOR",
        help="multiply every rate-limit window by FACTOR (0.1: the documented counts per "
        "second instead of per 10 s; default 1)",
    )
    serve.add_argument(
        "--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks"
    )
