"""A local endpoint in a process of its own, for the batch crash test.

    python -m tests.integration.batch_server HANDLER_LOG [WORKERS]

Prints ``{"base_url": ..., "endpoint_id": ...}`` once it serves, then answers commands on
stdin, one JSON line each: ``log`` (the request log), ``health``, ``quit``; and, for the
signal tests, ``hold`` (jobs whose input has ``"hold": true`` wait from now on), ``release``
(they end now), ``delay SECONDS`` (every submit is held that long before it is processed;
0: not). The handler appends ``{"n": ..., "id": ..., "tag": ...}`` (``tag``: the input's own,
if any) to HANDLER_LOG each time it starts a job, so the test can count how often each input
really ran.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import threading
import time
from typing import Any

from runpod_facade.local import Fault, LocalEndpoint


def main() -> None:
    handler_log = sys.argv[1]
    workers = int(sys.argv[2]) if len(sys.argv) > 2 else 8
    released = threading.Event()

    def handler(job: dict[str, Any]) -> dict[str, Any]:
        data = job["input"]
        line = json.dumps({"n": data["n"], "id": job["id"], "tag": data.get("tag")}) + "\n"
        # One O_APPEND write per line: lines from concurrent workers never interleave.
        fd = os.open(handler_log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line.encode())
        finally:
            os.close(fd)
        if data.get("hold"):
            released.wait(120)
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
            elif command in ("hold", "release"):
                (released.clear if command == "hold" else released.set)()
                print(json.dumps({"ok": True}), flush=True)
            elif command.startswith("delay "):
                seconds = float(command.split()[1])
                ep.faults.clear()
                for route in ("run", "runsync"):
                    if seconds:
                        ep.faults.add(Fault(route, "delay", times=None, delay=seconds))
                print(json.dumps({"ok": True}), flush=True)
            elif command == "quit":
                released.set()
                break


if __name__ == "__main__":
    main()
