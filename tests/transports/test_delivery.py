"""What each async transport says about a request that got no reply, at every phase.

A raw loopback server drops the connection at a chosen point of the exchange; the transport
must call the failure ``NOT_SENT`` only when the request provably never left (refused,
connect timeout, reset before the connection was established, no slot in the client's
queue) and ``MAYBE_SENT`` once any of it may have reached the server — so a submit
(``/run``) is never sent twice. Checked at the transport (the exact exception behind each
row of the table in ``runpod_facade._transports.aiohttp``) and through ``AsyncEndpoint.run``.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass

import aiohttp
import httpx
import pytest
from aiohttp.client_reqrep import ConnectionKey

from runpod_facade import APIConnectionError, APITimeoutError, AsyncEndpoint, RetryPolicy
from runpod_facade._transports.aiohttp import AiohttpTransport, classify
from runpod_facade._transports.async_httpx import AsyncHttpxTransport
from runpod_facade._transports.base import ApiRequest, Delivery, Timeouts, TransportFailure
from runpod_facade._transports.gate import GatedTransport
from runpod_facade._wire.requests import build_request, encode_job
from tests._support.backends import BACKENDS
from tests._support.rawserver import Exchange, RawServer

TIMEOUTS = Timeouts(connect=1.0, read=0.5, write=0.5, pool=0.5)
RETRY = RetryPolicy(max_retries=2, initial_delay=0.01, max_delay=0.02)
PARTIAL = b'HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n{"id": "jo'


def transport(backend: str, base_url: str, **kwargs: int) -> GatedTransport[object]:
    cls = AiohttpTransport if backend == "aiohttp" else AsyncHttpxTransport
    return cls(base_url, {"Authorization": "Bearer k"}, **kwargs)  # type: ignore[return-value]


def run_request(payload: object = None) -> ApiRequest:
    body = encode_job(payload or {"a": 1})
    return build_request("run", "ep", body=body)


# --- the phases ------------------------------------------------------------------------------


async def close_on_accept(x: Exchange) -> None:
    x.close()


async def close_after_head(x: Exchange) -> None:
    await x.read_head()
    x.close()


async def reset_after_head(x: Exchange) -> None:
    await x.read_head()
    x.reset()


async def close_after_body(x: Exchange) -> None:
    await x.read_request()
    x.close()


async def reset_after_body(x: Exchange) -> None:
    await x.read_request()
    x.reset()


async def close_after_status_line(x: Exchange) -> None:
    await x.read_request()
    x.send(b"HTTP/1.1 200 OK\r\n")
    await x.writer.drain()
    x.close()


async def close_mid_body(x: Exchange) -> None:
    await x.read_request()
    x.send(PARTIAL)
    await x.writer.drain()
    x.close()


async def reset_mid_body(x: Exchange) -> None:
    await x.read_request()
    x.send(PARTIAL)
    await x.writer.drain()
    await asyncio.sleep(0.05)
    x.reset()


async def no_reply(x: Exchange) -> None:
    await x.read_request()
    await x.hold()


async def malformed_reply(x: Exchange) -> None:
    await x.read_request()
    x.send(b"HTTP/1.1 abc\r\n\r\n")
    await x.writer.drain()
    x.close()


@dataclass(frozen=True)
class Phase:
    behaviour: Callable[[Exchange], Awaitable[None]]
    delivery: Delivery
    timeout: bool
    # backend -> the library's exception class behind the failure ("a|b": either, by a race)
    raised: dict[str, str]
    heads: int  # request heads the server read (the request reached the application)


SENT = Delivery.MAYBE_SENT
PHASES = {
    # Connected, then closed before reading: the request was written, the client cannot
    # know that nobody read it. Whether the client then reads a reset (its bytes reached a
    # closed socket) or an end of stream (the server's loop had buffered them before the
    # close) is a race between the two threads; either way the request may have been sent.
    "closed on accept": Phase(
        close_on_accept,
        SENT,
        False,
        {
            "httpx": "ReadError|RemoteProtocolError",
            "aiohttp": "ClientOSError|ServerDisconnectedError",
        },
        0,
    ),
    "closed after the request head": Phase(
        close_after_head,
        SENT,
        False,
        {"httpx": "RemoteProtocolError", "aiohttp": "ServerDisconnectedError"},
        1,
    ),
    "reset after the request head": Phase(
        reset_after_head, SENT, False, {"httpx": "ReadError", "aiohttp": "ClientOSError"}, 1
    ),
    "closed after the whole request": Phase(
        close_after_body,
        SENT,
        False,
        {"httpx": "RemoteProtocolError", "aiohttp": "ServerDisconnectedError"},
        1,
    ),
    "reset after the whole request": Phase(
        reset_after_body, SENT, False, {"httpx": "ReadError", "aiohttp": "ClientOSError"}, 1
    ),
    "closed after the status line": Phase(
        close_after_status_line,
        SENT,
        False,
        {"httpx": "RemoteProtocolError", "aiohttp": "ServerDisconnectedError"},
        1,
    ),
    "closed mid reply body": Phase(
        close_mid_body,
        SENT,
        False,
        {"httpx": "RemoteProtocolError", "aiohttp": "ClientPayloadError"},
        1,
    ),
    "reset mid reply body": Phase(
        reset_mid_body, SENT, False, {"httpx": "ReadError", "aiohttp": "ClientPayloadError"}, 1
    ),
    "no reply (read timeout)": Phase(
        no_reply, SENT, True, {"httpx": "ReadTimeout", "aiohttp": "SocketTimeoutError"}, 1
    ),
    "malformed reply": Phase(
        malformed_reply,
        SENT,
        False,
        {"httpx": "RemoteProtocolError", "aiohttp": "ClientResponseError"},
        1,
    ),
}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("phase", PHASES)
async def test_transport_classifies_each_phase(backend: str, phase: str) -> None:
    expected = PHASES[phase]
    with RawServer(expected.behaviour) as server:
        sender = transport(backend, server.base_url)
        try:
            outcome = await sender.send(run_request(), TIMEOUTS)
        finally:
            await sender.aclose()
    assert isinstance(outcome, TransportFailure), outcome
    assert (outcome.delivery, outcome.timeout) == (expected.delivery, expected.timeout)
    assert outcome.message.split(":", 1)[0] in expected.raised[backend].split("|"), outcome.message
    assert (server.accepts, len(server.heads)) == (1, expected.heads)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("phase", PHASES)
async def test_run_is_never_sent_twice(backend: str, phase: str) -> None:
    """Through the public API: a submit that may have reached the server raises with
    ``request_sent=True`` and is not sent again; one that provably did not is retried."""
    expected = PHASES[phase]
    with RawServer(expected.behaviour) as server:
        async with AsyncEndpoint(
            "ep",
            base_url=server.base_url,
            api_key="k" * 20,
            timeout=httpx.Timeout(1.0, read=0.5),
            retry_policy=RETRY,
            http_backend=backend,  # type: ignore[arg-type]
        ) as ep:
            with pytest.raises(APIConnectionError) as info:
                await ep.run({"a": 1})
    error = info.value
    assert type(error) is (APITimeoutError if expected.timeout else APIConnectionError)
    if expected.delivery is Delivery.NOT_SENT:
        assert error.request_sent is False
        assert server.accepts == 1 + RETRY.max_retries  # retried: it never left
    else:
        assert error.request_sent is True
        assert "was not re-sent" in str(error)
        assert server.accepts == 1
        assert len(server.heads) == expected.heads


# --- failures before any connection ------------------------------------------------------------


@pytest.fixture
def refused_url() -> Iterator[str]:
    """A loopback port that is bound but not listening: connecting is refused."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/v2"
    finally:
        sock.close()


@pytest.fixture
def unaccepting_url() -> Iterator[str]:
    """A listener whose accept queue is full: the SYN is dropped and connecting times out."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    address = listener.getsockname()
    fillers = []
    for _ in range(4):
        filler = socket.socket()
        filler.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            filler.connect(address)
        fillers.append(filler)
    try:
        yield f"http://127.0.0.1:{address[1]}/v2"
    finally:
        for filler in fillers:
            filler.close()
        listener.close()


@pytest.mark.parametrize("backend", BACKENDS)
async def test_refused_is_not_sent(backend: str, refused_url: str) -> None:
    sender = transport(backend, refused_url)
    try:
        outcome = await sender.send(run_request(), TIMEOUTS)
    finally:
        await sender.aclose()
    assert isinstance(outcome, TransportFailure)
    assert (outcome.delivery, outcome.timeout) == (Delivery.NOT_SENT, False)
    assert (
        outcome.message.split(":")[0]
        == {
            "httpx": "ConnectError",
            "aiohttp": "ClientConnectorError",
        }[backend]
    )


@pytest.mark.parametrize("backend", BACKENDS)
async def test_connect_timeout_is_not_sent(backend: str, unaccepting_url: str) -> None:
    sender = transport(backend, unaccepting_url)
    try:
        outcome = await sender.send(run_request(), TIMEOUTS)
    finally:
        await sender.aclose()
    assert isinstance(outcome, TransportFailure)
    assert (outcome.delivery, outcome.timeout) == (Delivery.NOT_SENT, True)
    assert (
        outcome.message.split(":")[0]
        == {
            "httpx": "ConnectTimeout",
            "aiohttp": "ConnectionTimeoutError",
        }[backend]
    )


@pytest.mark.parametrize("backend", BACKENDS)
async def test_no_free_slot_is_not_sent(backend: str) -> None:
    """The client's own queue (the gate) is the pool: a call that found no slot within the
    pool timeout never reached the server."""
    with RawServer(no_reply) as server:
        sender = transport(backend, server.base_url, max_in_flight=2, reserve=1)
        hung = Timeouts(connect=1.0, read=5.0, write=1.0, pool=None)
        try:
            holders = [asyncio.create_task(sender.send(run_request(), hung)) for _ in range(2)]
            while len(server.heads) < 2:
                await asyncio.sleep(0.01)
            outcome = await sender.send(run_request(), TIMEOUTS)
            for holder in holders:
                holder.cancel()
            await asyncio.gather(*holders, return_exceptions=True)
        finally:
            await sender.aclose()
    assert outcome == TransportFailure(Delivery.NOT_SENT, True, "PoolTimeout: no connection free")
    assert len(server.heads) == 2


# A body past any socket buffer, and one under UNSTALLABLE_BODY: aiohttp times the first with
# `total` (TimeoutError) and the second with its read timer, which starts once the small body
# sits in the socket's buffers (SocketTimeoutError).
STALLED = {
    "9 MB": (9_000_000, {"httpx": "WriteTimeout", "aiohttp": "TimeoutError"}),
    "8 KB": (8_000, {"httpx": "ReadTimeout", "aiohttp": "SocketTimeoutError"}),
}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("size", STALLED)
async def test_stalled_upload_times_out_as_maybe_sent(backend: str, size: str) -> None:
    """The server reads the head and then stops reading: the body cannot be written (or sits
    unread in the socket's buffers). httpx times the write phase; aiohttp has no write timeout,
    so ours sets ``total`` for a body that can stall the writer. Either way it ends in time,
    and the submit counts as maybe sent."""

    async def read_head_then_stall(x: Exchange) -> None:
        await x.read_head()
        await x.hold()

    length, raised = STALLED[size]
    payload = {"blob": "x" * length}
    with RawServer(read_head_then_stall, rcvbuf=4096) as server:
        sender = transport(backend, server.base_url)
        started = asyncio.get_running_loop().time()
        try:
            outcome = await asyncio.wait_for(sender.send(run_request(payload), TIMEOUTS), 30)
        finally:
            await sender.aclose()
        elapsed = asyncio.get_running_loop().time() - started
    assert isinstance(outcome, TransportFailure)
    # One comparison, so that a failure shows which error it was.
    kind = outcome.message.split(":")[0]
    assert (outcome.delivery, outcome.timeout, kind) == (Delivery.MAYBE_SENT, True, raised[backend])
    # Within connect + write + read (2 s), with room for a loaded machine.
    assert elapsed < 2.0 + 3.0, elapsed


# --- the aiohttp table, row by row, for failures no loopback socket can produce ----------------

_KEY = ConnectionKey("api.runpod.ai", 443, True, True, None, None, None, None)


@pytest.mark.parametrize(
    ("exc", "delivery", "timeout"),
    [
        (aiohttp.ConnectionTimeoutError("connect"), Delivery.NOT_SENT, True),
        (aiohttp.ClientConnectorError(_KEY, ConnectionRefusedError(111, "refused")), Delivery.NOT_SENT, False),
        (aiohttp.ClientConnectorDNSError(_KEY, OSError(-2, "Name or service not known")), Delivery.NOT_SENT, False),
        (aiohttp.ClientConnectorCertificateError(_KEY, ssl.SSLCertVerificationError("bad cert")), Delivery.NOT_SENT, False),
        (aiohttp.SocketTimeoutError("read"), Delivery.MAYBE_SENT, True),
        (TimeoutError(), Delivery.MAYBE_SENT, True),  # aiohttp's `total`
        (aiohttp.ServerDisconnectedError(), Delivery.MAYBE_SENT, False),
        (aiohttp.ClientOSError(104, "Connection reset by peer"), Delivery.MAYBE_SENT, False),
        (aiohttp.ClientConnectionResetError("reset"), Delivery.MAYBE_SENT, False),
        (aiohttp.ClientPayloadError("cut short"), Delivery.MAYBE_SENT, False),
        (aiohttp.ServerFingerprintMismatch(b"a", b"b", "h", 443), Delivery.MAYBE_SENT, False),
        (ConnectionResetError(104, "reset"), Delivery.MAYBE_SENT, False),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, BaseException) else None,
)  # fmt: skip
def test_aiohttp_classification_table(
    exc: BaseException, delivery: Delivery, timeout: bool
) -> None:
    failure = classify(exc)
    assert (failure.delivery, failure.timeout) == (delivery, timeout)
    assert failure.message.startswith(type(exc).__name__ + ": ")
