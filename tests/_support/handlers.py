"""The handlers the loopback tests serve with the local endpoint.

``dispatch`` does what ``input["task"]`` says (``echo`` by default, ``sleep`` for
``seconds``, ``fail`` with ``message``); ``streamer`` yields ``count`` chunks ``{"i": n}``,
each ``delay`` seconds after the previous one (or yields one and crashes for ``task: fail``);
``noop`` returns its input at once (the load test's server, in a child process, imports it
as ``tests._support.handlers:noop``).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

__all__ = ["dispatch", "noop", "streamer"]


def _input(job: dict[str, Any]) -> dict[str, Any]:
    data = job.get("input")
    return data if isinstance(data, dict) else {}


async def dispatch(job: dict[str, Any]) -> Any:
    data = _input(job)
    task = data.get("task", "echo")
    if task == "sleep":
        await asyncio.sleep(float(data.get("seconds", 1)))
        return {"slept": data.get("seconds", 1)}
    if task == "fail":
        raise ValueError(data.get("message", "handler failed"))
    return data


async def streamer(job: dict[str, Any]) -> AsyncIterator[Any]:
    data = _input(job)
    if data.get("task") == "fail":
        yield "partial"
        raise RuntimeError("stream broke")
    for i in range(int(data.get("count", 3))):
        await asyncio.sleep(float(data.get("delay", 0)))
        yield {"i": i}


async def noop(job: dict[str, Any]) -> Any:
    # A coroutine: the server runs it on its loop, with no hop to a thread per job.
    return job["input"]
