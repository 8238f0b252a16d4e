"""Soak: requests the local endpoint drops (connection reset, server disconnected).

Starts the local endpoint (``runpod_facade.local.LocalEndpoint``, ``noop`` handler) in a
process of its own, then runs ``--jobs`` no-op jobs at ``--concurrency`` through a raw
aiohttp and/or httpx client (``POST /run`` then ``/status-sync`` long-polls until terminal)
and counts the requests that failed at the transport level. A failed request is sent again,
so every job still completes. Not a test.

    .venv/bin/python -m benchmarks.local_resets [--jobs 10000] [--concurrency 100] \
        [--client aiohttp|httpx|both] [--runs 1] [--waves 1 --pause 0] [--keep-alive S]

``--waves N --pause S`` splits the jobs into N bursts with S idle seconds between them: the
pool's connections then sit idle, which a steady run never lets them do. With the server's
old 5 s keep-alive (``--keep-alive 5``) and ``--pause 5``, the server closes the idle
connections just as aiohttp (15 s pool expiry) takes them to send the next burst, and some
of those requests fail: the keep-alive race :data:`runpod_facade.local._background.KEEP_ALIVE_S`
avoids.

Prints one line per run: the client, the jobs, the seconds, the failed requests by exception
type; and the first few failures in full.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from ._common import TERMINAL
from ._servers import LocalServer

#: One request: (method, path, params, json body) -> the reply's JSON.
Request = Callable[[str, str, dict[str, str], Any], Awaitable[dict[str, Any]]]


@contextlib.asynccontextmanager
async def _aiohttp_client(server: LocalServer, concurrency: int) -> AsyncIterator[Request]:
    import aiohttp

    # aiohttp's defaults but for the pool size, as a hand-written client would have them.
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector, headers=server.headers) as session:

        async def request(method: str, path: str, params: dict[str, str], body: Any) -> Any:
            async with session.request(
                method, server.url + path, params=params, json=body
            ) as reply:
                reply.raise_for_status()
                return await reply.json()

        yield request


@contextlib.asynccontextmanager
async def _httpx_client(server: LocalServer, concurrency: int) -> AsyncIterator[Request]:
    import httpx

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(
        headers=server.headers, limits=limits, timeout=httpx.Timeout(30.0, read=120.0)
    ) as client:

        async def request(method: str, path: str, params: dict[str, str], body: Any) -> Any:
            reply = await client.request(method, server.url + path, params=params, json=body)
            reply.raise_for_status()
            return reply.json()

        yield request


CLIENTS = {"aiohttp": _aiohttp_client, "httpx": _httpx_client}


async def _run(
    server: LocalServer, client: str, jobs: int, concurrency: int, waves: int, pause: float
) -> dict[str, Any]:
    failures: collections.Counter[str] = collections.Counter()
    samples: list[str] = []
    started = time.perf_counter()

    async with CLIENTS[client](server, concurrency) as request:

        async def retried(method: str, path: str, params: dict[str, str], body: Any) -> Any:
            while True:
                try:
                    return await request(method, path, params, body)
                except Exception as exc:  # a transport failure: count it, send again
                    kind = type(exc).__name__
                    failures[kind] += 1
                    if len(samples) < 5:
                        samples.append(f"{time.perf_counter() - started:7.2f}s {kind}: {exc!r}")

        gate = asyncio.Semaphore(concurrency)

        async def one(index: int) -> None:
            async with gate:
                state = await retried("POST", "/run", {}, {"input": {"n": index}})
                while state["status"] not in TERMINAL:
                    state = await retried(
                        "GET", f"/status-sync/{state['id']}", {"wait": "60000"}, None
                    )

        per_wave = jobs // waves
        for wave in range(waves):
            if wave:
                await asyncio.sleep(pause)
            await asyncio.gather(*(one(index) for index in range(per_wave)))
    return {
        "client": client,
        "jobs": per_wave * waves,
        "seconds": time.perf_counter() - started,
        "failures": dict(failures),
        "samples": samples,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument("--client", choices=[*CLIENTS, "both"], default="both")
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--waves", type=int, default=1, help="bursts of jobs")
    parser.add_argument("--pause", type=float, default=0.0, help="idle seconds between bursts")
    parser.add_argument(
        "--keep-alive", type=int, default=None, help="the server's keep-alive seconds instead"
    )
    args = parser.parse_args(argv)
    clients = list(CLIENTS) if args.client == "both" else [args.client]
    total = 0
    for run in range(args.runs):
        for client in clients:
            # A fresh server per run: every run starts from a cold accept queue.
            with LocalServer(
                "runpod_facade.local.sample_handlers:noop",
                workers=args.workers,
                keep_alive=args.keep_alive,
            ) as server:
                result = asyncio.run(
                    _run(server, client, args.jobs, args.concurrency, args.waves, args.pause)
                )
            failed = sum(result["failures"].values())
            total += failed
            print(
                f"run {run + 1} {client:<8} {result['jobs']} jobs "
                f"{result['seconds']:6.1f} s  failed requests: {failed} {result['failures']}",
                flush=True,
            )
            for sample in result["samples"]:
                print(f"    {sample}", flush=True)
    print(f"total failed requests: {total}", flush=True)


if __name__ == "__main__":
    main()
