"""The local endpoint's behaviour: what each operation of the spec does, in one mapping.

:data:`BEHAVIOURS` maps an operation name of ``runpod_generated.operations.OPERATIONS`` to a
coroutine that turns one request (its query, body and job id) into a reply, using the
:class:`~._engine.Engine`. Routing, auth, faults and the request log are done before it is
called (:mod:`._app`). Adding an operation to the spec means adding its entry here; until then
its route answers 501.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, TypeVar

from runpod_generated.operations import OperationInfo

from . import _limits
from ._engine import Engine
from ._http import Exchange
from ._validation import parse_job_request, parse_ms_query

__all__ = ["BEHAVIOURS", "Behaviour", "Call", "Reply"]

_T = TypeVar("_T")

#: HTTP status and JSON body of a reply.
Reply = tuple[int, dict[str, Any]]


@dataclass(frozen=True)
class Call:
    """One request to an operation, as its behaviour sees it."""

    engine: Engine
    info: OperationInfo
    job_id: str | None
    query: Mapping[str, str]
    exchange: Exchange

    async def on_engine(self, coro: Coroutine[Any, Any, _T]) -> _T:
        """Run an engine operation (on the engine loop) and return its result."""
        return await self.engine.call(coro)

    async def body(self) -> bytes:
        """The request body; 413 over the operation's ``x-runpod-max-payload-bytes`` (``/run``'s
        10 MiB when the spec gives the operation none)."""
        limit = self.info.max_payload_bytes
        return await self.exchange.read_body(
            limit if limit is not None else _limits.MAX_RUN_PAYLOAD_BYTES
        )

    def wait_s(self, default_ms: int) -> float:
        """The ``wait`` query parameter (ms, within the spec's bounds), in seconds."""
        wait_ms = parse_ms_query(
            self.query, "wait", default_ms, _limits.WAIT_MIN_MS, _limits.WAIT_MAX_MS
        )
        assert wait_ms is not None
        return wait_ms / 1000

    @property
    def job(self) -> str:
        """The job id of a job-scoped operation."""
        assert self.job_id is not None
        return self.job_id


Behaviour = Callable[[Call], Awaitable[Reply]]


def _found(call: Call, body: dict[str, Any] | None) -> Reply:
    return (200, body) if body is not None else (404, {"error": f"job {call.job_id} not found"})


async def _run(call: Call) -> Reply:
    spec = parse_job_request(await call.body())
    reply = await call.on_engine(call.engine.submit(spec, sync=False))
    call.exchange.record.job_id = reply["id"]
    return 200, reply


async def _runsync(call: Call) -> Reply:
    wait_s = call.wait_s(_limits.DEFAULT_RUNSYNC_WAIT_MS)
    spec = parse_job_request(await call.body())
    reply = await call.on_engine(call.engine.run_sync(spec, wait_s))
    if reply is None:
        return 404, {"error": "job expired before it finished"}
    call.exchange.record.job_id = reply["id"]
    return 200, reply


async def _status(call: Call) -> Reply:
    ttl_ms = parse_ms_query(call.query, "ttl", None, _limits.STATUS_TTL_MIN_MS, None)
    return _found(call, await call.on_engine(call.engine.status(call.job, ttl_ms)))


async def _status_sync(call: Call) -> Reply:
    wait_s = call.wait_s(_limits.DEFAULT_RUNSYNC_WAIT_MS)
    return _found(call, await call.on_engine(call.engine.status_sync(call.job, wait_s)))


async def _stream(call: Call) -> Reply:
    wait_s = call.wait_s(_limits.DEFAULT_STREAM_WAIT_MS)
    return _found(call, await call.on_engine(call.engine.stream(call.job, wait_s)))


async def _cancel(call: Call) -> Reply:
    return _found(call, await call.on_engine(call.engine.cancel(call.job)))


async def _retry(call: Call) -> Reply:
    return _found(call, await call.on_engine(call.engine.retry(call.job)))


async def _purge_queue(call: Call) -> Reply:
    return 200, await call.on_engine(call.engine.purge_queue())


async def _health(call: Call) -> Reply:
    return 200, await call.on_engine(call.engine.health())


#: Operation name -> its behaviour.
BEHAVIOURS: Mapping[str, Behaviour] = MappingProxyType(
    {
        "run": _run,
        "runsync": _runsync,
        "status": _status,
        "status-sync": _status_sync,
        "stream": _stream,
        "cancel": _cancel,
        "retry": _retry,
        "purge-queue": _purge_queue,
        "health": _health,
    }
)
