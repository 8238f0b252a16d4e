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

from runpod_facade.local import LocalEndpoint, _server

from ._common import API_KEY, ENDPOINT_ID


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("handler")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--keep-alive", type=int, default=None)
    args = parser.parse_args(argv)
    if args.keep_alive is not None:
        _server.KEEP_ALIVE_S = args.keep_alive  # read when the server's config is built
    with LocalEndpoint(
        args.handler, workers=args.workers, api_key=API_KEY, endpoint_id=ENDPOINT_ID
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
