"""AsyncLoadBalancedEndpoint against the local pool through real loopback sockets: the same
rules as the blocking client (they share the core), seen through asyncio."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from runpod_facade import (
    Affinity,
    AffinityWorkerGoneError,
    APIConnectionError,
    AsyncLoadBalancedEndpoint,
    AuthenticationError,
    ClientClosedError,
    InvalidInputError,
    NoWorkersAvailableError,
    ProcessingTimeoutError,
    RequestTooLargeError,
    RunpodError,
    WorkerUnreachableError,
)
from runpod_facade._loadbalancing.core import MAX_PAYLOAD_BYTES
from runpod_facade.local import LBFault, LocalLoadBalancer

from .apps import make_app
from .conftest import aclient


async def test_reply_wait_ready_and_verbs(
    lb: LocalLoadBalancer, aep: AsyncLoadBalancedEndpoint
) -> None:
    ready = await aep.wait_ready(timeout=5)
    assert ready.status_code == 200 and aep.worker_id(ready) in lb.worker_ids
    reply = await aep.post("/echo", json={"x": [1, 2]}, params={"k": "v"})
    assert reply.json() == {"echo": {"x": [1, 2]}, "query": {"k": "v"}}
    assert (await aep.put("/count")).status_code == 405  # the worker's own answer
    assert (await aep.ping()).status_code == 200


async def test_many_concurrent_calls_spread_over_workers(
    lb: LocalLoadBalancer, aep: AsyncLoadBalancedEndpoint
) -> None:
    replies = await asyncio.gather(*(aep.get("/slow", params={"s": 0.05}) for _ in range(20)))
    assert {aep.worker_id(r) for r in replies} == set(lb.worker_ids)


async def test_stream_sse(aep: AsyncLoadBalancedEndpoint) -> None:
    async with aep.stream("GET", "/sse") as reply:
        events = [line async for line in reply.aiter_lines() if line]
    assert events == ["data: 0", "data: 1", "data: 2"]


async def test_pinned_session_strict_then_gone(
    lb: LocalLoadBalancer, aep: AsyncLoadBalancedEndpoint
) -> None:
    async with aep.pinned() as session:
        first = aep.worker_id(await session.post("/echo", json={}))
        served = {aep.worker_id(await session.get("/state")) for _ in range(20)}
        assert served == {first}
        async with session.stream("GET", "/sse") as reply:
            assert aep.worker_id(reply) == first
        assert first is not None
        lb.stop_worker(first)
        with pytest.raises(AffinityWorkerGoneError) as info:
            await session.get("/state")
        assert info.value.worker_id == first
    with pytest.raises(ClientClosedError):
        await session.get("/state")
    soft = await aep.get("/state", affinity=Affinity.soft(first))
    assert aep.worker_id(soft) not in (None, first)


async def test_lost_post_reply_is_not_resent_unless_idempotent(
    lb: LocalLoadBalancer, aep: AsyncLoadBalancedEndpoint
) -> None:
    lb.faults.add(LBFault("drop_after", "/count", "POST"))
    with pytest.raises(APIConnectionError) as info:
        await aep.post("/count")
    assert info.value.request_sent is True
    assert lb.count("POST", "/count") == 1
    lb.faults.add(LBFault("drop_after", "/count", "POST"))
    assert (await aep.post("/count", idempotent=True)).json() == {"count": 3}
    assert lb.count("POST", "/count") == 3


@pytest.mark.parametrize(
    ("kind", "error"),
    [("no_workers", NoWorkersAvailableError), ("bad_gateway", WorkerUnreachableError)],
)
async def test_cold_start_replies_are_retried(
    lb: LocalLoadBalancer, aep: AsyncLoadBalancedEndpoint, kind: str, error: type[Exception]
) -> None:
    lb.faults.add(LBFault(kind, "/count", times=2))  # type: ignore[arg-type]
    assert (await aep.post("/count")).json() == {"count": 1}
    lb.faults.add(LBFault(kind, "/count", times=None))  # type: ignore[arg-type]
    with pytest.raises(error):
        await aep.post("/count", timeout=0.3)
    assert lb.count("POST", "/count") == 1


async def test_processing_timeout_typed() -> None:
    async with LocalLoadBalancer(make_app(), processing_limit=0.1) as lb, aclient(lb) as ep:
        with pytest.raises(ProcessingTimeoutError) as info:
            await ep.post("/slow", params={"s": 1})
        assert info.value.worker_id == "local-worker-0"


@pytest.mark.misuse("argument")
@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"content": b"x" * (MAX_PAYLOAD_BYTES + 1)}, RequestTooLargeError),
        ({"json": {"a": 1}, "content": b"x"}, InvalidInputError),
        ({"affinity": "strict"}, InvalidInputError),
    ],
)
async def test_bad_input_sends_nothing(
    lb: LocalLoadBalancer,
    aep: AsyncLoadBalancedEndpoint,
    kwargs: dict[str, object],
    error: type[Exception],
) -> None:
    with pytest.raises(error):
        await aep.post("/echo", **kwargs)
    assert lb.requests == []


@pytest.mark.misuse("key")
async def test_wrong_key(lb: LocalLoadBalancer) -> None:
    async with aclient(lb, api_key="rpa_wrong_key_0123456789") as ep:
        with pytest.raises(AuthenticationError) as info:
            await ep.get("/state")
        assert "rpa_wrong_key_0123456789" not in str(info.value)


async def test_openai_async_client(lb: LocalLoadBalancer, aep: AsyncLoadBalancedEndpoint) -> None:
    import openai

    async with openai.AsyncOpenAI(
        base_url=aep.openai_base_url, api_key=lb.api_key, max_retries=0
    ) as oa:
        reply = await oa.chat.completions.create(
            model="m", messages=[{"role": "user", "content": "hey"}]
        )
    assert reply.choices[0].message.content == "echo: hey"


@pytest.mark.parametrize("pool", ["own", "passed in"])
async def test_aclose_is_idempotent_and_leaves_a_passed_in_client_open(
    lb: LocalLoadBalancer, pool: str
) -> None:
    http = httpx.AsyncClient() if pool == "passed in" else None
    ep = aclient(lb, **({} if http is None else {"http_client": http}))
    assert (await ep.get("/state")).status_code == 200
    await ep.aclose()
    await ep.aclose()  # idempotent
    with pytest.raises(ClientClosedError):
        await ep.get("/state")
    if http is not None:
        assert not http.is_closed
        await http.aclose()


def test_the_client_works_again_under_a_second_asyncio_run(lb: LocalLoadBalancer) -> None:
    """Its own pool is made anew on a new loop, as AsyncEndpoint's is: the first loop's
    connections died with it (this raised RuntimeError: Event loop is closed)."""
    aep = aclient(lb)

    async def call(n: int) -> object:
        return (await aep.post("/echo", json={"n": n})).json()

    assert asyncio.run(call(1)) == {"echo": {"n": 1}, "query": {}}
    assert asyncio.run(call(2)) == {"echo": {"n": 2}, "query": {}}
    asyncio.run(aep.aclose())


@pytest.mark.misuse("argument")
def test_a_passed_in_client_on_a_second_loop_is_refused_before_sending(
    lb: LocalLoadBalancer,
) -> None:
    # No keep-alive: the first loop's connection is not pooled, so none outlives that loop
    # (left open, it warns when collected, in whatever test runs then).
    http = httpx.AsyncClient(limits=httpx.Limits(max_keepalive_connections=0))
    aep = aclient(lb, http_client=http)

    async def call() -> object:
        return (await aep.get("/state")).status_code

    assert asyncio.run(call()) == 200
    sent = len(lb.requests)
    with pytest.raises(RunpodError, match=r"used on another event loop.*one loop only"):
        asyncio.run(call())
    assert len(lb.requests) == sent
    asyncio.run(http.aclose())  # a passed-in client is the caller's to close
