"""The edges a user hits with a load-balancing endpoint: ``timeout=0`` and sub-second
deadlines, and a task cancelled mid-call — over real sockets, sync and async."""

from __future__ import annotations

import asyncio
import time

import pytest

from runpod_facade import APITimeoutError, InvalidInputError, LoadBalancedEndpoint
from runpod_facade.local import LocalLoadBalancer

from .conftest import aclient


@pytest.mark.misuse("argument")
@pytest.mark.parametrize("call", ["get", "wait_ready"])
def test_timeout_zero_is_refused_before_anything_is_sent(
    lb: LocalLoadBalancer, ep: LoadBalancedEndpoint, call: str
) -> None:
    """0 is no time at all to reach a worker: a clear error, and no request leaves."""
    lb.clear_requests()
    with pytest.raises(InvalidInputError, match="positive"):
        if call == "get":
            ep.get("/slow", timeout=0)
        else:
            ep.wait_ready(timeout=0)
    assert lb.requests == []


@pytest.mark.parametrize("timeout", [1e-6, 0.05, 0.3])
def test_a_sub_second_deadline_ends_on_time(ep: LoadBalancedEndpoint, timeout: float) -> None:
    started = time.monotonic()
    with pytest.raises(APITimeoutError):
        ep.get("/slow", params={"s": "2"}, timeout=timeout)
    # Never below the 50 ms a request needs to be sent at all; never far past the deadline.
    assert time.monotonic() - started < max(timeout, 0.05) + 0.25


async def test_a_task_cancelled_mid_call_leaves_the_client_usable(lb: LocalLoadBalancer) -> None:
    async with aclient(lb) as aep:
        task = asyncio.create_task(aep.get("/slow", params={"s": "0.5"}))
        await asyncio.sleep(0.1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        reply = await aep.post("/echo", json={"after": "cancel"})
        assert reply.json()["echo"] == {"after": "cancel"}
