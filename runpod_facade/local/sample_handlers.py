"""Sample handlers for demos and tests.

``runpod-facade serve runpod_facade.local.sample_handlers:echo`` serves one.
Each takes the job dict ``{"id": ..., "input": ...}`` like a handler of RunPod's worker SDK.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

from ._handler import progress_update

__all__ = ["echo", "fail", "noop", "progress", "sleep", "stream_aggregate", "text_stream"]

DEFAULT_TEXT = "The quick brown fox jumps over the lazy dog"


def _input(job: dict[str, Any]) -> dict[str, Any]:
    value = job.get("input")
    return value if isinstance(value, dict) else {}


def _number(value: Any, default: float) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
        return float(value)
    return default


def echo(job: dict[str, Any]) -> Any:
    """Return the input unchanged."""
    return job["input"]


def noop(job: dict[str, Any]) -> None:
    """Return ``None`` at once (the job completes without output)."""
    return None


def fail(job: dict[str, Any]) -> Any:
    """Raise ``ValueError`` with ``input["message"]`` (or a default message)."""
    message = _input(job).get("message", "sample handler failure")
    raise ValueError(str(message))


async def sleep(job: dict[str, Any]) -> dict[str, Any]:
    """Sleep ``input["seconds"]`` (default 1) without blocking, then report it."""
    seconds = _number(_input(job).get("seconds"), 1.0)
    await asyncio.sleep(seconds)
    return {"slept": seconds}


def text_stream(job: dict[str, Any]) -> Iterator[str]:
    """Yield the words of ``input["prompt"]`` (or a default text), ``input["delay"]`` s apart."""
    data = _input(job)
    prompt = data.get("prompt")
    words = (prompt if isinstance(prompt, str) and prompt.strip() else DEFAULT_TEXT).split()
    delay = _number(data.get("delay"), 0.0)
    for index, word in enumerate(words):
        if delay and index:
            time.sleep(delay)
        yield word


def progress(job: dict[str, Any]) -> dict[str, Any]:
    """Publish ``input["steps"]`` (default 3) progress updates ``input["delay"]`` s apart."""
    data = _input(job)
    steps = int(_number(data.get("steps"), 3))
    delay = _number(data.get("delay"), 0.2)
    for step in range(1, steps + 1):
        progress_update(job, {"step": step, "of": steps})
        time.sleep(delay)
    return {"steps": steps}


async def stream_aggregate(job: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
    """Async generator of ``input["count"]`` (default 3) chunks; aggregated as the output."""
    data = _input(job)
    count = int(_number(data.get("count"), 3))
    delay = _number(data.get("delay"), 0.0)
    for index in range(count):
        if delay:
            await asyncio.sleep(delay)
        yield {"index": index}


stream_aggregate.return_aggregate_stream = True  # type: ignore[attr-defined]
