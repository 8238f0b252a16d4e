"""A handler that crashes in every way fails its own job and nothing else.

Each case runs on an endpoint that has already served jobs, and is followed by a job that must
complete on the same endpoint: a crash that leaked out of the job (a ``SystemExit`` closing the
engine loop, a ``KeyboardInterrupt`` killing its thread, a job left IN_PROGRESS forever) fails
the follow-up, the health check or the status of the crashed job.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from runpod_facade.local import LocalEndpoint


class CustomBase(BaseException):
    """A BaseException subclass of the handler's own."""


class BrokenStr(Exception):
    def __str__(self) -> str:
        raise RuntimeError("__str__ is broken too")


class BrokenStrBase(BaseException):
    def __str__(self) -> str:
        raise KeyboardInterrupt


def _exception(kind: str) -> BaseException:
    return {
        "SystemExit": SystemExit(3),
        "KeyboardInterrupt": KeyboardInterrupt(),
        "GeneratorExit": GeneratorExit(),
        "CancelledError": asyncio.CancelledError(),
        "CustomBase": CustomBase("custom"),
        "BrokenStr": BrokenStr(),
        "BrokenStrBase": BrokenStrBase(),
        "ValueError": ValueError("plain"),
    }[kind]


# error_type as the error document names it.
ERROR_TYPES = {
    "SystemExit": "SystemExit",
    "KeyboardInterrupt": "KeyboardInterrupt",
    "GeneratorExit": "GeneratorExit",
    "CancelledError": "asyncio.exceptions.CancelledError",
    "CustomBase": f"{__name__}.CustomBase",
    "BrokenStr": f"{__name__}.BrokenStr",
    "BrokenStrBase": f"{__name__}.BrokenStrBase",
    "ValueError": "ValueError",
}
KINDS = list(ERROR_TYPES)


def _crash(data: Any) -> None:
    if isinstance(data, dict) and "raise" in data:
        raise _exception(data["raise"])


def sync_handler(job: dict[str, Any]) -> Any:
    _crash(job["input"])
    return {"ok": job["input"]}


async def async_handler(job: dict[str, Any]) -> Any:
    await asyncio.sleep(0)
    _crash(job["input"])
    return {"ok": job["input"]}


def generator_handler(job: dict[str, Any]) -> Iterator[Any]:
    data = job["input"]
    if isinstance(data, dict) and data.get("when") == "mid":
        yield "first"
    _crash(data)
    yield "last"


async def async_generator_handler(job: dict[str, Any]) -> AsyncIterator[Any]:
    data = job["input"]
    if isinstance(data, dict) and data.get("when") == "mid":
        yield "first"
        await asyncio.sleep(0)
    _crash(data)
    yield "last"


HANDLERS = {
    "sync": sync_handler,
    "async": async_handler,
    "generator": generator_handler,
    "async-generator": async_generator_handler,
}
CASES = [
    (flavour, kind, when)
    for flavour in HANDLERS
    for kind in KINDS
    for when in (("before", "mid") if "generator" in flavour else ("before",))
]


@pytest.fixture(scope="module")
def endpoints() -> Iterator[dict[str, LocalEndpoint]]:
    """One endpoint per handler flavour, shared by all its cases."""
    with contextlib.ExitStack() as stack:
        yield {
            flavour: stack.enter_context(LocalEndpoint(handler, workers=2, api_key=None))
            for flavour, handler in HANDLERS.items()
        }


def _follow_up_completes(client: httpx.Client) -> None:
    done = client.post("/runsync", json={"input": "after"}).json()
    assert done["status"] == "COMPLETED", done
    assert client.get("/health").status_code == 200


@pytest.mark.parametrize(("flavour", "kind", "when"), CASES)
def test_a_raising_handler_fails_only_its_job(
    endpoints: dict[str, LocalEndpoint], flavour: str, kind: str, when: str
) -> None:
    ep = endpoints[flavour]
    with httpx.Client(base_url=ep.url, timeout=30) as client:
        failed_before = ep.health()["jobs"]["failed"]
        job = client.post("/run", json={"input": {"raise": kind, "when": when}}).json()
        if when == "mid":
            # The chunk produced before the crash is delivered, then the stream ends FAILED.
            seen: list[Any] = []
            while True:
                body = client.get(f"/stream/{job['id']}", params={"wait": 5000}).json()
                seen += [chunk["output"] for chunk in body["stream"]]
                if body["status"] != "IN_PROGRESS" and body["status"] != "IN_QUEUE":
                    break
            assert seen == ["first"]
        final = client.get(f"/status-sync/{job['id']}", params={"wait": 10000}).json()
        assert final["status"] == "FAILED", final
        error = json.loads(final["error"])
        assert error["error_type"] == ERROR_TYPES[kind]
        assert error["error_traceback"]
        if kind.startswith("BrokenStr"):
            assert error["error_message"].startswith("<str() of BrokenStr")
        assert ep.health()["jobs"]["failed"] == failed_before + 1
        _follow_up_completes(client)


def test_the_case_list_covers_every_flavour_and_moment() -> None:
    assert len(CASES) == 2 * len(KINDS) + 2 * 2 * len(KINDS)


class EvilDict(dict[str, Any]):
    """JSON encoding of a dict subclass calls items(): user code, here raising."""

    def items(self) -> Any:
        raise KeyboardInterrupt


def bad_values(job: dict[str, Any]) -> Any:
    what = job["input"]
    if what == "nan":
        return {"score": float("nan")}
    if what == "infinity":
        return [float("inf")]
    if what == "set":
        return {1, 2}
    if what == "object":
        return object()
    if what == "lock":  # not picklable either
        return {"lock": threading.Lock()}
    if what == "cycle":
        cycle: list[Any] = []
        cycle.append(cycle)
        return cycle
    if what == "evil-dict":
        return EvilDict(a=1)
    if what == "int-keys":
        return {1: "one"}
    if what == "stream-nan":
        return iter(["fine", float("nan")])
    raise AssertionError(what)


@pytest.fixture(scope="module")
def values_ep() -> Iterator[LocalEndpoint]:
    with LocalEndpoint(bad_values, api_key=None) as ep:
        yield ep


@pytest.mark.parametrize(
    "what", ["nan", "infinity", "set", "object", "lock", "cycle", "evil-dict", "stream-nan"]
)
def test_output_that_is_not_json_fails_the_job(values_ep: LocalEndpoint, what: str) -> None:
    with httpx.Client(base_url=values_ep.url, timeout=30) as client:
        final = client.post("/runsync", json={"input": what}).json()
        assert final["status"] == "FAILED", final
        error = json.loads(final["error"])
        assert error["error_type"] == "ValueError"
        assert "not JSON-serializable" in error["error_message"]
        assert client.get("/health").status_code == 200


def test_output_travels_as_json_would(values_ep: LocalEndpoint) -> None:
    with httpx.Client(base_url=values_ep.url, timeout=30) as client:
        final = client.post("/runsync", json={"input": "int-keys"}).json()
        assert final["status"] == "COMPLETED"
        assert final["output"] == {"1": "one"}


def test_huge_output_is_returned_whole() -> None:
    size = 25 * 1024 * 1024  # over the 20 MiB request limit: outputs have no documented cap

    def huge(job: dict[str, Any]) -> str:
        return "x" * size

    with (
        LocalEndpoint(huge, api_key=None) as ep,
        httpx.Client(base_url=ep.url, timeout=60) as client,
    ):
        job_id = client.post("/run", json={"input": None}).json()["id"]
        final = client.get(f"/status-sync/{job_id}").json()
        assert final["status"] == "COMPLETED"
        assert len(final["output"]) == size
        assert client.post("/runsync", json={"input": None}).json()["status"] == "COMPLETED"


def test_handler_that_swallows_cancellation_does_not_resurrect_its_job() -> None:
    started = threading.Event()

    async def stubborn(job: dict[str, Any]) -> str:
        started.set()
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            return "ignored the cancel"
        return "slept"

    with (
        LocalEndpoint(stubborn, api_key=None) as ep,
        httpx.Client(base_url=ep.url, timeout=30) as client,
    ):
        job_id = client.post("/run", json={"input": None}).json()["id"]
        assert started.wait(10)
        assert client.post(f"/cancel/{job_id}").json()["status"] == "CANCELLED"
        # The handler's late return value is dropped; the worker is free again.
        deadline = time.monotonic() + 10
        while ep.health()["workers"]["running"] and time.monotonic() < deadline:
            time.sleep(0.02)
        assert ep.health()["workers"]["running"] == 0
        body = client.get(f"/status/{job_id}").json()
        assert body["status"] == "CANCELLED" and "output" not in body


def test_sync_handlers_stuck_past_their_jobs_do_not_use_up_the_workers() -> None:
    # Each cancelled job leaves its sync handler blocked in its thread (threads cannot be
    # interrupted); a fixed pool of workers + 4 threads ran out after five of them, and later
    # jobs stayed IN_PROGRESS forever while /health showed idle workers.
    release = threading.Event()

    def handler(job: dict[str, Any]) -> str:
        if job["input"] == "hang":
            release.wait(60)
        return "done"

    try:
        with (
            LocalEndpoint(handler, api_key=None, workers=1) as ep,
            httpx.Client(base_url=ep.url, timeout=30) as client,
        ):
            for _ in range(6):
                job_id = client.post("/run", json={"input": "hang"}).json()["id"]
                deadline = time.monotonic() + 10
                while client.get(f"/status/{job_id}").json()["status"] == "IN_QUEUE":
                    assert time.monotonic() < deadline
                    time.sleep(0.01)
                assert client.post(f"/cancel/{job_id}").json()["status"] == "CANCELLED"
            reply = client.post("/runsync?wait=5000", json={"input": "quick"}).json()
            assert reply["status"] == "COMPLETED", reply
    finally:
        release.set()


_HANGS_FOREVER = """
import threading, time
from runpod_facade import Endpoint
from runpod_facade.local import LocalEndpoint

def handler(job):
    threading.Event().wait()

with LocalEndpoint(handler) as local:
    with Endpoint(local.endpoint_id, base_url=local.base_url, api_key=local.api_key) as ep:
        ep.run({})
        time.sleep(0.2)
print("closed", flush=True)
"""


def test_a_handler_that_never_returns_does_not_keep_the_process_alive() -> None:
    # A pytest run whose test left a handler hanging printed its summary and then never
    # exited: the handler's pool thread was joined at interpreter exit.
    import subprocess
    import sys

    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", _HANGS_FOREVER], capture_output=True, text=True, timeout=20
    )
    assert done.stdout == "closed\n", done.stderr
    assert done.returncode == 0, done.stderr
    assert time.monotonic() - started < 15


def test_stopping_with_many_stuck_handlers_does_not_wait_for_each() -> None:
    release = threading.Event()
    started = threading.Semaphore(0)

    def handler(job: dict[str, Any]) -> None:
        started.release()
        release.wait(60)

    try:
        ep = LocalEndpoint(handler, api_key=None, workers=8).start()
        with httpx.Client(base_url=ep.url, timeout=30) as client:
            for _ in range(8):
                client.post("/run", json={"input": None})
        for _ in range(8):
            assert started.acquire(timeout=10)
        began = time.monotonic()
        ep.stop()
        assert time.monotonic() - began < 3  # 8 x 0.5 s before
    finally:
        release.set()
