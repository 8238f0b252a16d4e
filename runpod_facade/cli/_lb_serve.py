"""``lb serve APP`` (and ``serve --load-balancer APP``): an ASGI app as a local
load-balancing endpoint, with the queue ``serve``'s checks of host, key and port."""

from __future__ import annotations

import contextlib
import importlib
import importlib.util

from ._context import Context
from ._errors import StartupError, UsageError
from ._exit import EXIT_OK
from ._serve import _check_exposure, _check_port, _cwd_on_path

__all__ = ["serve_app"]


def serve_app(ctx: Context) -> int:
    """`lb serve APP` (and `serve --load-balancer APP`)."""
    args = ctx.args
    missing = [name for name in ("starlette", "uvicorn") if importlib.util.find_spec(name) is None]
    if missing:
        raise UsageError(f"serve needs {' and '.join(missing)}: pip install 'runpod-facade[local]'")
    from ..local import serve_load_balancer

    _check_exposure(args.host, getattr(args, "api_key", None), args.allow_unauthenticated)
    _check_port(args.host, args.port)
    _cwd_on_path()
    module_name, _, attribute = args.app.partition(":")
    try:
        app = getattr(importlib.import_module(module_name), attribute or "app")
    except Exception as exc:  # any import-time error of the user's module is a bad APP
        raise UsageError(f"cannot load app {args.app!r}: {type(exc).__name__}: {exc}") from None
    try:
        with contextlib.suppress(KeyboardInterrupt):
            serve_load_balancer(
                app,
                host=args.host,
                port=args.port,
                workers=args.workers,
                api_key=getattr(args, "api_key", None),
                cold_start=args.cold_start,
            )
    except SystemExit as exc:
        if exc.code not in (0, None):
            raise StartupError("the server could not start (see uvicorn's message above)") from None
    ctx.output.note("server stopped")
    return EXIT_OK
