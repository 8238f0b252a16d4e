"""Choosing the HTTP backend of ``AsyncEndpoint``, and what must not differ between them:
the requests on the wire, redirects, a caller's own client, reuse across event loops."""

from __future__ import annotations

import asyncio
import json
import logging
import subprocess
import sys
import warnings
from typing import Any

import aiohttp
import httpx
import pytest

from runpod_facade import APIError, AsyncEndpoint, InvalidInputError, RunpodError
from tests._support.backends import BACKENDS
from tests._support.rawserver import Exchange, RawServer, job_reply

KEY = "rp_backend_test_key_0123456789"


async def answer(x: Exchange) -> None:
    while True:
        request = await x.read_request()
        await x.reply(200, job_reply(request))


def endpoint(base_url: str, backend: str, **kwargs: Any) -> AsyncEndpoint:
    return AsyncEndpoint(
        "ep", base_url=base_url, api_key=KEY, http_backend=backend, max_retries=0, **kwargs
    )


# --- choosing ----------------------------------------------------------------------------------


def test_an_unknown_backend_is_refused_before_anything_is_sent() -> None:
    with pytest.raises(InvalidInputError, match="http_backend must be one of 'httpx', 'aiohttp'"):
        AsyncEndpoint("ep", api_key=KEY, http_backend="requests")  # type: ignore[arg-type]


def test_a_client_of_the_other_library_is_refused() -> None:
    with pytest.raises(InvalidInputError, match=r"aiohttp\.ClientSession"):
        AsyncEndpoint("ep", api_key=KEY, http_backend="aiohttp", http_client=httpx.AsyncClient())

    async def with_session() -> None:
        async with aiohttp.ClientSession() as session:
            with pytest.raises(InvalidInputError, match=r"httpx\.AsyncClient"):
                AsyncEndpoint("ep", api_key=KEY, http_client=session)

    asyncio.run(with_session())


def test_without_aiohttp_the_error_names_the_extra() -> None:
    code = (
        "import sys; sys.modules['aiohttp'] = None\n"
        "from runpod_facade import AsyncEndpoint\n"
        "AsyncEndpoint('ep', api_key='k' * 20)  # httpx still works\n"
        "try:\n"
        "    AsyncEndpoint('ep', api_key='k' * 20, http_backend='aiohttp')\n"
        "except ImportError as exc:\n"
        "    print(exc)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert 'pip install "runpod-facade[aiohttp]"' in out.stdout


def test_importing_the_facade_imports_neither_asyncio_nor_aiohttp() -> None:
    code = (
        "import sys, runpod_facade\n"
        "print(*(m in sys.modules for m in ('asyncio', 'aiohttp', 'runpod_facade._transports.aiohttp')))\n"
        "runpod_facade.AsyncEndpoint('ep', api_key='k' * 20)\n"
        "print(*(m in sys.modules for m in ('asyncio', 'aiohttp')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split("\n")[:2] == ["False False False", "True False"]


# --- the same requests -------------------------------------------------------------------------


def test_both_backends_send_the_same_requests() -> None:
    sent: dict[str, list[tuple[str, str, dict[str, str], bytes]]] = {}
    for backend in BACKENDS:
        with RawServer(answer) as server:

            async def calls(url: str = server.base_url, name: str = backend) -> None:
                async with endpoint(url, name) as ep:
                    await ep.run({"prompt": "hi"})
                    await ep.status("job/1?#", ttl=61)
                    await ep.cancel("job-1")

            asyncio.run(calls())
        sent[backend] = [
            (h.method, h.target, {k.lower(): v for k, v in h.headers}, h.body) for h in server.heads
        ]
    httpx_sent, aiohttp_sent = sent["httpx"], sent["aiohttp"]
    assert [(m, t, b) for m, t, _, b in httpx_sent] == [(m, t, b) for m, t, _, b in aiohttp_sent]
    assert [t for _, t, _, _ in httpx_sent] == [
        "/v2/ep/run",
        "/v2/ep/status/job%2F1%3F%23?ttl=61000",
        "/v2/ep/cancel/job-1",
    ]
    ours = ("authorization", "accept", "user-agent", "content-type", "content-length")
    for (_, _, h1, _), (_, _, h2, _) in zip(httpx_sent, aiohttp_sent, strict=True):
        assert {k: h1.get(k) for k in ours} == {k: h2.get(k) for k in ours}
        assert h1["authorization"] == f"Bearer {KEY}"
        assert "gzip" in h1["accept-encoding"] and "gzip" in h2["accept-encoding"]


@pytest.mark.parametrize("backend", BACKENDS)
async def test_a_large_body_is_sent_whole_and_without_a_library_warning(backend: str) -> None:
    """Over 1 MiB, aiohttp warns (ResourceWarning) that raw bytes may block the loop: a user
    whose tests turn warnings into errors would see the submit fail. Sent in chunks, the body
    still arrives byte for byte, with its length."""
    payload = {"blob": "é" * (3 * 1024 * 1024 // 2)}  # ~3 MiB of UTF-8
    with RawServer(answer) as server:
        async with endpoint(server.base_url, backend) as ep:
            with warnings.catch_warnings():
                warnings.simplefilter("error")
                await ep.run(payload)
    (head,) = server.heads
    headers = {k.lower(): v for k, v in head.headers}
    assert headers["content-length"] == str(len(head.body))
    assert headers["content-type"] == "application/json"
    assert json.loads(head.body) == {"input": payload}


@pytest.mark.parametrize("backend", BACKENDS)
async def test_redirects_are_never_followed(backend: str) -> None:
    async def redirect(x: Exchange) -> None:
        await x.read_request()
        x.send(
            b"HTTP/1.1 307 Temporary Redirect\r\nlocation: /v2/elsewhere\r\ncontent-length: 0\r\n\r\n"
        )
        await x.writer.drain()

    with RawServer(redirect) as server:
        async with endpoint(server.base_url, backend) as ep:
            with pytest.raises(APIError) as info:
                await ep.run({"a": 1})
    assert info.value.status_code == 307
    assert [h.target for h in server.heads] == ["/v2/ep/run"]


# --- a caller's own client ---------------------------------------------------------------------


async def test_a_callers_aiohttp_session_is_used_and_left_open() -> None:
    with RawServer(answer) as server:
        async with aiohttp.ClientSession(headers={"X-Caller": "yes"}) as session:
            async with endpoint(server.base_url, "aiohttp", http_client=session) as ep:
                assert (await ep.status("j1")).id == "j1"
            assert not session.closed
            async with session.get(f"{server.base_url}/ep/health") as response:
                assert response.status == 200
    (head, _) = server.heads
    assert head.header("x-caller") == "yes"
    assert head.header("authorization") == f"Bearer {KEY}"


def test_a_callers_aiohttp_session_is_bound_to_its_loop() -> None:
    with RawServer(answer) as server:
        holder: dict[str, Any] = {}

        async def first() -> None:
            async with aiohttp.ClientSession() as session:
                holder["ep"] = ep = endpoint(server.base_url, "aiohttp", http_client=session)
                await ep.status("j1")

        async def second() -> None:
            # Refused before the session (closed with its loop) is touched.
            with pytest.raises(RunpodError, match="another event loop"):
                await holder["ep"].status("j1")

        asyncio.run(first())
        asyncio.run(second())
    assert len(server.heads) == 1


# --- one endpoint, several event loops ---------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
def test_one_endpoint_serves_one_event_loop_after_another(
    backend: str, caplog: pytest.LogCaptureFixture
) -> None:
    with RawServer(answer) as server:
        ep = endpoint(server.base_url, backend)
        clients: list[Any] = []

        async def use(job_id: str) -> str:
            results = await asyncio.gather(*(ep.status(f"{job_id}-{i}") for i in range(5)))
            clients.append(ep._driver.transport.client)  # type: ignore[attr-defined]
            return results[0].id

        with warnings.catch_warnings():
            warnings.simplefilter("error", ResourceWarning)
            with caplog.at_level(logging.WARNING):
                assert asyncio.run(use("a")) == "a-0"
                assert asyncio.run(use("b")) == "b-0"

                async def close() -> None:
                    await ep.aclose()

                asyncio.run(close())
    first, second = clients
    assert first is not second
    # Each loop's client was closed as that loop shut down: nothing left open, nothing logged.
    closed = (lambda c: c.is_closed) if backend == "httpx" else (lambda c: c.closed)
    assert closed(first) and closed(second)
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING], caplog.text
    assert len(server.heads) == 10


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_proxy_named_by_the_environment_is_used(
    backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with RawServer(answer) as proxy:
        monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{proxy.port}")
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        origin = "http://127.0.0.1:9/v2"  # nothing listens there: only the proxy can answer

        async def call() -> str:
            async with endpoint(origin, backend) as ep:
                return (await ep.status("j1")).id

        assert asyncio.run(call()) == "j1"
    assert [h.target for h in proxy.heads] == ["http://127.0.0.1:9/v2/ep/status/j1"]


# --- per-request work done once --------------------------------------------------------------


def test_aiohttp_parses_the_url_of_a_request_about_no_job_once() -> None:
    from runpod_facade._transports.aiohttp import AiohttpTransport

    with RawServer(answer) as server:

        async def calls() -> AiohttpTransport:
            async with endpoint(server.base_url, "aiohttp") as ep:
                for n in range(3):
                    await ep.run({"n": n})
                await ep.status("job-a")
                await ep.status("job/b")
                transport = ep._driver.transport
                assert isinstance(transport, AiohttpTransport)
                return transport

        transport = asyncio.run(calls())
    assert [h.target for h in server.heads] == [
        *["/v2/ep/run"] * 3,
        "/v2/ep/status/job-a",
        "/v2/ep/status/job%2Fb",
    ]
    assert [h.body for h in server.heads[:3]] == [b'{"input":{"n":%d}}' % n for n in range(3)]
    # Job URLs are all different: parsed each time, never kept.
    assert list(transport._urls) == [f"{server.base_url}/ep/run"]


def test_aiohttp_converts_equal_timeouts_once_and_other_ones_afresh() -> None:
    from runpod_facade._transports.aiohttp import AiohttpTransport
    from runpod_facade._transports.base import Timeouts

    transport = AiohttpTransport("http://127.0.0.1:9/v2", {})
    first = transport._timeout_of(Timeouts(connect=5.0, read=100.0, write=5.0, pool=None), False)
    again = transport._timeout_of(Timeouts(connect=5.0, read=100.0, write=5.0, pool=None), False)
    assert again is first and (first.sock_read, first.sock_connect, first.connect) == (100, 5, 5)
    # Our own session's pool never waits (the gate does): a pool timeout changes nothing.
    pooled = transport._timeout_of(Timeouts(connect=5.0, read=100.0, write=5.0, pool=7.5), False)
    assert pooled is first
    other = transport._timeout_of(Timeouts(connect=5.0, read=42.0, write=5.0, pool=None), False)
    assert other is not first and other.sock_read == 42.0
    with_body = transport._timeout_of(Timeouts(connect=5.0, read=42.0, write=5.0, pool=None), True)
    assert with_body.total == 52.0 and other.total is None


def test_aiohttp_remembers_conversions_by_identity_while_the_objects_live() -> None:
    from runpod_facade._transports.aiohttp import AiohttpTransport
    from runpod_facade._transports.base import Timeouts

    transport = AiohttpTransport("http://127.0.0.1:9/v2", {})
    default = Timeouts(connect=5.0, read=30.0, write=30.0, pool=30.0)
    long_poll = Timeouts(connect=5.0, read=100.0, write=30.0, pool=None)
    # A wait alternates the two: each is converted once, then found by identity.
    converted = [transport._timeout_of(t, False) for t in (default, long_poll) * 3]
    assert [c.sock_read for c in converted] == [30.0, 100.0] * 3
    assert converted[0::2] == [converted[0]] * 3 and converted[1::2] == [converted[1]] * 3
    # Timeouts made per request (a deadline caps the pool wait, which our session does not
    # read) are converted by their values and not remembered one by one.
    remembered = dict(transport._seen_timeouts)
    capped = [transport._timeout_of(Timeouts(5.0, 100.0, 30.0, 600.0 - n), False) for n in range(9)]
    assert capped == [converted[1]] * 9 and transport._seen_timeouts == remembered
    # Objects made and dropped one after another may share an id: each still gets its own
    # values, as the cache keeps every object it remembers alive.
    reads = [
        transport._timeout_of(Timeouts(5.0, float(n), 30.0, None), False).sock_read
        for n in range(1, 200)
    ]
    assert reads == [float(n) for n in range(1, 200)]


def test_aiohttp_writes_each_shared_query_once_and_every_query_right() -> None:
    from runpod_facade._transports.aiohttp import AiohttpTransport
    from runpod_facade._wire.requests import build_request

    transport = AiohttpTransport("http://127.0.0.1:9/v2", {})

    def url(job_id: str, wait_ms: int) -> str:
        request = build_request("status-sync", "ep", job_id=job_id, wait_ms=wait_ms)
        return str(transport._url(request))

    # A long-poll's query is one shared mapping per hold: written once, found by identity.
    assert url("j-1", 90_000) == "http://127.0.0.1:9/v2/ep/status-sync/j-1?wait=90000"
    assert url("j-2", 90_000) == "http://127.0.0.1:9/v2/ep/status-sync/j-2?wait=90000"
    assert len(transport._queries) == 1
    # Queries made and dropped one after another may share an id: each still gets its own
    # text, as the cache keeps every mapping it remembers alive (and is cleared when full).
    for n in range(1_000, 1_200):
        request = build_request("status", "ep", job_id="j-3", ttl=n)
        assert str(transport._url(request)).endswith(f"/ep/status/j-3?ttl={n}")
    assert url("j-4", 2_000) == "http://127.0.0.1:9/v2/ep/status-sync/j-4?wait=2000"


def test_aiohttp_adds_the_pool_wait_to_connect_on_a_callers_session() -> None:
    from runpod_facade._transports.aiohttp import AiohttpTransport
    from runpod_facade._transports.base import Timeouts

    async def convert() -> list[float | None]:
        async with aiohttp.ClientSession() as session:
            transport = AiohttpTransport("http://127.0.0.1:9/v2", {}, session)
            return [
                transport._timeout_of(
                    Timeouts(connect=5.0, read=1.0, write=1.0, pool=pool), False
                ).connect
                for pool in (None, 2.5, 2.5, 4.0)
            ]

    assert asyncio.run(convert()) == [5.0, 7.5, 7.5, 9.0]


def test_aiohttp_arms_a_total_timer_only_for_a_body_that_can_stall_the_writer() -> None:
    from runpod_facade._transports.aiohttp import UNSTALLABLE_BODY, AiohttpTransport

    with RawServer(answer) as server:

        async def calls() -> list[float | None]:
            async with endpoint(server.base_url, "aiohttp") as ep:
                transport = ep._driver.transport
                assert isinstance(transport, AiohttpTransport)
                totals: list[float | None] = []
                convert = transport._timeout_of

                def spy(timeouts: Any, big_body: bool) -> Any:
                    converted = convert(timeouts, big_body)
                    totals.append(converted.total)
                    return converted

                transport._timeout_of = spy  # type: ignore[method-assign]
                await ep.run({"n": 1})  # a few bytes
                await ep.run({"blob": "x" * (UNSTALLABLE_BODY - 100)})  # just under
                await ep.run({"blob": "x" * UNSTALLABLE_BODY})  # just over
                await ep.status("job-a")  # no body
                return totals

        totals = asyncio.run(calls())
    assert totals[:2] == [None, None] and totals[3] is None
    assert totals[2] == 5.0 + 30.0 + 30.0  # connect + write + read of the default Timeout
