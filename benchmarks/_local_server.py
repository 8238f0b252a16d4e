"""The local endpoint (``runpod_facade.local``) in a process of its own, for the benchmarks.

    python -m benchmarks._local_server MODULE:FUNCTION [--workers N] [--keep-alive S]

Starts ``LocalEndpoint`` on a free loopback port (endpoint id and API key from
:mod:`benchmarks._common`), prints ``{"port": N}`` and then answers commands read from
standard input, one a line, with one JSON line each:

- ``requests``: how many requests the server received so far, per operation;
- ``clear``: forget the recorded requests.

End-of-file on standard input (the parent closed it, or died) stops the server.
``--keep-alive S`` replaces the seconds the server keeps an idle connection open (a
diagnostic: ``benchmarks.local_resets`` compares the old 5 s with the default).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from typing import Any

import uvicorn

from runpod_facade.local import LocalEndpoint

from ._common import API_KEY, ENDPOINT_ID


class _Endpoint(LocalEndpoint):
    """The local endpoint, its keep-alive timeout replaced when ``keep_alive`` is given."""

    def __init__(self, *args: Any, keep_alive: int | None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._keep_alive = keep_alive

    def _config(self) -> uvicorn.Config:
        config = super()._config()
        if self._keep_alive is not None:
            config.timeout_keep_alive = self._keep_alive
        return config


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("handler")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--keep-alive", type=int, default=None)
    args = parser.parse_args(argv)
    with _Endpoint(
        args.handler,
        workers=args.workers,
        api_key=API_KEY,
        endpoint_id=ENDPOINT_ID,
        keep_alive=args.keep_alive,
    ) as endpoint:
        print(json.dumps({"port": endpoint.port}), flush=True)
        for line in sys.stdin:
            command = line.strip()
            if command == "requests":
                counts = Counter(record.operation or "other" for record in endpoint.requests)
                print(json.dumps(dict(counts)), flush=True)
            elif command == "clear":
                endpoint.clear_requests()
                print("{}", flush=True)
            else:
                print(json.dumps({"error": f"unknown command {command!r}"}), flush=True)


if __name__ == "__main__":
    main()
