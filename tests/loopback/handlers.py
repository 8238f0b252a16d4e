"""A handler that dispatches on ``input["task"]``, for the loopback tests."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any


async def dispatch(job: dict[str, Any]) -> Any:
    data = job["input"] if isinstance(job.get("input"), dict) else {}
    task = data.get("task", "echo")
    if task == "sleep":
        await asyncio.sleep(float(data.get("seconds", 1)))
        return {"slept": data.get("seconds", 1)}
    if task == "fail":
        raise ValueError(data.get("message", "handler failed"))
    return data


async def streamer(job: dict[str, Any]) -> AsyncIterator[Any]:
    data = job["input"] if isinstance(job.get("input"), dict) else {}
    if data.get("task") == "fail":
        yield "partial"
        raise RuntimeError("stream broke")
    for i in range(int(data.get("count", 5))):
        await asyncio.sleep(float(data.get("delay", 0.01)))
        yield {"i": i}
