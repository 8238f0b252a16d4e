"""One ``AsyncEndpoint`` under concurrency, over real loopback HTTP, on each backend:

* short calls never queue behind long-polls: with 150 waits pending, ``status`` reaches the
  server while every long-poll it holds is still held, and no more long-polls than the
  gate's share are ever at the server at once (100 through the client's own pool, 90
  through a caller's ``http_client`` with the library's default pool of 100);
* connections are reused: a run opens at most about one connection per concurrent request
  (counted by a proxy that counts the connections it accepts), not one per request.

Only ordering and counting facts are asserted, never speed.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest

from runpod_facade import AsyncEndpoint, AsyncJob, JobStatus, PollPolicy, RetryPolicy
from runpod_facade._constants import CALLER_CLIENT_IN_FLIGHT, MAX_IN_FLIGHT, SHORT_CALL_RESERVE
from runpod_facade.local import LocalEndpoint
from tests._support.backends import BACKENDS
from tests._support.handlers import dispatch
from tests._support.rawserver import Exchange, RawServer

WAITS = 150
LONG_POLL_SHARE = MAX_IN_FLIGHT - SHORT_CALL_RESERVE
FAST_RETRY = RetryPolicy(max_retries=3, initial_delay=0.01, max_delay=0.05)


@pytest.fixture
def one_worker() -> Iterator[LocalEndpoint]:
    with LocalEndpoint(dispatch, workers=1) as local:
        yield local


async def until(condition: Callable[[], bool], seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.02)


@contextlib.asynccontextmanager
async def callers_client(backend: str) -> AsyncIterator[Any]:
    """The library's client with its default pool (100 connections), as a caller makes it."""
    if backend == "aiohttp":
        import aiohttp

        async with aiohttp.ClientSession() as session:
            yield session
    else:
        import httpx

        async with httpx.AsyncClient() as client:
            yield client


@pytest.mark.parametrize("own_pool", [True, False], ids=["own pool", "caller's client"])
@pytest.mark.parametrize("backend", BACKENDS)
async def test_status_does_not_queue_behind_pending_long_polls(
    backend: str, own_pool: bool, one_worker: LocalEndpoint
) -> None:
    local = one_worker
    share = LONG_POLL_SHARE if own_pool else CALLER_CLIENT_IN_FLIGHT - SHORT_CALL_RESERVE
    async with contextlib.AsyncExitStack() as stack:
        client = None if own_pool else await stack.enter_async_context(callers_client(backend))
        ep = await stack.enter_async_context(
            AsyncEndpoint(
                local.endpoint_id,
                base_url=local.base_url,
                api_key=local.api_key,
                retry_policy=FAST_RETRY,
                http_backend=backend,  # type: ignore[arg-type]
                http_client=client,
            )
        )
        blocker = await ep.run({"task": "sleep", "seconds": 60})  # the only worker is busy
        jobs = await asyncio.gather(*(ep.run({"task": "echo", "i": i}) for i in range(WAITS)))
        waits = [asyncio.create_task(job.wait(timeout=60)) for job in jobs]

        def held() -> list[object]:
            return [
                r for r in local.requests if r.operation == "status-sync" and r.status_code is None
            ]

        try:
            await until(lambda: len(held()) >= share)
            await asyncio.sleep(0.2)  # time for any long-poll beyond the share to arrive
            assert len(held()) == share  # the other waits queue in the client
            seen = len(local.requests)
            state = await ep.status(jobs[-1].id)
            assert state.status is JobStatus.IN_QUEUE
            status_requests = [r for r in local.requests[seen:] if r.operation == "status"]
            assert [r.status_code for r in status_requests] == [200]
            # Not one long-poll had been answered: the status call overtook all of them.
            answered = [
                r
                for r in local.requests
                if r.operation == "status-sync" and r.status_code is not None
            ]
            assert answered == []
            assert not any(wait.done() for wait in waits)
        finally:
            for wait in waits:
                wait.cancel()
            await asyncio.gather(*waits, return_exceptions=True)
            await ep.purge_queue()
            await ep.cancel(blocker.id)


def counting_proxy(target_port: int) -> RawServer:
    """A TCP proxy to ``target_port``; its ``accepts`` counts the client's connections."""

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()

    async def forward(x: Exchange) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", target_port)
        await asyncio.gather(pipe(x.reader, writer), pipe(reader, x.writer))

    return RawServer(forward)


@pytest.mark.parametrize("backend", BACKENDS)
def test_connections_are_reused_not_churned(backend: str) -> None:
    concurrency, jobs = 40, 400
    with (
        LocalEndpoint(dispatch, workers=8) as local,
        counting_proxy(local.port) as proxy,
    ):

        async def main() -> list[object]:
            async with AsyncEndpoint(
                local.endpoint_id,
                base_url=proxy.base_url,
                api_key=local.api_key,
                retry_policy=FAST_RETRY,
                poll_policy=PollPolicy(initial=0.02, maximum=0.1),
                http_backend=backend,  # type: ignore[arg-type]
            ) as ep:
                gate = asyncio.Semaphore(concurrency)

                async def one(i: int) -> object:
                    async with gate:
                        job: AsyncJob = await ep.run({"task": "sleep", "seconds": 0.02, "i": i})
                        return await job.wait(timeout=60)

                return await asyncio.gather(*(one(i) for i in range(jobs)))

        outputs = asyncio.run(main())
    assert len(outputs) == jobs
    requests = sum(1 for r in local.requests if r.operation in ("run", "status-sync"))
    assert requests >= 2 * jobs
    # Each of the 800+ requests could have opened its own connection; at most two per
    # concurrent caller were opened (one each, plus slack for the server's keep-alive).
    assert 0 < proxy.accepts <= 2 * concurrency, f"{proxy.accepts} connections"
