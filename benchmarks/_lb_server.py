"""The local load-balancing pool (``runpod_facade.local.LocalLoadBalancer``) in a process of
its own, for the benchmarks: ``python -m benchmarks._lb_server [--workers N]``.

It runs a minimal Starlette worker app (``GET /ping``, ``POST /echo`` answering its JSON
body), prints ``{"port": N}``, and stops on end-of-file of its standard input.
"""

from __future__ import annotations

import argparse
import json
import sys

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from runpod_facade.local import LocalLoadBalancer

from ._common import API_KEY


async def _ping(request: Request) -> Response:
    return JSONResponse({"status": "healthy"})


async def _echo(request: Request) -> Response:
    return JSONResponse({"echo": await request.json()})


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    app = Starlette(routes=[Route("/ping", _ping), Route("/echo", _echo, methods=["POST"])])
    with LocalLoadBalancer(app, workers=args.workers, api_key=API_KEY) as pool:
        print(json.dumps({"port": pool.port}), flush=True)
        for _ in sys.stdin:
            pass


if __name__ == "__main__":
    main()
