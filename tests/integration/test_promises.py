"""The SDK's promises at their edges, over real loopback sockets against the local endpoint:

- one honest deadline: every waiting operation (sync and async) ends within a few tens of ms
  of its ``timeout`` — also ``timeout=0`` (one look) and sub-second deadlines, under the
  server's 1 s minimum long-poll hold;
- once the server has issued a job id, the caller gets it: on WaitTimeout, and on the
  KeyboardInterrupt / CancelledError that interrupts a wait, a run_sync or a stream (a PEP 678
  note), and ``cancel_on_interrupt=True`` cancels the job;
- whole results: a stream's final state, clients that refuse to be pickled, values that do.

Each measured overshoot is recorded for the "Promises" section of docs/reliability.md. The
bound asserted here is loose on purpose (a loaded CI machine); the report shows the real one.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import pickle
import signal
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from runpod_facade import (
    AsyncEndpoint,
    ClientClosedError,
    Endpoint,
    JobStatus,
    PollPolicy,
    RetryPolicy,
    StreamIdleTimeout,
    WaitTimeout,
)
from runpod_facade._transports.wakeup import WAKE_EVERY
from runpod_facade.local import Fault, LocalEndpoint
from tests._support.handlers import dispatch, streamer
from tests._support.lost_wakeup import seconds_to_act_on_ctrl_c
from tests._support.reliability.store import record_deadline

FAST_RETRY = RetryPolicy(max_retries=3, initial_delay=0.01, max_delay=0.05)
# The default poll policy: deadlines must hold with what users get, not a tuned one.
DEFAULT_POLL = PollPolicy()
# Generous for a loaded 2-core CI machine; the report records the measured value.
SLACK = 0.4
SLOW = {"task": "sleep", "seconds": 5}


async def result_only(job: dict[str, Any]) -> Any:
    return {"answer": 42}


@pytest.fixture(scope="module")
def local() -> Iterator[LocalEndpoint]:
    with LocalEndpoint(dispatch, workers=8) as server:
        yield server


@pytest.fixture(scope="module")
def streaming() -> Iterator[LocalEndpoint]:
    with LocalEndpoint(streamer, workers=4) as server:
        yield server


def connect(server: LocalEndpoint, **options: Any) -> Endpoint:
    options.setdefault("retry_policy", FAST_RETRY)
    options.setdefault("poll_policy", DEFAULT_POLL)
    return Endpoint(server.endpoint_id, base_url=server.base_url, api_key=server.api_key, **options)


def connect_async(server: LocalEndpoint, **options: Any) -> AsyncEndpoint:
    options.setdefault("retry_policy", FAST_RETRY)
    options.setdefault("poll_policy", DEFAULT_POLL)
    return AsyncEndpoint(
        server.endpoint_id, base_url=server.base_url, api_key=server.api_key, **options
    )


def timed(call: Callable[[], Any]) -> tuple[float, BaseException | None]:
    started = time.monotonic()
    try:
        call()
    except BaseException as exc:
        return time.monotonic() - started, exc
    return time.monotonic() - started, None


async def atimed(call: Callable[[], Any]) -> tuple[float, BaseException | None]:
    started = time.monotonic()
    try:
        await call()
    except BaseException as exc:
        return time.monotonic() - started, exc
    return time.monotonic() - started, None


# One timeout per regime of the core's decisions (proved exactly in fake time by
# tests/core/test_waiting.py): look once (0, 1e-6), poll under a second (0.2), poll past a
# second but under the 1.5 s a long-poll needs (1.3), long-poll (2.0). Here they are measured.
DEADLINES = [0, 1e-6, 0.2, 1.3, 2.0]


# --- deadlines -----------------------------------------------------------------------------------


@pytest.mark.parametrize("timeout", DEADLINES)
def test_wait_meets_its_deadline(local: LocalEndpoint, timeout: float) -> None:
    with connect(local) as ep:
        job = ep.run(SLOW)
        elapsed, exc = timed(lambda: job.wait(timeout=timeout))
        ep.cancel(job.id)
    assert isinstance(exc, WaitTimeout) and exc.job_id == job.id
    assert exc.last_state is not None  # it looked at least once
    record_deadline("job.wait", "sync", timeout, elapsed)
    assert elapsed - timeout < SLACK


@pytest.mark.parametrize("timeout", DEADLINES)
def test_run_sync_meets_its_deadline_and_names_the_job(
    local: LocalEndpoint, timeout: float
) -> None:
    with connect(local) as ep:
        elapsed, exc = timed(lambda: ep.run_sync(SLOW, timeout=timeout))
        assert isinstance(exc, WaitTimeout)
        ep.cancel(exc.job_id)
    record_deadline("ep.run_sync", "sync", timeout, elapsed)
    assert elapsed - timeout < SLACK


@pytest.mark.parametrize("timeout", [0, 0.2, 1.3])
def test_stream_idle_timeout_is_met(streaming: LocalEndpoint, timeout: float) -> None:
    with connect(streaming) as ep:
        job = ep.run({"count": 2, "delay": 5})
        elapsed, exc = timed(lambda: list(job.stream(idle_timeout=timeout)))
        ep.cancel(job.id)
    assert isinstance(exc, StreamIdleTimeout) and exc.job_id == job.id
    record_deadline("job.stream(idle_timeout)", "sync", timeout, elapsed)
    assert elapsed - timeout < SLACK


@pytest.mark.parametrize("timeout", [0.2, 1.3])
def test_stream_total_timeout_is_met(streaming: LocalEndpoint, timeout: float) -> None:
    with connect(streaming) as ep:
        job = ep.run({"count": 50, "delay": 0.05})
        got: list[Any] = []

        def consume() -> None:
            got.extend(job.stream(timeout=timeout))

        elapsed, exc = timed(consume)
        ep.cancel(job.id)
    assert isinstance(exc, WaitTimeout) and not isinstance(exc, StreamIdleTimeout)
    assert got  # chunks flowed until the deadline
    record_deadline("job.stream(timeout)", "sync", timeout, elapsed)
    assert elapsed - timeout < SLACK


@pytest.mark.parametrize("timeout", DEADLINES)
async def test_async_wait_and_run_sync_meet_their_deadlines(
    local: LocalEndpoint, timeout: float
) -> None:
    async with connect_async(local) as ep:
        job = await ep.run(SLOW)
        # Both at once on one loop: each deadline must hold while the other call is waiting.
        (waited, wait_exc), (ran, run_exc) = await asyncio.gather(
            atimed(lambda: job.wait(timeout=timeout)),
            atimed(lambda: ep.run_sync(SLOW, timeout=timeout)),
        )
        assert isinstance(wait_exc, WaitTimeout) and wait_exc.job_id == job.id
        record_deadline("job.wait", "async", timeout, waited)
        assert waited - timeout < SLACK
        assert isinstance(run_exc, WaitTimeout)
        record_deadline("ep.run_sync", "async", timeout, ran)
        assert ran - timeout < SLACK
        await ep.cancel(job.id)
        await ep.cancel(run_exc.job_id)


@pytest.mark.parametrize("timeout", [0, 0.2, 1.3])
async def test_async_stream_idle_timeout_is_met(streaming: LocalEndpoint, timeout: float) -> None:
    async with connect_async(streaming) as ep:
        job = await ep.run({"count": 2, "delay": 5})

        async def consume() -> None:
            async for _ in job.stream(idle_timeout=timeout):
                pass

        elapsed, exc = await atimed(consume)
        await ep.cancel(job.id)
    assert isinstance(exc, StreamIdleTimeout)
    record_deadline("job.stream(idle_timeout)", "async", timeout, elapsed)
    assert elapsed - timeout < SLACK


def test_timeout_zero_on_a_finished_job_returns_its_output(local: LocalEndpoint) -> None:
    with connect(local) as ep:
        job = ep.run({"task": "echo", "n": 7})
        assert job.wait(timeout=30).output == {"task": "echo", "n": 7}
        local.clear_requests()
        # One look, one request: the output of a finished job.
        assert ep.wait(job.id, timeout=0).output == {"task": "echo", "n": 7}
        assert [r.operation for r in local.requests] == ["status"]


async def test_async_timeout_zero_on_a_finished_job_returns_its_output(
    local: LocalEndpoint,
) -> None:
    async with connect_async(local) as ep:
        job = await ep.run({"task": "echo", "n": 8})
        await job.wait(timeout=30)
        assert (await ep.wait(job.id, timeout=0)).output == {"task": "echo", "n": 8}


def test_a_rate_limit_longer_than_the_deadline_ends_as_the_deadline(
    local: LocalEndpoint,
) -> None:
    with connect(local) as ep:
        job = ep.run(SLOW)
        local.faults.add(Fault("status", "http_error", status=429, retry_after="30"))
        local.faults.add(Fault("status-sync", "http_error", status=429, retry_after="30"))
        try:
            elapsed, exc = timed(lambda: job.wait(timeout=0.5))
        finally:
            local.faults.clear()
            ep.cancel(job.id)
    assert isinstance(exc, WaitTimeout) and exc.job_id == job.id
    assert type(exc.__cause__).__name__ == "RateLimitError"
    assert exc.__cause__.retry_after == 30  # type: ignore[attr-defined]
    assert elapsed < 0.5 + SLACK


# --- interrupts ----------------------------------------------------------------------------------


@contextlib.contextmanager
def interrupt_after(seconds: float) -> Iterator[None]:
    """Press Ctrl-C after ``seconds``: SIGINT to the main thread, which interrupts its blocking
    socket read as a real Ctrl-C does (a signal raised in the timer's thread would not). The
    press is called off when the block ends first: under pytest-xdist a stray SIGINT would
    stop the worker's next test, not this one."""
    main = threading.main_thread().ident
    assert main is not None
    timer = threading.Timer(seconds, lambda: signal.pthread_kill(main, signal.SIGINT))
    timer.start()
    try:
        yield
    finally:
        timer.cancel()
        timer.join()


def notes(exc: BaseException) -> str:
    return "\n".join(getattr(exc, "__notes__", []))


def test_ctrl_c_during_wait_names_the_job(local: LocalEndpoint) -> None:
    with connect(local) as ep:
        job = ep.run(SLOW)
        with interrupt_after(0.3), pytest.raises(KeyboardInterrupt) as caught:
            job.wait(timeout=30)
        assert job.id in notes(caught.value)
        assert "left running" in notes(caught.value)
        assert ep.status(job.id).status is not JobStatus.CANCELLED
        ep.cancel(job.id)


@pytest.mark.parametrize("where", ["wait", "run_sync"])
def test_ctrl_c_with_cancel_on_interrupt_cancels_the_job(local: LocalEndpoint, where: str) -> None:
    with connect(local) as ep:
        with interrupt_after(0.3), pytest.raises(KeyboardInterrupt) as caught:
            if where == "wait":
                ep.run(SLOW).wait(timeout=30, cancel_on_interrupt=True)
            else:
                ep.run_sync(SLOW, timeout=30, cancel_on_interrupt=True)
        text = notes(caught.value)
        assert "cancelled on interrupt" in text
        job_id = text.split("job ", 1)[1].split(" ", 1)[0]
        assert ep.status(job_id).status is JobStatus.CANCELLED
        # run_sync with cancel_on_interrupt submits with /run: the id was known at once.
        assert "runsync" not in [r.operation for r in local.requests if job_id in r.path]


def test_ctrl_c_during_a_runsync_hold_says_no_id_had_arrived(local: LocalEndpoint) -> None:
    with connect(local) as ep, interrupt_after(0.3), pytest.raises(KeyboardInterrupt) as caught:
        ep.run_sync(SLOW, timeout=30)
    assert "no job id" in notes(caught.value) or "server sends the job id" in notes(caught.value)
    assert "cancel_on_interrupt=True" in notes(caught.value)


def test_ctrl_c_during_a_stream_names_the_job(streaming: LocalEndpoint) -> None:
    with connect(streaming) as ep:
        job = ep.run({"count": 2, "delay": 5})
        with interrupt_after(0.3), pytest.raises(KeyboardInterrupt) as caught:
            list(job.stream())
        assert job.id in notes(caught.value)
        ep.cancel(job.id)


@pytest.mark.parametrize(
    ("waiting_on", "options"),
    [
        ("status-sync", {}),
        ("status", {"long_poll": False, "poll_policy": PollPolicy(5.0, maximum=5.0, jitter=0.0)}),
    ],
    ids=["a-held-reply", "a-poll-interval"],
)
def test_ctrl_c_under_asyncio_run_is_not_left_waiting(
    local: LocalEndpoint, waiting_on: str, options: dict[str, Any]
) -> None:
    """asyncio.run acts on Ctrl-C in a Python handler, which runs once the main thread runs
    bytecode. A SIGINT whose C handler ran outside the selector's wait — just before it (a
    thread descheduled there) or, as here, on another thread — is seen at the loop's next
    event: without a waker, the end of the held long-poll (the job's 10 s) or, between two
    polls, when no request is in flight, the end of the driver's pause (5 s)."""
    job_ids: list[str] = []

    def waiting() -> bool:
        requests = [r for r in local.requests if r.operation == waiting_on]
        return bool(job_ids) and any(job_ids[0] in r.path for r in requests)

    async def main(press: Callable[[], None]) -> None:
        async with connect_async(local, **options) as ep:
            job = await ep.run({"task": "sleep", "seconds": 10})
            job_ids.append(job.id)
            press()
            await job.wait(timeout=30)

    late = seconds_to_act_on_ctrl_c(main, waiting)
    with connect(local) as ep:
        ep.cancel(job_ids[0])
    assert late < WAKE_EVERY + 1.5, f"Ctrl-C acted on {late:.2f} s after it was pressed"


async def test_task_cancellation_names_and_can_cancel_the_job(local: LocalEndpoint) -> None:
    async with connect_async(local) as ep:
        job = await ep.run(SLOW)
        task = asyncio.create_task(job.wait(timeout=30, cancel_on_interrupt=True))
        await asyncio.sleep(0.3)
        task.cancel()
        with pytest.raises(asyncio.CancelledError) as caught:
            await task
        assert job.id in notes(caught.value)
        assert (await ep.status(job.id)).status is JobStatus.CANCELLED


async def test_task_cancellation_of_run_sync_without_an_id_says_so(local: LocalEndpoint) -> None:
    async with connect_async(local) as ep:
        task = asyncio.create_task(ep.run_sync(SLOW, timeout=30))
        await asyncio.sleep(0.3)
        task.cancel()
        with pytest.raises(asyncio.CancelledError) as caught:
            await task
    assert "cancel_on_interrupt=True" in notes(caught.value)


# --- whole results and honest clients ------------------------------------------------------------


def test_a_stream_of_a_plain_handler_ends_with_its_result() -> None:
    with LocalEndpoint(result_only) as server, connect(server) as ep:
        stream = ep.run({}).stream(timeout=30)
        assert list(stream) == []
        assert stream.state is not None
        assert stream.state.status is JobStatus.COMPLETED
        assert stream.state.output == {"answer": 42}


def test_raw_stream_chunks_are_whole_objects(streaming: LocalEndpoint) -> None:
    with connect(streaming) as ep:
        chunks = list(ep.run({"count": 2}).stream(timeout=30, raw=True))
    assert chunks == [{"output": {"i": 0}}, {"output": {"i": 1}}]


def test_states_travel_and_clients_do_not(local: LocalEndpoint) -> None:
    with connect(local) as ep:
        state = ep.run_sync({"task": "echo", "nested": {"a": [1]}}, timeout=30)
        health = ep.health()
        job = ep.job(state.id)
        for value in (state, health):
            assert pickle.loads(pickle.dumps(value)) == value
            assert copy.deepcopy(value) == value
        assert pickle.loads(pickle.dumps(state)).to_dict() == state.to_dict()
        # "Frozen" is deep: changing the output changes neither raw nor to_dict().
        state.output["nested"]["a"].append(2)
        assert state.raw["output"]["nested"] == {"a": [1]}
        assert state.to_dict()["output"]["nested"] == {"a": [1]}
        for unpicklable in (ep, job, job.stream()):
            with pytest.raises(TypeError, match="cannot be pickled"):
                pickle.dumps(unpicklable)
        assert local.api_key is not None
        assert local.api_key.encode() not in pickle.dumps(state)


def test_a_closed_client_says_so(local: LocalEndpoint) -> None:
    ep = connect(local)
    ep.close()
    with pytest.raises(ClientClosedError, match="closed"):
        ep.health()


async def test_a_closed_async_client_says_so(local: LocalEndpoint) -> None:
    ep = connect_async(local)
    await ep.aclose()
    with pytest.raises(ClientClosedError, match="closed"):
        await ep.health()


def test_an_async_endpoint_works_on_one_loop_after_another(local: LocalEndpoint) -> None:
    ep = connect_async(local)

    async def once(n: int) -> Any:
        return (await ep.run_sync({"task": "echo", "n": n}, timeout=30)).output

    assert asyncio.run(once(1)) == {"task": "echo", "n": 1}
    assert asyncio.run(once(2)) == {"task": "echo", "n": 2}
    asyncio.run(ep.aclose())
