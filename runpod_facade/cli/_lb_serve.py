"""``lb serve APP`` (and ``serve --load-balancer APP``): an ASGI app as a local
load-balancing endpoint, with the queue ``serve``'s checks of host, key and port."""

from __future__ import annotations

import importlib

from ._context import Context
from ._errors import UsageError
from ._serve import (
    _check_exposure,
    _check_port,
    _cwd_on_path,
    require_server_stack,
    run_until_stopped,
)

__all__ = ["serve_app"]


def serve_app(ctx: Context) -> int:
    """`lb serve APP` (and `serve --load-balancer APP`)."""
    args = ctx.args
    require_server_stack()
    from ..local import serve_load_balancer

    _check_exposure(args.host, getattr(args, "api_key", None), args.allow_unauthenticated)
    _check_port(args.host, args.port)
    _cwd_on_path()
    module_name, _, attribute = args.app.partition(":")
    try:
        app = getattr(importlib.import_module(module_name), attribute or "app")
    except Exception as exc:  # any import-time error of the user's module is a bad APP
        raise UsageError(f"cannot load app {args.app!r}: {type(exc).__name__}: {exc}") from None
    return run_until_stopped(
        ctx,
        lambda: serve_load_balancer(
            app,
            host=args.host,
            port=args.port,
            workers=args.workers,
            api_key=getattr(args, "api_key", None),
            cold_start=args.cold_start,
        ),
    )
