"""The edges a user hits with a load-balancing endpoint: ``timeout=0`` and sub-second
deadlines, a task cancelled mid-call, Ctrl-C under asyncio.run, and the pool stopped
mid-request — over real sockets, sync and async."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from runpod_facade import (
    APIConnectionError,
    APITimeoutError,
    InvalidInputError,
    LBRetryPolicy,
    LoadBalancedEndpoint,
)
from runpod_facade._transports.wakeup import WAKE_EVERY
from runpod_facade.local import LocalLoadBalancer
from tests._support.lost_wakeup import seconds_to_act_on_ctrl_c

from .conftest import aclient, client


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


def test_ctrl_c_under_asyncio_run_is_not_left_waiting_for_a_worker(lb: LocalLoadBalancer) -> None:
    """asyncio.run acts on Ctrl-C in a Python handler, run once the main thread runs bytecode;
    a SIGINT whose C handler ran outside the selector's wait (here: on another thread) is
    seen at the loop's next event — without the client's waker, the worker's reply (3 s)."""

    async def main(press: Callable[[], None]) -> None:
        async with aclient(lb) as aep:
            press()
            await aep.get("/slow", params={"s": "3"})

    late = seconds_to_act_on_ctrl_c(main, lambda: any(r.path == "/slow" for r in lb.requests))
    assert late < WAKE_EVERY + 1.5, f"Ctrl-C acted on {late:.2f} s after it was pressed"


def test_ctrl_c_under_asyncio_run_is_not_left_waiting_for_a_streamed_body(
    lb: LocalLoadBalancer,
) -> None:
    """The same while the call has returned and its streamed body is read: the loop waits on
    the worker's next bytes (4 s), and nothing else is in flight to keep it waking."""

    async def main(press: Callable[[], None]) -> None:
        async with aclient(lb) as aep, aep.stream("GET", "/drip", params={"s": "4"}) as reply:
            chunks = reply.aiter_bytes()
            assert await anext(chunks) == b"first;"
            # Past the tick that, with the body not counted, stops the timer.
            await asyncio.sleep(WAKE_EVERY * 1.5)
            press()
            async for _ in chunks:
                pass

    late = seconds_to_act_on_ctrl_c(main, lambda: True)
    assert late < WAKE_EVERY + 1.5, f"Ctrl-C acted on {late:.2f} s after it was pressed"


def test_ctrl_c_under_asyncio_run_is_not_left_waiting_for_a_backoff(
    lb: LocalLoadBalancer,
) -> None:
    """The same between attempts: after a 503 the client sleeps (4 s here) before sending
    again, and the timer of that sleep is the loop's only event."""
    slow = LBRetryPolicy(max_retries=1, initial_delay=4, max_delay=4, jitter=0)

    async def main(press: Callable[[], None]) -> None:
        async with aclient(lb, retry_policy=slow) as aep:
            press()
            await aep.get("/status/503")

    late = seconds_to_act_on_ctrl_c(main, lambda: any(r.path == "/status/503" for r in lb.requests))
    assert late < WAKE_EVERY + 1.5, f"Ctrl-C acted on {late:.2f} s after it was pressed"


async def _hangs(scope: Any, receive: Any, send: Any) -> None:
    """/ping answers; /before hangs before replying; /after starts a reply, then hangs."""
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    if scope["path"] != "/ping":
        if scope["path"] == "/after":
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"part", "more_body": True})
        await asyncio.sleep(60)
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


@pytest.mark.parametrize("path", ["/before", "/after"])
def test_stopping_the_pool_drops_running_requests_quietly(
    path: str, caplog: pytest.LogCaptureFixture
) -> None:
    # A stopped pool drops a request still running, as a worker that goes away does: the
    # client sees the connection go, and uvicorn neither waits out its graceful shutdown nor
    # logs the request as an exception.
    errors: list[BaseException] = []
    pool = LocalLoadBalancer(_hangs, workers=1).start()

    def call() -> None:
        with client(pool, timeout=30, max_retries=0) as endpoint:
            try:
                endpoint.post(path, json={})
            except BaseException as exc:
                errors.append(exc)

    caller = threading.Thread(target=call)
    with caplog.at_level(logging.INFO):
        caller.start()
        deadline = time.monotonic() + 10
        while not pool.requests and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.1)  # the request has reached the app
        pool.stop()
        caller.join(10)
    assert [type(error) for error in errors] == [APIConnectionError]
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "Exception in ASGI application" not in logged
    assert "graceful shutdown exceeded" not in logged
    assert [record.status_code for record in pool.requests] == [None]
