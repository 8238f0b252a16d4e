"""Cold starts against the local pool, in real time: the one test of the issue's 3 s cold start
(waited out by wait_ready and by a plain request, within 50 ms of the worker turning healthy;
both give up on time with timeout=1), and a short one for the asyncio client."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable

import httpx
import pytest

from runpod_facade import APITimeoutError, NotReadyError
from runpod_facade.local import LocalLoadBalancer

from .apps import make_app
from .conftest import aclient, client

# How soon after the worker turns healthy a waiting call must return (the bound).
PROMPT = 0.05


def _timed(results: dict[str, object], name: str, call: Callable[[], object]) -> threading.Thread:
    def run() -> None:
        try:
            call()
            results[name] = time.monotonic()
        except Exception as exc:
            results[name] = (exc, time.monotonic())

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_a_3s_cold_start_is_waited_out_promptly_and_timeout_1_gives_up_on_time() -> None:
    with (
        LocalLoadBalancer(make_app(), cold_start=3.0) as slow,
        LocalLoadBalancer(make_app(), cold_start=3.0) as short,
        client(slow, retry_policy=None) as ep,
        client(short, retry_policy=None) as impatient,
    ):
        (worker,) = slow.workers.values()
        results: dict[str, object] = {}
        started = time.monotonic()
        threads = [
            _timed(results, "wait_ready", lambda: ep.wait_ready(timeout=10)),
            _timed(results, "request", lambda: ep.post("/echo", json={"a": 1}, timeout=10)),
            _timed(results, "wait_ready_1", lambda: impatient.wait_ready(timeout=1)),
            _timed(results, "request_1", lambda: impatient.post("/echo", json={}, timeout=1)),
        ]
        for thread in threads:
            thread.join(15)
        for name in ("wait_ready", "request"):
            done = results[name]
            assert isinstance(done, float), done
            assert 0.0 <= done - worker.ready_at < PROMPT, (name, done - worker.ready_at)
        for name, error in (("wait_ready_1", NotReadyError), ("request_1", APITimeoutError)):
            outcome = results[name]
            assert isinstance(outcome, tuple), outcome
            exc, when = outcome
            assert isinstance(exc, error), exc
            assert 1.0 <= when - started < 1.0 + 0.25, (name, when - started)
        # The POST that gave up was never handed to a worker, and the other only once.
        assert short.count("POST", "/echo") == 0
        assert slow.count("POST", "/echo") == 1


async def test_async_cold_start_is_waited_out_promptly() -> None:
    async with LocalLoadBalancer(make_app(), cold_start=0.5) as lb:
        (worker,) = lb.workers.values()
        async with aclient(lb, retry_policy=None) as ep:

            async def timed(call: Awaitable[httpx.Response]) -> tuple[int, float]:
                reply = await call
                return reply.status_code, time.monotonic() - worker.ready_at

            done = await asyncio.gather(
                timed(ep.wait_ready(timeout=5)), timed(ep.post("/echo", json={}, timeout=5))
            )
        for status, late in done:
            assert status == 200 and 0.0 <= late < PROMPT, done


async def test_async_timeouts_end_on_time() -> None:
    async with (
        LocalLoadBalancer(make_app(), cold_start=30) as lb,
        aclient(lb, retry_policy=None) as ep,
    ):
        started = time.monotonic()
        with pytest.raises(NotReadyError):
            await ep.wait_ready(timeout=0.3)
        with pytest.raises(APITimeoutError) as info:
            await ep.post("/echo", json={}, timeout=0.3)
        assert info.value.request_sent is True
        assert 0.6 <= time.monotonic() - started < 0.6 + 0.25
