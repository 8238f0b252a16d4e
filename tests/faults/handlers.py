"""Handlers for the fault matrix: one plain (echo / fail / sleep), one streaming."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any


async def plain(job: dict[str, Any]) -> Any:
    data = job["input"] if isinstance(job.get("input"), dict) else {}
    task = data.get("task", "echo")
    if task == "sleep":
        await asyncio.sleep(float(data.get("seconds", 1)))
        return {"slept": data.get("seconds", 1)}
    if task == "fail":
        raise ValueError("planned failure")
    return data


async def chunks(job: dict[str, Any]) -> AsyncIterator[Any]:
    data = job["input"] if isinstance(job.get("input"), dict) else {}
    for i in range(int(data.get("count", 3))):
        await asyncio.sleep(0)
        yield {"i": i}
