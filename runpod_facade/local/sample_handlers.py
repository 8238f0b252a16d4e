"""Sample handlers for demos and tests.

``runpod-facade serve runpod_facade.local.sample_handlers:echo`` serves one.
Each takes the job dict ``{"id": ..., "input": ...}`` like a handler of RunPod's worker SDK.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any, Final

from ._handler import progress_update

__all__ = [
    "FAKE_MODEL",
    "echo",
    "fail",
    "noop",
    "openai_chat",
    "progress",
    "sleep",
    "stream_aggregate",
    "text_stream",
]

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


#: The one model :func:`openai_chat` lists.
FAKE_MODEL: Final = "runpod-facade/fake-chat"


def _openai_words(body: dict[str, Any], route: str) -> tuple[list[str], int]:
    """The reply's words and the prompt's word count: the reply echoes the last user message
    (or the prompt), cut to ``max_tokens`` words."""
    if route == "/v1/chat/completions":
        messages = [m for m in body.get("messages", []) if isinstance(m, dict)]
        said = [str(m.get("content", "")) for m in messages if m.get("role") == "user"]
        prompt = " ".join(str(m.get("content", "")) for m in messages)
        text = f"You said: {said[-1]}" if said else "Hello!"
    else:
        raw = body.get("prompt", "")
        prompt = raw if isinstance(raw, str) else " ".join(map(str, raw))
        text = f"{prompt} ... and so on"
    words = text.split()
    limit = body.get("max_tokens")
    if isinstance(limit, int) and not isinstance(limit, bool) and limit >= 0:
        words = words[:limit]
    return words, len(prompt.split())


def openai_chat(job: dict[str, Any]) -> Any:
    """A fake LLM worker answering RunPod's OpenAI-compatible routes in OpenAI's shapes.

    The input is what the platform makes of an OpenAI call: ``{"openai_route": ...,
    "openai_input": <request body>}``. ``/v1/models`` lists :data:`FAKE_MODEL`;
    ``/v1/chat/completions`` answers ``"You said: <last user message>"`` as a
    ``chat.completion``; ``/v1/completions`` continues the prompt as a ``text_completion``.
    With ``"stream": true`` it returns a generator of ``chat.completion.chunk`` objects (a
    role delta, one delta per word, a ``finish_reason`` chunk) or of ``text_completion``
    pieces, as a vLLM worker streams. ``max_tokens`` caps the reply in words. A job without
    ``openai_route`` fails; an unknown route gets an OpenAI error object (code 400).
    """
    data = _input(job)
    route = data.get("openai_route")
    raw_body = data.get("openai_input")
    body: dict[str, Any] = raw_body if isinstance(raw_body, dict) else {}
    created = int(time.time())
    if route == "/v1/models":
        return {
            "object": "list",
            "data": [
                {"id": FAKE_MODEL, "object": "model", "created": created, "owned_by": "local"}
            ],
        }
    if route is None:
        # A native /run job: the job fails with this error.
        return {"error": "openai_chat answers OpenAI-compatible requests (input.openai_route)"}
    if route not in ("/v1/chat/completions", "/v1/completions"):
        return {"object": "error", "message": f"unknown openai_route {route!r}", "code": 400}
    words, prompt_tokens = _openai_words(body, route)
    finish = "length" if len(words) == body.get("max_tokens") else "stop"
    chat = route == "/v1/chat/completions"
    head = {
        "id": f"{'chatcmpl' if chat else 'cmpl'}-{uuid.uuid4().hex}",
        "created": created,
        "model": body.get("model", FAKE_MODEL),
    }
    if body.get("stream"):
        return _openai_stream(head, words, finish, chat)
    usage = {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": len(words),
        "total_tokens": prompt_tokens + len(words),
    }
    text = " ".join(words)
    if chat:
        message = {"role": "assistant", "content": text}
        choice: dict[str, Any] = {"index": 0, "message": message, "finish_reason": finish}
        return {**head, "object": "chat.completion", "choices": [choice], "usage": usage}
    choice = {"index": 0, "text": text, "logprobs": None, "finish_reason": finish}
    return {**head, "object": "text_completion", "choices": [choice], "usage": usage}


def _openai_stream(
    head: dict[str, Any], words: list[str], finish: str, chat: bool
) -> Iterator[dict[str, Any]]:
    pieces = [word if index == 0 else f" {word}" for index, word in enumerate(words)]
    if not chat:
        for piece in pieces:
            choice = {"index": 0, "text": piece, "logprobs": None, "finish_reason": None}
            yield {**head, "object": "text_completion", "choices": [choice]}
        last = {"index": 0, "text": "", "logprobs": None, "finish_reason": finish}
        yield {**head, "object": "text_completion", "choices": [last]}
        return
    chunk = {**head, "object": "chat.completion.chunk"}
    deltas: list[tuple[dict[str, str], str | None]] = [({"role": "assistant"}, None)]
    deltas += [({"content": piece}, None) for piece in pieces]
    deltas.append(({}, finish))
    for delta, reason in deltas:
        yield {**chunk, "choices": [{"index": 0, "delta": delta, "finish_reason": reason}]}
