"""The fault matrix through ``AsyncEndpoint``, on each HTTP backend: the asyncio transports
classify transport failures themselves, so they must reach exactly the outcomes of the
blocking client (same ``EXPECTED`` table, same invariants). Every operation runs against
the faults that exercise the transport (status codes, bodies, dropped connections at each
point, a hung server, nothing listening)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from runpod_facade import AsyncEndpoint
from tests.backends import BACKENDS

from .conftest import FAST_POLL, FAST_RETRY, Servers
from .test_fault_matrix import (
    EXPECTED,
    HTTP_TIMEOUT,
    KNOWN_BUGS,
    OPERATIONS,
    Cell,
    Expect,
    run_cell,
)

ASYNC_FAULTS = (
    "429 Retry-After: 1",
    "503",
    "html 200",
    "truncated",
    "drop",
    "drop_after",
    "drop_mid_body",
    "hang",
    "refused",
)

#: The report's name for the cells of each backend.
CLIENT = {"httpx": "async", "aiohttp": "async-aiohttp"}


async def _act(cell: Cell, ep: AsyncEndpoint) -> Any:
    op, job_id = cell.op, cell.job_id
    if op == "run":
        return await ep.run({"task": "echo", "cell": cell.fault})
    if op == "run_sync":
        return await ep.run_sync({"task": "echo", "cell": cell.fault}, timeout=cell.wait_timeout)
    if op == "purge_queue":
        return await ep.purge_queue()
    if op == "health":
        return await ep.health()
    assert job_id is not None
    if op == "wait":
        return await ep.wait_state(job_id, timeout=cell.wait_timeout)
    if op == "stream":
        return [chunk async for chunk in ep.stream(job_id, timeout=cell.wait_timeout)]
    if op == "status":
        return await ep.status(job_id)
    if op == "cancel":
        return await ep.cancel(job_id)
    return await ep.retry(job_id)


def invoker(backend: str) -> Any:
    def invoke_async(cell: Cell, base_url: str) -> Any:
        async def main() -> Any:
            async with AsyncEndpoint(
                cell.local.endpoint_id,
                base_url=base_url,
                api_key=cell.local.api_key,
                timeout=HTTP_TIMEOUT,
                retry_policy=FAST_RETRY,
                poll_policy=FAST_POLL,
                http_backend=backend,  # type: ignore[arg-type]
            ) as ep:
                return await _act(cell, ep)

        return asyncio.run(main())

    return invoke_async


def _cells() -> Iterator[Any]:
    for backend in BACKENDS:
        for fault in ASYNC_FAULTS:
            for op in OPERATIONS:
                if (op, fault) in KNOWN_BUGS:
                    continue  # covered (and reported) by the blocking matrix; too slow to repeat
                expect = EXPECTED[fault][OPERATIONS.index(op)]
                yield pytest.param(backend, op, fault, expect, id=f"{CLIENT[backend]}-{op}-{fault}")


@pytest.mark.parametrize(("backend", "op", "fault", "expect"), list(_cells()))
def test_async_cell(
    backend: str,
    op: str,
    fault: str,
    expect: Expect,
    servers: Servers,
    request: pytest.FixtureRequest,
) -> None:
    run_cell(CLIENT[backend], invoker(backend), op, fault, expect, servers, request.node.nodeid)
