"""Edges of the job lifecycle: the 1 MiB stream-chunk limit (counted in bytes), both ways of
reporting an execution timeout, and ``/cancel`` of a job that has already ended."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from runpod_generated.operations import OPERATIONS

from runpod_facade.local import MAX_STREAM_CHUNK_BYTES, LocalEndpoint, create_app, sample_handlers

TERMINAL = {"COMPLETED", "FAILED", "CANCELLED", "TIMED_OUT"}


def wait_for(predicate: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


def drain(client: httpx.Client, job_id: str) -> tuple[list[Any], dict[str, Any]]:
    chunks: list[Any] = []
    while True:
        body = client.get(f"/stream/{job_id}", params={"wait": 5000}).json()
        chunks += [chunk["output"] for chunk in body["stream"]]
        if body["status"] in TERMINAL:
            return chunks, body


# ----------------------------------------------------------------------------- chunk limit


def test_chunk_limit_is_the_spec_value() -> None:
    assert MAX_STREAM_CHUNK_BYTES == OPERATIONS["stream"].max_chunk_bytes == 1_048_576


def chunky(job: dict[str, Any]) -> Iterator[Any]:
    """Yields "small", then input["chars"] copies of input["char"] as one string chunk."""
    yield "small"
    yield job["input"]["char"] * job["input"]["chars"]
    yield "after"


@pytest.fixture(scope="module")
def chunky_ep() -> Iterator[LocalEndpoint]:
    with LocalEndpoint(chunky, api_key=None) as ep:
        yield ep


# A string chunk's JSON is its characters plus two quotes.
LIMIT = MAX_STREAM_CHUNK_BYTES


@pytest.mark.parametrize(
    ("char", "chars", "ok"),
    [
        ("a", LIMIT - 2, True),  # exactly the limit
        ("a", LIMIT - 1, False),  # one byte over
        ("é", (LIMIT - 2) // 2, True),  # 2 bytes each: exactly the limit
        # One é more: 524,288 characters (half the limit) but 1,048,578 bytes.
        ("é", (LIMIT - 2) // 2 + 1, False),
        ("€", (LIMIT - 2) // 3, True),  # 3 bytes each, just under
        ("€", (LIMIT - 2) // 3 + 1, False),
    ],
)
def test_an_oversize_chunk_fails_the_job_counting_utf8_bytes(
    chunky_ep: LocalEndpoint, char: str, chars: int, ok: bool
) -> None:
    size = len(json.dumps(char * chars, ensure_ascii=False).encode())
    assert chars < LIMIT  # in characters every case is under the limit
    assert (size <= LIMIT) is ok
    with httpx.Client(base_url=chunky_ep.url, timeout=30) as client:
        job_id = client.post("/run", json={"input": {"char": char, "chars": chars}}).json()["id"]
        chunks, last = drain(client, job_id)
    if ok:
        assert last["status"] == "COMPLETED"
        assert chunks == ["small", char * chars, "after"]
        return
    assert last["status"] == "FAILED"
    # The chunk before stays delivered; the oversize one and those after it never are.
    assert chunks == ["small"]
    error = json.loads(last["error"])
    assert error["error_type"] == "ValueError"
    assert error["error_message"] == (
        f"stream chunk 2 is {size} bytes of JSON (UTF-8); one chunk may be at most {LIMIT} "
        "bytes (x-runpod-max-chunk-bytes): yield the output in smaller pieces"
    )


def test_the_limit_is_per_chunk_not_per_output() -> None:
    piece = "x" * (LIMIT // 2)

    def pieces(job: dict[str, Any]) -> Iterator[str]:
        yield from [piece] * 4  # 2 MiB in all, each chunk half the limit

    with (
        LocalEndpoint(pieces, api_key=None, return_aggregate_stream=True) as ep,
        httpx.Client(base_url=ep.url, timeout=30) as client,
    ):
        body = client.post("/runsync", json={"input": None}).json()
        assert body["status"] == "COMPLETED" and body["output"] == [piece] * 4


# ----------------------------------------------------------------------------- execution timeout


class Sleeper:
    """An async handler that sleeps ``input["seconds"][run]`` on its n-th run and logs runs."""

    def __init__(self) -> None:
        self.runs: list[str] = []

    async def __call__(self, job: dict[str, Any]) -> dict[str, Any]:
        run = len(self.runs)
        self.runs.append(job["id"])
        seconds = job["input"]["seconds"]
        await asyncio.sleep(seconds[min(run, len(seconds) - 1)])
        return {"run": run + 1}


def test_timeout_default_is_timed_out_after_one_run() -> None:
    sleeper = Sleeper()
    with (
        LocalEndpoint(sleeper, api_key=None, execution_timeout_s=0.3) as ep,
        httpx.Client(base_url=ep.url, timeout=30) as client,
    ):
        job_id = client.post("/run", json={"input": {"seconds": [30]}}).json()["id"]
        body = client.get(f"/status-sync/{job_id}", params={"wait": 20000}).json()
        assert body["status"] == "TIMED_OUT"
        assert body["error"] == "execution timeout of 300 ms exceeded"
        assert "retries" not in body
        assert sleeper.runs == [job_id]
        assert ep.health()["jobs"]["retried"] == 0


def test_timeout_as_live_runpod_reports_it_reruns_once_then_fails() -> None:
    sleeper = Sleeper()
    with (
        LocalEndpoint(
            sleeper, api_key=None, execution_timeout_s=0.3, timeout_status="FAILED"
        ) as ep,
        httpx.Client(base_url=ep.url, timeout=30) as client,
    ):
        job_id = client.post("/run", json={"input": {"seconds": [30]}}).json()["id"]
        body = client.get(f"/status-sync/{job_id}", params={"wait": 20000}).json()
        assert body["status"] == "FAILED"
        assert body["error"] == "job timed out after 1 retries"
        assert body["retries"] == 1
        # The handler really ran twice, for the same job.
        assert sleeper.runs == [job_id, job_id]
        health = ep.health()["jobs"]
        assert (health["failed"], health["retried"], health["completed"]) == (1, 1, 0)


def test_timeout_as_live_runpod_a_successful_rerun_completes() -> None:
    sleeper = Sleeper()
    with (
        LocalEndpoint(
            sleeper, api_key=None, execution_timeout_s=0.3, timeout_status="FAILED"
        ) as ep,
        httpx.Client(base_url=ep.url, timeout=30) as client,
    ):
        job_id = client.post("/run", json={"input": {"seconds": [30, 0]}}).json()["id"]
        body = client.get(f"/status-sync/{job_id}", params={"wait": 20000}).json()
        assert body["status"] == "COMPLETED"
        assert body["output"] == {"run": 2} and body["retries"] == 1
        assert ep.health()["jobs"]["failed"] == 0


def test_timeout_status_is_checked() -> None:
    with pytest.raises(ValueError, match="timeout_status"):
        create_app(sample_handlers.echo, timeout_status="TIMEOUT")  # type: ignore[arg-type]


# ----------------------------------------------------------------------------- cancel too late


class Receiver:
    """Counts webhook deliveries by job id."""

    def __init__(self) -> None:
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.job_ids: list[str] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers["Content-Length"])
                receiver.job_ids.append(json.loads(self.rfile.read(length))["id"])
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


async def mixed(job: dict[str, Any]) -> Any:
    what = job["input"]
    if what == "fail":
        raise ValueError("failed on purpose")
    if what == "slow":
        await asyncio.sleep(30)
    return {"echo": what}


@pytest.mark.parametrize("final", ["COMPLETED", "FAILED", "TIMED_OUT", "CANCELLED"])
def test_cancel_of_a_finished_job_changes_nothing(final: str) -> None:
    receiver = Receiver()
    try:
        with (
            LocalEndpoint(mixed, api_key=None, workers=2, execution_timeout_s=0.3) as ep,
            httpx.Client(base_url=ep.url, timeout=30) as client,
        ):
            what = {"COMPLETED": "ok", "FAILED": "fail", "TIMED_OUT": "slow", "CANCELLED": "slow"}
            job_id = client.post(
                "/run", json={"input": what[final], "webhook": receiver.url}
            ).json()["id"]
            if final == "CANCELLED":
                assert client.post(f"/cancel/{job_id}").json()["status"] == "CANCELLED"
            before = client.get(f"/status-sync/{job_id}", params={"wait": 20000}).json()
            assert before["status"] == final
            if final != "CANCELLED":
                wait_for(lambda: receiver.job_ids == [job_id])
            health = ep.health()

            reply = client.post(f"/cancel/{job_id}")

            # 200 with the job's real status: the caller learns the cancel came too late.
            assert reply.status_code == 200
            assert reply.json() == {"id": job_id, "status": final}
            after = client.get(f"/status/{job_id}").json()
            assert after == {**before, "executionTime": after["executionTime"]}
            assert after["executionTime"] == before["executionTime"]
            assert ep.health() == health
            # A sentinel job's webhook arrives after anything the cancel could have sent.
            sentinel = client.post("/runsync", json={"input": "ok", "webhook": receiver.url})
            wait_for(lambda: sentinel.json()["id"] in receiver.job_ids)
            assert receiver.job_ids.count(job_id) == (0 if final == "CANCELLED" else 1)
    finally:
        receiver.close()
