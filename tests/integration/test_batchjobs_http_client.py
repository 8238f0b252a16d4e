"""``ep.batches`` and ``map(via="batch-api")`` send through the endpoint's ``http_client``.

The caller's client carries what the SDK cannot know (a mandatory proxy, a private CA, a
client certificate): every Batch Jobs API call must go out through it, with the endpoint's
URL, API key and timeouts set per request as for job calls, and it is never closed by us.
Real loopback sockets against the local endpoint; the caller's client records, in its own
transport, each request it sends.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import pytest

from runpod_facade import AsyncEndpoint, Endpoint, InvalidInputError, Timeout
from runpod_facade.local import LocalEndpoint
from tests._support.handlers import dispatch

#: The endpoint's timeouts, distinct per phase, so that the recorded ones can be told apart.
TIMEOUT = Timeout(7, connect=3, pool=5)
EXPECTED_TIMEOUTS = {"connect": 3.0, "read": 7.0, "write": 7.0, "pool": 5.0}
#: A header of the caller's client (as a proxy's credentials would be): merged in.
CALLER_HEADER = ("X-Corp-Route", "egress-1")


class Recording(httpx.HTTPTransport):
    """The caller's transport: real sockets, and a record of what it sent."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[httpx.Request] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.sent.append(request)
        return super().handle_request(request)


class AsyncRecording(httpx.AsyncHTTPTransport):
    """:class:`Recording` for an ``httpx.AsyncClient``."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[httpx.Request] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.sent.append(request)
        return await super().handle_async_request(request)


@pytest.fixture
def local() -> Iterator[LocalEndpoint]:
    with LocalEndpoint(dispatch, workers=2) as ep:
        yield ep


def _batch_calls(local: LocalEndpoint) -> list[str]:
    return [r.operation for r in local.requests if r.operation.startswith("batch")]


def _assert_all_sent_by(sent: list[httpx.Request], local: LocalEndpoint) -> None:
    """Every batch call the server saw came through the caller's transport, as the
    endpoint's own transport would have sent it."""
    served = _batch_calls(local)
    assert served, "no batch call reached the server"
    assert len(sent) == len(served)
    for request in sent:
        assert str(request.url).startswith(f"{local.base_url}/{local.endpoint_id}/batch")
        assert request.headers["Authorization"] == f"Bearer {local.api_key}"
        assert request.headers[CALLER_HEADER[0]] == CALLER_HEADER[1]
        assert request.extensions["timeout"] == EXPECTED_TIMEOUTS


def _endpoint(local: LocalEndpoint, client: httpx.Client) -> Endpoint:
    return Endpoint(
        local.endpoint_id, base_url=local.base_url, api_key=local.api_key, timeout=TIMEOUT,
        http_client=client,
    )  # fmt: skip


def _async_endpoint(local: LocalEndpoint, client: Any, **extra: Any) -> AsyncEndpoint:
    return AsyncEndpoint(
        local.endpoint_id, base_url=local.base_url, api_key=local.api_key, timeout=TIMEOUT,
        http_client=client, **extra,
    )  # fmt: skip


def test_sync_batches_send_through_the_callers_client(local: LocalEndpoint) -> None:
    transport = Recording()
    # A base URL of the client's own must not redirect the calls: the endpoint's URL wins.
    client = httpx.Client(
        transport=transport, headers=[CALLER_HEADER], base_url="http://127.0.0.1:9/elsewhere"
    )
    with client:
        with _endpoint(local, client) as ep:
            created = ep.batches.create([{"n": 1}, {"n": 2}])
            ep.batches.add(created.id, [{"n": 3}])
            ep.batches.finalize(created.id)
            done = ep.batches.wait(created.id, timeout=10, interval=0.02)
            assert done.request_completed == 3
            outputs = [r.output for r in ep.batches.results(created.id, page_size=2)]
            assert outputs == [{"n": 1}, {"n": 2}, {"n": 3}]
            with ep.batches as batches:  # a with block keeps the caller's client open
                assert [b.id for b in batches.list()] == [created.id]
                assert batches.get(created.id).done
            assert not client.is_closed
        _assert_all_sent_by(transport.sent, local)
        assert not client.is_closed  # ep.close() leaves the caller's client open
        assert client.get(f"{local.base_url}/{local.endpoint_id}/health").status_code == 401


def test_sync_map_via_batch_api_sends_through_the_callers_client(
    local: LocalEndpoint, tmp_path: Path
) -> None:
    transport = Recording()
    with httpx.Client(transport=transport, headers=[CALLER_HEADER]) as client:
        with _endpoint(local, client) as ep:
            inputs = [{"n": n} for n in range(5)]
            journal = tmp_path / "run.journal"
            with ep.map(inputs, via="batch-api", batch_size=2, journal=journal) as results:
                items = sorted(results, key=lambda item: item.index)
                assert results.stats.batches_created == 3
            assert [i.output for i in items] == inputs
        _assert_all_sent_by(transport.sent, local)
        assert not client.is_closed


async def test_async_batches_send_through_the_callers_client(local: LocalEndpoint) -> None:
    transport = AsyncRecording()
    async with httpx.AsyncClient(transport=transport, headers=[CALLER_HEADER]) as client:
        async with _async_endpoint(local, client) as aep:
            created = await aep.batches.create([{"n": 1}])
            await aep.batches.add(created.id, [{"n": 2}])
            await aep.batches.finalize(created.id)
            done = await aep.batches.wait(created.id, timeout=10, interval=0.02)
            assert done.request_completed == 2
            outputs = [r.output async for r in aep.batches.results(created.id, page_size=1)]
            assert outputs == [{"n": 1}, {"n": 2}]
            async with aep.batches as batches:
                assert [b.id for b in await batches.list()] == [created.id]
            assert not client.is_closed
        _assert_all_sent_by(transport.sent, local)
        assert not client.is_closed


async def test_async_map_via_batch_api_sends_through_the_callers_client(
    local: LocalEndpoint, tmp_path: Path
) -> None:
    """The map's steps run on a worker thread, and an ``AsyncClient`` works on its loop
    only: the thread's calls are sent on the loop through the caller's client."""
    transport = AsyncRecording()
    async with httpx.AsyncClient(transport=transport, headers=[CALLER_HEADER]) as client:
        async with _async_endpoint(local, client) as aep:
            inputs = [{"n": n} for n in range(5)]
            run = aep.map(inputs, via="batch-api", batch_size=2, journal=tmp_path / "a.journal")
            async with run:
                items = sorted([item async for item in run], key=lambda item: item.index)
                assert run.stats.batches_created == 3
            assert [i.output for i in items] == inputs
        _assert_all_sent_by(transport.sent, local)
        assert not client.is_closed


@pytest.mark.misuse("argument")
@pytest.mark.parametrize(
    "use",
    [
        pytest.param(lambda aep: aep.batches, id="batches"),
        pytest.param(lambda aep: aep.map([1, 2], via="batch-api"), id="map-via-batch-api"),
    ],
)
async def test_an_aiohttp_session_refuses_batch_calls_before_sending(
    local: LocalEndpoint, use: Any
) -> None:
    """The Batch Jobs API is sent with httpx: rather than bypass the caller's session (its
    proxy, its TLS), the calls that would need it are refused, naming what to do."""
    async with aiohttp.ClientSession() as session:
        async with _async_endpoint(local, session, http_backend="aiohttp") as aep:
            with pytest.raises(InvalidInputError, match=r"cannot use the aiohttp\.ClientSession"):
                use(aep)
            assert (await aep.health()).workers is not None  # job calls use the session
        assert not session.closed
    assert _batch_calls(local) == []


async def test_the_aiohttp_backend_without_a_session_sends_batch_calls_with_its_own(
    local: LocalEndpoint,
) -> None:
    async with _async_endpoint(local, None, http_backend="aiohttp") as aep:
        created = await aep.batches.create([{"n": 1}])
        assert (await aep.batches.get(created.id)).request_total == 1
    assert _batch_calls(local) == ["batch-create", "batch-get"]


@pytest.mark.misuse("argument")
@pytest.mark.parametrize("inputs", [[1, 2], []], ids=["two-inputs", "no-inputs"])
def test_an_async_batch_api_map_through_a_callers_client_needs_its_loop(
    local: LocalEndpoint, inputs: list[int]
) -> None:
    """Outside a running loop, the worker thread would have no loop to send on."""
    client = httpx.AsyncClient()
    aep = _async_endpoint(local, client)
    with pytest.raises(InvalidInputError, match="inside the event loop"):
        aep.map(inputs, via="batch-api")
    assert _batch_calls(local) == []
    asyncio.run(client.aclose())
