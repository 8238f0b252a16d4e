"""Calling a handler in any of its four flavours, and reducing whatever it does to an outcome.

A handler may be a plain function (run in a worker thread), an ``async`` function, a generator
or an async generator (streaming), and it may misbehave in any way: raise an ``Exception`` or a
``BaseException`` (``SystemExit``, ``KeyboardInterrupt``, ``GeneratorExit``, its own subclass),
raise an exception whose ``str()`` raises, return or yield a value that is not JSON (NaN, a
set, a cycle), or yield a chunk over the contract's size limit. Each of these fails *its job*
with an error document and nothing else: the loop, the worker and later jobs carry on.

The one exception that goes through is the cancellation of the job's task by the engine
(execution timeout, ``/cancel``, TTL): that is how a job is stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import traceback
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Any, Final

from .._status import JobStatus
from ._handler import Handler
from ._jobs import UNSET

__all__ = ["Outcome", "error_document", "invoke", "json_snapshot"]

_EXHAUSTED: Final = object()


class _Abandoned(Exception):
    """The job stopped wanting chunks (cancelled or timed out while the handler ran)."""


class _Raised(Exception):
    """What a handler raised in a worker thread, carried across the ``await`` as a value."""

    def __init__(self, exc: BaseException) -> None:
        super().__init__(type(exc).__name__)
        self.exc = exc


def _capture(function: Callable[..., Any], *args: Any) -> tuple[bool, Any]:
    try:
        return True, function(*args)
    except BaseException as exc:  # every exception becomes a value; see _in_thread
        return False, exc


async def _in_thread(function: Callable[..., Any], *args: Any) -> Any:
    # A future whose exception is GeneratorExit does not stay catchable across nested awaits
    # (CPython 3.11 turns the caller's own return into a GeneratorExit), and a CancelledError
    # raised by the handler must not pass for the job's cancellation: so nothing the handler
    # raises crosses the thread boundary as an exception.
    ok, value = await asyncio.to_thread(_capture, function, *args)
    if not ok:
        raise _Raised(value)
    return value


@dataclass(frozen=True)
class Outcome:
    """How one run of a handler ended: ``COMPLETED`` (with ``output`` or :data:`UNSET`),
    ``FAILED`` (with ``error``, a string, and possibly an ``output``), or ``CANCELLED`` when the
    job stopped taking its chunks (already ended elsewhere: the outcome is dropped)."""

    status: JobStatus
    output: Any = UNSET
    error: str | None = None


def json_snapshot(value: Any) -> Any:
    """``value`` as JSON would carry it (a fresh copy); ``ValueError`` if it is not JSON.

    Strict: NaN and infinities are refused, as no JSON parser has to accept them.
    """
    try:
        return json.loads(json.dumps(value, allow_nan=False))
    except BaseException as exc:  # user objects may raise anything while encoding
        raise ValueError(f"not JSON-serializable: {_describe(exc)}") from None


def _chunk_snapshot(value: Any, index: int, limit: int) -> Any:
    # Bytes, not characters: the chunk's compact JSON in UTF-8, non-ASCII left unescaped as
    # the worker SDK sends it ("é" is 2 bytes, not the 6 of "\u00e9").
    try:
        text = json.dumps(value, allow_nan=False, ensure_ascii=False, separators=(",", ":"))
    except BaseException as exc:  # user objects may raise anything while encoding
        raise ValueError(
            f"stream chunk {index} is not JSON-serializable: {_describe(exc)}"
        ) from None
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > limit:
        raise ValueError(
            f"stream chunk {index} is {size} bytes of JSON (UTF-8); one chunk may be at most "
            f"{limit} bytes (x-runpod-max-chunk-bytes): yield the output in smaller pieces"
        )
    return json.loads(text)


def _safe_str(exc: BaseException) -> str:
    try:
        return str(exc)
    except BaseException:  # a broken __str__ must not break the error report
        return f"<str() of {type(exc).__name__} raised>"


def _describe(exc: BaseException) -> str:
    message = _safe_str(exc)
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


def error_document(exc: BaseException) -> str:
    """The job's ``error`` for an exception: a JSON *string* shaped like the runpod worker
    SDK's (``error_type``, ``error_message``, ``error_traceback``)."""
    kind = type(exc)
    name = (
        kind.__qualname__
        if kind.__module__ == "builtins"
        else f"{kind.__module__}.{kind.__qualname__}"
    )
    try:
        trace = "".join(traceback.format_exception(exc))
    except BaseException:  # formatting calls user code (__str__, __repr__)
        trace = f"{name}: {_safe_str(exc)}\n"
    return json.dumps(
        {"error_type": name, "error_message": _safe_str(exc), "error_traceback": trace}
    )


def _being_cancelled() -> bool:
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


async def invoke(
    handler: Handler,
    payload: dict[str, Any],
    emit: Callable[[Any], bool],
    *,
    aggregate: bool,
    max_chunk_bytes: int,
) -> Outcome:
    """Run ``handler`` on ``payload`` to its end and say how it went.

    Each streamed chunk is checked (JSON, at most ``max_chunk_bytes``) and handed to ``emit``,
    which returns ``False`` when the job no longer takes chunks; the handler is then left
    alone. ``aggregate`` makes the list of chunks the job's output
    (``return_aggregate_stream``). Never raises, except ``CancelledError`` when the calling
    task is cancelled.
    """
    try:
        if inspect.isasyncgenfunction(handler):
            result = handler(payload)
        elif inspect.iscoroutinefunction(handler):
            result = await handler(payload)
        else:
            result = await _in_thread(handler, payload)
        if inspect.isawaitable(result):
            result = await result
        if inspect.isasyncgen(result):
            async with contextlib.aclosing(result):
                return await _stream(result, emit, aggregate, max_chunk_bytes)
        if inspect.isgenerator(result):
            return await _stream(_sync_chunks(result), emit, aggregate, max_chunk_bytes)
        return _returned(result)
    except _Abandoned:
        return Outcome(JobStatus.CANCELLED)
    except _Raised as raised:
        return Outcome(JobStatus.FAILED, error=error_document(raised.exc))
    except asyncio.CancelledError as exc:
        if _being_cancelled():
            raise
        return Outcome(JobStatus.FAILED, error=error_document(exc))
    except BaseException as exc:  # SystemExit & co. fail the job, not the endpoint
        return Outcome(JobStatus.FAILED, error=error_document(exc))


def _returned(result: Any) -> Outcome:
    if result is None:
        return Outcome(JobStatus.COMPLETED)
    try:
        output = json_snapshot(result)
    except ValueError as exc:
        raise ValueError(f"the handler's return value is {exc}") from None
    if isinstance(output, dict) and "error" in output:
        # runpod's worker pops a returned `error` into the job's error; the rest stays output.
        error = output.pop("error")
        return Outcome(
            JobStatus.FAILED,
            output=output if output else UNSET,
            error=error if isinstance(error, str) else json.dumps(error),
        )
    return Outcome(JobStatus.COMPLETED, output=output)


async def _stream(
    chunks: AsyncIterator[Any],
    emit: Callable[[Any], bool],
    aggregate: bool,
    max_chunk_bytes: int,
) -> Outcome:
    aggregated: list[Any] = []
    index = 0
    async for chunk in chunks:
        index += 1
        value = _chunk_snapshot(chunk, index, max_chunk_bytes)
        if not emit(value):
            raise _Abandoned
        if aggregate:
            aggregated.append(value)
    return Outcome(JobStatus.COMPLETED, output=aggregated if aggregate else UNSET)


async def _sync_chunks(generator: Iterator[Any]) -> AsyncIterator[Any]:
    # Each step runs in a worker thread: a blocking generator must not stall the engine loop.
    while (chunk := await _in_thread(next, generator, _EXHAUSTED)) is not _EXHAUSTED:
        yield chunk
