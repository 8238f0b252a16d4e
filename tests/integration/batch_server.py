"""A local endpoint in a process of its own, for the batch crash test.

    python -m tests.integration.batch_server HANDLER_LOG [WORKERS]

Prints ``{"base_url": ..., "endpoint_id": ...}`` once it serves, then answers commands on
stdin, one JSON line each: ``log`` (the request log), ``health``, ``quit``. The handler appends
``{"n": ..., "id": ...}`` to HANDLER_LOG each time it starts a job, so the test can count how
often each input really ran.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import time
from typing import Any

from runpod_facade.local import LocalEndpoint


def main() -> None:
    handler_log = sys.argv[1]
    workers = int(sys.argv[2]) if len(sys.argv) > 2 else 8

    def handler(job: dict[str, Any]) -> dict[str, Any]:
        data = job["input"]
        line = json.dumps({"n": data["n"], "id": job["id"]}) + "\n"
        # One O_APPEND write per line: lines from concurrent workers never interleave.
        fd = os.open(handler_log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line.encode())
        finally:
            os.close(fd)
        time.sleep(float(data.get("seconds", 0.05)))
        return {"n": data["n"]}

    with LocalEndpoint(handler, workers=workers, api_key=None) as ep:
        print(json.dumps({"base_url": ep.base_url, "endpoint_id": ep.endpoint_id}), flush=True)
        for line in sys.stdin:
            command = line.strip()
            if command == "log":
                print(json.dumps([dataclasses.asdict(r) for r in ep.requests]), flush=True)
            elif command == "health":
                print(json.dumps(ep.health()), flush=True)
            elif command == "quit":
                break


if __name__ == "__main__":
    main()
