"""Load-balancing commands: ``lb get|post|put|delete PATH``, ``lb ping``, ``lb wait-ready``
and ``lb serve MODULE:APP`` (a local load-balancing endpoint around an ASGI app).

The worker's reply body goes to stdout byte for byte (``--json``: one JSON object with the
status, the worker id and the body); a reply of status 400 or more exits 6, as an HTTP error
of the queue commands does. The platform's own failures, timeouts and connection errors exit
as the queue commands do (6, 7, 5 for ``wait-ready --timeout``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import TYPE_CHECKING, Any

from .._config import ENV_ENDPOINT_ID
from .._loadbalancing import LoadBalancedEndpoint, NotReadyError
from ._context import Context
from ._errors import UsageError
from ._exit import EXIT_API_ERROR, EXIT_OK, EXIT_WAIT_TIMEOUT
from ._lb_serve import serve_app
from ._numbers import parallel, port, seconds
from ._options import add_command, non_empty
from ._serve import serve_epilog

if TYPE_CHECKING:
    import httpx

    from ._options import Subparsers

__all__ = ["register"]

_ENV_LB_BASE_URL = "RUNPOD_LB_BASE_URL"

# The queue commands' epilog names their own URL variable, job outcomes and examples.
_EPILOG = f"""\
environment:
  {ENV_ENDPOINT_ID}   endpoint id (or --endpoint-id)
  RUNPOD_API_KEY       API key (or --api-key; the environment is safer)
  {_ENV_LB_BASE_URL}   base URL (default https://ENDPOINT_ID.api.runpod.ai)

exit codes:
  0    the worker answered with a status below 400 (ping: healthy or initializing)
  2    usage error or bad input (invalid JSON, missing endpoint id, bad option)
  5    wait-ready: --timeout passed before a worker was healthy
  6    an HTTP error: the worker's reply of 400 or more (its body is still printed), or
       the platform's
  7    no answer (connection refused, DNS, --timeout passed)
  8    unexpected internal error (rerun with --debug and report it)
  130  interrupted (Ctrl-C)

examples:
  runpod-facade lb wait-ready --timeout 120
  runpod-facade lb post /generate --data '{{"prompt": "hi"}}'
  runpod-facade lb get /stats --affinity "strict WORKER_ID" --json
"""


def _endpoint(ctx: Context) -> LoadBalancedEndpoint:
    args = ctx.args
    endpoint_id = args.endpoint_id or os.environ.get(ENV_ENDPOINT_ID)
    if not endpoint_id:
        raise UsageError(f"no endpoint id: pass --endpoint-id or set {ENV_ENDPOINT_ID}")
    kwargs: dict[str, Any] = {}
    if args.timeout is not None:
        kwargs["timeout"] = args.timeout
    return LoadBalancedEndpoint(
        endpoint_id,
        api_key=args.api_key,
        base_url=args.base_url,
        max_retries=args.max_retries,
        **kwargs,
    )


def _body(args: argparse.Namespace) -> dict[str, Any]:
    if getattr(args, "data", None) is not None:
        try:
            value = json.loads(args.data)
        except ValueError as exc:
            raise UsageError(f"--data is not valid JSON: {exc}") from None
        return {"json": value}
    if getattr(args, "data_file", None) is not None:
        if args.data_file == "-":
            return {"content": sys.stdin.buffer.read()}
        try:
            with open(args.data_file, "rb") as handle:
                return {"content": handle.read()}
        except OSError as exc:
            raise UsageError(
                f"cannot read --data-file {args.data_file!r}: {exc.strerror}"
            ) from None
    return {}


def _params(pairs: list[str] | None) -> list[tuple[str, str]] | None:
    if not pairs:
        return None
    result = []
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise UsageError(f"--param {pair!r} must be NAME=VALUE")
        result.append((name, value))
    return result


def _show(ctx: Context, response: httpx.Response) -> int:
    """The reply on stdout; exit 6 when the worker answered with an error status."""
    worker = LoadBalancedEndpoint.worker_id(response)
    if ctx.output.as_json:
        try:
            body: Any = response.json()
        except ValueError:
            body = response.text
        ctx.output.json({"status": response.status_code, "worker_id": worker, "body": body})
    else:
        sys.stdout.buffer.write(response.content)
        sys.stdout.flush()
        ctx.output.note(f"HTTP {response.status_code} from worker {worker or '?'}")
    if response.status_code >= 400:
        ctx.output.error(
            f"{response.request.method} {response.request.url.path} failed with HTTP "
            f"{response.status_code} (the worker's reply)"
        )
        return EXIT_API_ERROR
    return EXIT_OK


def _call(method: str) -> Any:
    def run(ctx: Context) -> int:
        args = ctx.args
        with _endpoint(ctx) as ep:
            kwargs: dict[str, Any] = {
                **_body(args),
                "params": _params(args.param),
                "affinity": args.affinity,
            }
            if args.idempotent:
                kwargs["idempotent"] = True
            if args.stream:
                with ep.stream(method, args.path, **kwargs) as response:
                    if response.status_code >= 400 or ctx.output.as_json:
                        response.read()
                        return _show(ctx, response)
                    for chunk in response.iter_bytes():
                        sys.stdout.buffer.write(chunk)
                        sys.stdout.flush()
                    return EXIT_OK
            return _show(ctx, ep.request(method, args.path, **kwargs))

    return run


def _ping(ctx: Context) -> int:
    with _endpoint(ctx) as ep:
        response = ep.ping()
    state = {200: "healthy", 204: "initializing"}.get(response.status_code, "unhealthy")
    if ctx.output.as_json:
        ctx.output.json(
            {"status": response.status_code, "state": state, "worker_id": ep.worker_id(response)}
        )
    else:
        ctx.output.line(f"{state} (HTTP {response.status_code})")
    if response.status_code in (200, 204):
        return EXIT_OK
    ctx.output.error(f"GET /ping failed with HTTP {response.status_code}: {response.text[:200]}")
    return EXIT_API_ERROR


def _wait_ready(ctx: Context) -> int:
    timeout = ctx.args.timeout if ctx.args.timeout is not None else 120.0
    with _endpoint(ctx) as ep:
        try:
            response = ep.wait_ready(timeout=timeout)
        except NotReadyError as exc:
            ctx.output.error(str(exc))
            return EXIT_WAIT_TIMEOUT
    worker = ep.worker_id(response)
    if ctx.output.as_json:
        ctx.output.json({"status": response.status_code, "worker_id": worker})
    else:
        ctx.output.line(f"ready: worker {worker or '?'}")
    return EXIT_OK


def _request_options(parser: argparse.ArgumentParser, *, body: bool) -> None:
    parser.add_argument("path", metavar="PATH", help="the worker's route, e.g. /generate")
    if body:
        source = parser.add_mutually_exclusive_group()
        source.add_argument("--data", metavar="JSON", help="a JSON body")
        source.add_argument(
            "--data-file", metavar="PATH", help="send this file's bytes as the body ('-': stdin)"
        )
    parser.add_argument(
        "--param", metavar="NAME=VALUE", action="append", help="a query parameter (repeatable)"
    )
    parser.add_argument(
        "--affinity",
        metavar="WORKER",
        type=non_empty(None),
        help="pin to a worker: 'ID' (soft), 'strict ID' or 'strict-resume ID'",
    )
    parser.add_argument(
        "--idempotent",
        action="store_true",
        help="the call may be sent again after its reply was lost (default: GET/PUT/DELETE only)",
    )
    parser.add_argument("--stream", action="store_true", help="print the reply as it arrives")


def register(commands: Subparsers) -> None:
    """Add ``lb`` and its subcommands to ``commands``."""
    group = commands.add_parser(
        "lb",
        help="call a load-balancing endpoint (direct HTTP to workers)",
        description="Call a RunPod load-balancing endpoint: https://ENDPOINT_ID.api.runpod.ai/"
        f"PATH (or ${_ENV_LB_BASE_URL} / --base-url). Cold starts are waited out within "
        "--timeout; the reply body goes to stdout as it came.",
    )
    sub = group.add_subparsers(dest="lb_command", metavar="COMMAND")
    sub.required = True
    for method in ("get", "post", "put", "delete"):
        parser = add_command(
            sub,
            method,
            _call(method.upper()),
            f"send {method.upper()} PATH",
            epilog=_EPILOG,
            load_balancing=True,
        )
        _request_options(parser, body=method in ("post", "put"))
    add_command(
        sub,
        "ping",
        _ping,
        "one GET /ping: healthy (200) or initializing (204)",
        epilog=_EPILOG,
        load_balancing=True,
    )
    add_command(
        sub,
        "wait-ready",
        _wait_ready,
        "wait until a worker is healthy (exit 5 when --timeout passes; default 120 s)",
        epilog=_EPILOG,
        load_balancing=True,
    )
    serve = add_command(
        sub,
        "serve",
        serve_app,
        "serve an ASGI app as a local load-balancing endpoint",
        "Serve an ASGI app (FastAPI, Starlette ...) as a local load-balancing endpoint of "
        "--workers simulated workers. APP is 'module:attribute' (default attribute 'app'). "
        "Ctrl-C stops it.",
        epilog=serve_epilog("APP"),
        global_options=False,
    )
    serve.add_argument("app", metavar="APP")
    serve.add_argument("--host", default="127.0.0.1", help="interface (default 127.0.0.1)")
    serve.add_argument("--port", type=port, default=8000, help="port (default 8000)")
    serve.add_argument("--workers", type=parallel, default=1, help="workers (default 1)")
    serve.add_argument(
        "--cold-start",
        metavar="SECONDS",
        type=seconds(0, 3600),
        default=0.0,
        help="seconds before the workers turn ready (/ping answers 204 until then; default 0)",
    )
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
        help="serve on a non-loopback --host without --api-key (anyone who reaches it can call it)",
    )
