"""httpx is imported only by what sends with it (issue #17's cold import and per-job cost).

``import runpod_facade`` and an ``AsyncEndpoint(http_backend="aiohttp")`` doing its work leave
httpx unimported: it was a third of the package's cold import, and ~10k objects that every
full pass of the garbage collector walked (benchmarks/results.md). ``Endpoint`` and the httpx
backend still import it and work. Each client runs in a fresh interpreter against the local endpoint, which
runs here (the server's own imports are not the client's).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from runpod_facade.local import LocalEndpoint
from tests._support.handlers import dispatch

#: The packages of the httpx stack: none is imported by a client that never sends with httpx.
HTTPX_STACK = ("httpx", "httpcore", "anyio")

_CLIENT = """
import asyncio, json, os, sys, tempfile
import runpod_facade
URL, KEY, ENDPOINT_ID = sys.argv[1:4]
STACK = {stack!r}
loaded_on_import = sorted(m for m in sys.modules if m.split(".")[0] in STACK)
{body}
print(json.dumps({{
    "on_import": loaded_on_import,
    "after": sorted(m for m in sys.modules if m.split(".")[0] in STACK),
    "outputs": outputs,
}}))
"""

# The calls of the asyncio client over one backend: a job waited for and run_many, then (for
# ``more``) a stream, run_sync, a journaled map, the endpoint's calls and an error reply.
_ASYNC_CALLS = """
async def calls(ep):
    async with ep:
        job = await ep.run({{"n": 1}})
        outputs = [(await job.wait(timeout=30)).output]
        outputs += [state.output for state in await ep.run_many([{{"n": 2}}, {{"n": 3}}])]
        {more}
        return outputs

async def main():
    {session}
    ep = runpod_facade.AsyncEndpoint(ENDPOINT_ID, base_url=URL, api_key=KEY, {options})
    return await calls(ep)

outputs = asyncio.run(main())
"""
_MORE_ASYNC = """outputs += [[chunk async for chunk in job.stream(timeout=30)]]
        outputs += [(await ep.run_sync({"n": 4}, timeout=30)).output]
        with tempfile.TemporaryDirectory() as folder:
            journal = os.path.join(folder, "map.journal")
            outputs += [[item.output async for item in ep.map([{"n": 5}], journal=journal)]]
        await ep.health()
        await ep.cancel(job.id)
        await ep.purge_queue()
        try:
            await ep.status("no-such-job")
        except runpod_facade.NotFoundError as error:
            outputs += [type(error).__name__]"""
_SYNC_CALLS = """
with runpod_facade.Endpoint(ENDPOINT_ID, base_url=URL, api_key=KEY) as ep:
    job = ep.run({"n": 1})
    outputs = [job.wait(timeout=30).output]
    outputs += [state.output for state in ep.run_many([{"n": 2}, {"n": 3}])]
"""

_JOBS = [{"n": 1}, {"n": 2}, {"n": 3}]
# The stream of a handler that yields nothing has no chunks.
_MORE = [[], {"n": 4}, [{"n": 5}], "NotFoundError"]

#: client -> (its code, whether it imports httpx, the outputs it gets)
CLIENTS: dict[str, tuple[str, bool, list[Any]]] = {
    "AsyncEndpoint on aiohttp, every call": (
        _ASYNC_CALLS.format(more=_MORE_ASYNC, session="", options='http_backend="aiohttp"'),
        False,
        _JOBS + _MORE,
    ),
    "AsyncEndpoint on the caller's aiohttp.ClientSession": (
        _ASYNC_CALLS.format(
            more="",
            session="import aiohttp; session = aiohttp.ClientSession()",
            options='http_backend="aiohttp", http_client=session',
        ),
        False,
        _JOBS,
    ),
    "AsyncEndpoint on httpx (the default)": (
        _ASYNC_CALLS.format(more="", session="", options=""),
        True,
        _JOBS,
    ),
    "Endpoint": (_SYNC_CALLS, True, _JOBS),
}


@pytest.fixture(scope="module")
def local() -> Iterator[LocalEndpoint]:
    with LocalEndpoint(dispatch, workers=2) as ep:
        yield ep


@pytest.mark.parametrize("client", list(CLIENTS))
def test_httpx_is_imported_only_by_a_client_that_sends_with_it(
    local: LocalEndpoint, client: str
) -> None:
    body, imports_httpx, outputs = CLIENTS[client]
    code = _CLIENT.format(stack=HTTPX_STACK, body=body)
    out = subprocess.run(
        [sys.executable, "-c", code, local.base_url, local.api_key or "", local.endpoint_id],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    seen = json.loads(out.stdout.splitlines()[-1])
    assert seen["on_import"] == []
    assert seen["outputs"] == outputs
    assert ("httpx" in seen["after"]) is imports_httpx, seen["after"]
    if not imports_httpx:
        assert seen["after"] == []
