"""The flows of the official JS/Go SDK docs (shared/seeds) against the local endpoint, over
loopback with plain httpx: run then poll, runsync, stream, health, status, cancel, execution
policy, purge queue — plus retry, retention, TTL and handler flavours (webhooks: test_webhooks.py)."""

from __future__ import annotations

import asyncio
import json
import re
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import pytest

from runpod_facade.local import LocalEndpoint, create_app, progress_update, sample_handlers

UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
TERMINAL = {"COMPLETED", "FAILED", "CANCELLED", "TIMED_OUT"}


def poll(client: httpx.Client, job_id: str, timeout: float = 20.0) -> dict[str, Any]:
    """Poll /status until the job is terminal (the seeds' loop, with a short sleep)."""
    deadline = time.monotonic() + timeout
    while True:
        body = client.get(f"/status/{job_id}").json()
        if body["status"] in TERMINAL or time.monotonic() > deadline:
            return body
        time.sleep(0.05)


def wait_for(predicate: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


# ----------------------------------------------------------------------------- seed flows


def test_run_then_poll_status(endpoint: LocalEndpoint, client: httpx.Client) -> None:
    reply = client.post("/run", json={"input": {"prompt": "Hello, World!"}})
    assert reply.status_code == 200
    body = reply.json()
    assert re.fullmatch(UUID + "-u1", body["id"])
    assert body["status"] == "IN_QUEUE"
    final = poll(client, body["id"])
    assert final["status"] == "COMPLETED"
    assert final["output"] == {"prompt": "Hello, World!"}
    assert isinstance(final["delayTime"], int) and isinstance(final["executionTime"], int)
    runs = [r for r in endpoint.requests if r.operation == "run"]
    assert len(runs) == 1 and runs[0].job_id == body["id"] and runs[0].status_code == 200


def test_runsync_returns_terminal_job(client: httpx.Client) -> None:
    reply = client.post("/runsync", json={"input": {"prompt": "Hello, World!"}})
    assert reply.status_code == 200
    body = reply.json()
    assert re.fullmatch("sync-" + UUID + "-u1", body["id"])
    assert body["status"] == "COMPLETED"
    assert body["output"] == {"prompt": "Hello, World!"}
    # The runsync result is also available via /status for a while.
    assert client.get(f"/status/{body['id']}").json()["status"] == "COMPLETED"


def test_runsync_wait_elapses_with_non_terminal_reply() -> None:
    with (
        LocalEndpoint(sample_handlers.sleep, api_key=None) as ep,
        httpx.Client(base_url=ep.url, timeout=30) as client,
    ):
        started = time.monotonic()
        reply = client.post("/runsync", params={"wait": 1000}, json={"input": {"seconds": 2}})
        assert time.monotonic() - started < 1.9
        body = reply.json()
        assert reply.status_code == 200
        assert set(body) == {"id", "status"}
        assert body["status"] in {"IN_QUEUE", "IN_PROGRESS"}
        # status-sync long-polls to the end.
        final = client.get(f"/status-sync/{body['id']}", params={"wait": 10000}).json()
        assert final["status"] == "COMPLETED" and final["output"] == {"slept": 2.0}


def test_status_and_status_sync_accept_post_like_the_go_sdk(client: httpx.Client) -> None:
    job_id = client.post("/run", json={"input": 7}).json()["id"]
    synced = client.post(f"/status-sync/{job_id}", params={"wait": 5000}).json()
    assert synced == client.post(f"/status/{job_id}").json()
    assert synced["status"] == "COMPLETED" and synced["output"] == 7


def test_stream_generator_handler() -> None:
    with (
        LocalEndpoint(sample_handlers.text_stream) as ep,
        httpx.Client(base_url=ep.url, headers=ep.headers, timeout=30) as client,
    ):
        job_id = client.post(
            "/run", json={"input": {"prompt": "one two three four", "delay": 0.05}}
        ).json()["id"]
        chunks: list[Any] = []
        for _ in range(50):
            body = client.get(f"/stream/{job_id}").json()
            assert body["id"] == job_id
            chunks += [chunk["output"] for chunk in body["stream"]]
            if body["status"] in TERMINAL:
                break
        assert body["status"] == "COMPLETED"
        assert chunks == ["one", "two", "three", "four"]
        # Drained: a later call has nothing new.
        assert client.post(f"/stream/{job_id}", params={"wait": 1000}).json()["stream"] == []
        # No aggregation requested: the job ends with no output.
        assert "output" not in client.get(f"/status/{job_id}").json()


def test_stream_aggregate_handler_returns_chunks_as_output(client: httpx.Client) -> None:
    with (
        LocalEndpoint(sample_handlers.stream_aggregate, api_key=None) as ep,
        httpx.Client(base_url=ep.url, timeout=30) as c,
    ):
        body = c.post("/runsync", json={"input": {"count": 3}}).json()
        assert body["output"] == [{"index": 0}, {"index": 1}, {"index": 2}]
        stream = c.get(f"/stream/{body['id']}").json()
        assert [chunk["output"] for chunk in stream["stream"]] == body["output"]


def test_stream_holds_while_empty_and_reports_failure() -> None:
    def flaky(job: dict[str, Any]) -> Iterator[int]:
        yield 1
        time.sleep(0.3)
        raise RuntimeError("stream broke")

    with (
        LocalEndpoint(flaky, api_key=None) as ep,
        httpx.Client(base_url=ep.url, timeout=30) as client,
    ):
        job_id = client.post("/run", json={"input": None}).json()["id"]
        seen: list[Any] = []
        for _ in range(20):
            body = client.get(f"/stream/{job_id}", params={"wait": 5000}).json()
            seen += [chunk["output"] for chunk in body["stream"]]
            if body["status"] in TERMINAL:
                break
        assert seen == [1]
        assert body["status"] == "FAILED"
        assert json.loads(body["error"])["error_message"] == "stream broke"


def test_health_counters_add_up() -> None:
    with (
        LocalEndpoint(sample_handlers.sleep, workers=2, api_key=None) as ep,
        httpx.Client(base_url=ep.url, timeout=30) as client,
    ):
        ids = [client.post("/run", json={"input": {"seconds": 30}}).json()["id"] for _ in range(5)]
        wait_for(lambda: ep.health()["workers"]["running"] == 2)
        health = client.get("/health").json()
        assert health["jobs"]["inProgress"] == 2 and health["jobs"]["inQueue"] == 3
        workers = health["workers"]
        assert workers["idle"] + workers["running"] == 2
        assert set(workers) == {
            "idle",
            "initializing",
            "ready",
            "running",
            "throttled",
            "unhealthy",
        }
        for job_id in ids:
            client.post(f"/cancel/{job_id}")
        wait_for(lambda: ep.health()["workers"]["running"] == 0)
        assert client.get("/health").json()["jobs"]["inQueue"] == 0


def test_cancel_queued_and_running_jobs() -> None:
    with (
        LocalEndpoint(sample_handlers.sleep, workers=1, api_key=None) as ep,
        httpx.Client(base_url=ep.url, timeout=30) as client,
    ):
        running = client.post("/run", json={"input": {"seconds": 60}}).json()["id"]
        queued = client.post("/run", json={"input": {"seconds": 60}}).json()["id"]
        wait_for(lambda: client.get(f"/status/{running}").json()["status"] == "IN_PROGRESS")
        assert client.post(f"/cancel/{queued}").json() == {"id": queued, "status": "CANCELLED"}
        assert client.post(f"/cancel/{running}").json() == {"id": running, "status": "CANCELLED"}
        # The worker is free again at once (the async handler task was cancelled).
        wait_for(lambda: ep.health()["workers"]["running"] == 0, timeout=5)
        assert client.get(f"/status/{running}").json()["status"] == "CANCELLED"
        # Cancelling a terminal job leaves it as it is.
        assert client.post(f"/cancel/{running}").json()["status"] == "CANCELLED"


def test_execution_policy_timeout() -> None:
    with (
        LocalEndpoint(sample_handlers.sleep, api_key=None) as ep,
        httpx.Client(base_url=ep.url, timeout=30) as client,
    ):
        job_id = client.post(
            "/run", json={"input": {"seconds": 30}, "policy": {"executionTimeout": 5000}}
        ).json()["id"]
        body = client.get(f"/status-sync/{job_id}", params={"wait": 20000}).json()
        assert body["status"] == "TIMED_OUT"
        assert 4500 <= body["executionTime"] < 15000
        assert ep.health()["jobs"]["failed"] == 1
        wait_for(lambda: ep.health()["workers"]["running"] == 0, timeout=5)


def test_timed_out_job_can_be_retried() -> None:
    # The endpoint-wide default timeout may be shorter than the policy minimum of 5 s.
    with (
        LocalEndpoint(sample_handlers.sleep, api_key=None, execution_timeout_s=0.3) as ep,
        httpx.Client(base_url=ep.url, timeout=30) as client,
    ):
        job_id = client.post("/run", json={"input": {"seconds": 30}}).json()["id"]
        assert client.get(f"/status-sync/{job_id}").json()["status"] == "TIMED_OUT"
        # Retry keeps the id and requeues; it times out again.
        assert client.post(f"/retry/{job_id}").json() == {"id": job_id, "status": "IN_QUEUE"}
        assert ep.health()["jobs"]["retried"] == 1
        again = client.get(f"/status-sync/{job_id}", params={"wait": 20000}).json()
        assert again["status"] == "TIMED_OUT" and again["retries"] == 1


def test_retry_failed_job_and_reject_others(client: httpx.Client) -> None:
    with (
        LocalEndpoint(sample_handlers.fail, api_key=None) as ep,
        httpx.Client(base_url=ep.url, timeout=30) as c,
    ):
        failed = c.post("/runsync", json={"input": {"message": "boom"}}).json()
        assert failed["status"] == "FAILED"
        error = json.loads(failed["error"])
        assert error["error_type"] == "ValueError" and error["error_message"] == "boom"
        assert "Traceback" in error["error_traceback"]
        assert c.post(f"/retry/{failed['id']}").json()["status"] == "IN_QUEUE"
        assert c.get(f"/status-sync/{failed['id']}").json()["status"] == "FAILED"
    ok = client.post("/runsync", json={"input": 1}).json()
    reply = client.post(f"/retry/{ok['id']}")
    assert reply.status_code == 400 and "error" in reply.json()


def test_purge_queue_removes_only_queued_jobs() -> None:
    with (
        LocalEndpoint(sample_handlers.sleep, workers=1, api_key=None) as ep,
        httpx.Client(base_url=ep.url, timeout=30) as client,
    ):
        running = client.post("/run", json={"input": {"seconds": 1}}).json()["id"]
        wait_for(lambda: client.get(f"/status/{running}").json()["status"] == "IN_PROGRESS")
        queued = [
            client.post("/run", json={"input": {"seconds": 1}}).json()["id"] for _ in range(2)
        ]
        assert client.post("/purge-queue").json() == {"removed": 2, "status": "completed"}
        assert client.get(f"/status/{queued[0]}").json()["status"] == "CANCELLED"
        final = client.get(f"/status-sync/{running}", params={"wait": 10000}).json()
        assert final["status"] == "COMPLETED"
        assert client.post("/purge-queue").json() == {"removed": 0, "status": "completed"}


def test_low_priority_runs_after_normal_jobs() -> None:
    order: list[str] = []

    def record(job: dict[str, Any]) -> None:
        order.append(job["input"])
        time.sleep(0.05)

    with (
        LocalEndpoint(record, workers=1, api_key=None) as ep,
        httpx.Client(base_url=ep.url, timeout=30) as client,
    ):
        blocker = client.post("/run", json={"input": "first"}).json()["id"]
        client.post("/run", json={"input": "low", "policy": {"lowPriority": True}})
        last = client.post("/run", json={"input": "normal"}).json()["id"]
        client.get(f"/status-sync/{blocker}")
        client.get(f"/status-sync/{last}")
        wait_for(lambda: len(order) == 3)
    assert order[1:] == ["normal", "low"]


def test_policy_ttl_deletes_job_and_status_ttl_shortens_retention() -> None:
    with (
        LocalEndpoint(sample_handlers.sleep, api_key=None, ttl_s=1.0) as ep,
        httpx.Client(base_url=ep.url, timeout=30) as client,
    ):
        # Endpoint default TTL of 1 s: the running job is deleted, status turns 404.
        job_id = client.post("/run", json={"input": {"seconds": 30}}).json()["id"]
        wait_for(lambda: client.get(f"/status/{job_id}").status_code == 404, timeout=10)
        assert client.get(f"/status/{job_id}").json() == {"error": f"job {job_id} not found"}
        wait_for(lambda: ep.health()["workers"]["running"] == 0)
    with (
        LocalEndpoint(sample_handlers.echo, api_key=None) as ep,
        httpx.Client(base_url=ep.url, timeout=30) as client,
    ):
        done = client.post("/runsync", json={"input": 1}).json()
        assert client.get(f"/status/{done['id']}", params={"ttl": 300}).status_code == 200
        wait_for(lambda: client.get(f"/status/{done['id']}").status_code == 404, timeout=10)


def test_result_retention_is_configurable() -> None:
    with (
        LocalEndpoint(sample_handlers.echo, api_key=None, run_retention_s=0.3) as ep,
        httpx.Client(base_url=ep.url, timeout=30) as client,
    ):
        job_id = client.post("/run", json={"input": 1}).json()["id"]
        assert client.get(f"/status-sync/{job_id}").json()["status"] == "COMPLETED"
        wait_for(lambda: client.get(f"/status/{job_id}").status_code == 404, timeout=10)
        assert job_id not in ep.job_ids()


def test_progress_updates_visible_while_in_progress() -> None:
    with (
        LocalEndpoint(sample_handlers.progress, api_key=None) as ep,
        httpx.Client(base_url=ep.url, timeout=30) as client,
    ):
        job_id = client.post("/run", json={"input": {"steps": 3, "delay": 0.3}}).json()["id"]
        seen = []
        while (body := client.get(f"/status/{job_id}").json())["status"] not in TERMINAL:
            if body["status"] == "IN_PROGRESS" and "output" in body:
                seen.append(body["output"])
            time.sleep(0.05)
        assert {"step": 1, "of": 3} in seen or {"step": 2, "of": 3} in seen
        assert body["output"] == {"steps": 3}


def test_handler_returning_error_dict_fails_the_job() -> None:
    def partial(job: dict[str, Any]) -> dict[str, Any]:
        return {"error": "bad prompt", "detail": 42}

    with (
        LocalEndpoint(partial, api_key=None) as ep,
        httpx.Client(base_url=ep.url, timeout=30) as client,
    ):
        body = client.post("/runsync", json={"input": {}}).json()
        assert body["status"] == "FAILED"
        assert body["error"] == "bad prompt"
        assert body["output"] == {"detail": 42}


async def test_async_handlers_and_async_context_manager() -> None:
    async def doubler(job: dict[str, Any]) -> int:
        await asyncio.sleep(0.01)
        return int(job["input"]) * 2

    async def counter(job: dict[str, Any]) -> AsyncIterator[int]:
        for index in range(3):
            yield index

    ep = LocalEndpoint(doubler, workers=3)
    async with ep, httpx.AsyncClient(base_url=ep.url, headers=ep.headers, timeout=30) as client:
        replies = await asyncio.gather(
            *(client.post("/runsync", json={"input": n}) for n in range(6))
        )
        assert sorted(r.json()["output"] for r in replies) == [0, 2, 4, 6, 8, 10]
    async with (
        LocalEndpoint(counter, return_aggregate_stream=True, api_key=None) as ep,
        httpx.AsyncClient(base_url=ep.url, timeout=30) as client,
    ):
        assert (await client.post("/runsync", json={"input": 0})).json()["output"] == [0, 1, 2]


def test_progress_update_from_async_handler() -> None:
    async def reporter(job: dict[str, Any]) -> str:
        progress_update(job, "half way")
        await asyncio.sleep(0.5)
        return "done"

    with (
        LocalEndpoint(reporter, api_key=None) as ep,
        httpx.Client(base_url=ep.url, timeout=30) as client,
    ):
        job_id = client.post("/run", json={"input": None}).json()["id"]
        wait_for(lambda: client.get(f"/status/{job_id}").json().get("output") == "half way")
        assert client.get(f"/status-sync/{job_id}").json()["output"] == "done"


def test_handler_strings_module_and_file(tmp_path: Any) -> None:
    script = tmp_path / "my_worker.py"
    script.write_text("def handler(job):\n    return {'from_file': job['input']}\n")
    for target, expected in [
        ("runpod_facade.local.sample_handlers:echo", 5),
        (f"{script}", {"from_file": 5}),
        (f"{script}:handler", {"from_file": 5}),
    ]:
        with (
            LocalEndpoint(target, api_key=None) as ep,
            httpx.Client(base_url=ep.url, timeout=30) as client,
        ):
            assert client.post("/runsync", json={"input": 5}).json()["output"] == expected


def test_endpoint_id_any_or_fixed() -> None:
    with LocalEndpoint(sample_handlers.echo, api_key=None) as ep:
        assert httpx.get(f"{ep.base_url}/another-endpoint.v2/health").status_code == 200
    with LocalEndpoint(sample_handlers.echo, api_key=None, accept_any_endpoint_id=False) as ep:
        assert httpx.get(f"{ep.base_url}/another/health").status_code == 404
        assert httpx.get(f"{ep.url}/health").status_code == 200


def test_raw_api_key_is_accepted_like_the_docs_curl_samples(endpoint: LocalEndpoint) -> None:
    assert endpoint.api_key is not None
    reply = httpx.get(f"{endpoint.url}/health", headers={"Authorization": endpoint.api_key})
    assert reply.status_code == 200


def test_in_process_asgi_app() -> None:
    from runpod_facade.local import create_app

    app = create_app(sample_handlers.text_stream, api_key="k")

    async def scenario() -> None:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport,
            base_url="http://local/v2/ep",
            headers={"Authorization": "Bearer k"},
        ) as client:
            body = (await client.post("/runsync", json={"input": {"prompt": "a b"}})).json()
            assert body["status"] == "COMPLETED"
            stream = (await client.get(f"/stream/{body['id']}")).json()
            assert [c["output"] for c in stream["stream"]] == ["a", "b"]

    try:
        asyncio.run(scenario())
        asyncio.run(scenario())  # a second event loop: the engine survives it
    finally:
        app.close()


def test_start_stop_is_quick_and_leaks_no_threads() -> None:
    before = set(threading.enumerate())
    started = time.monotonic()
    ep = LocalEndpoint(sample_handlers.sleep, workers=4)
    ep.start()
    with httpx.Client(base_url=ep.url, headers=ep.headers, timeout=30) as client:
        job_id = client.post("/run", json={"input": {"seconds": 60}}).json()["id"]
        wait_for(lambda: client.get(f"/status/{job_id}").json()["status"] == "IN_PROGRESS")
    stopping = time.monotonic()
    ep.stop()
    assert time.monotonic() - stopping < 3.0
    wait_for(lambda: set(threading.enumerate()) <= before, timeout=3)
    assert time.monotonic() - started < 10


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_status_of_unknown_job_is_404_json(client: httpx.Client, method: str) -> None:
    reply = client.request(method, "/status/nope-u1")
    assert reply.status_code == 404
    assert reply.json() == {"error": "job nope-u1 not found"}


#: how the handler publishes its progress -> what it passes progress_update as ``job``.
PROGRESS_CALLERS: dict[str, Callable[[dict[str, Any], Any], None]] = {
    "handler thread, job dict": lambda job, value: progress_update(job, value),
    "handler thread, job id": lambda job, value: progress_update(job["id"], value),
    "another thread, job id": lambda job, value: _in_thread(progress_update, job["id"], value),
}


def _in_thread(call: Callable[..., None], *args: Any) -> None:
    thread = threading.Thread(target=call, args=args)
    thread.start()
    thread.join()


@pytest.mark.parametrize("caller", list(PROGRESS_CALLERS))
def test_progress_update_by_dict_or_id_from_any_thread_and_a_no_op_once_finished(
    caller: str,
) -> None:
    publish = PROGRESS_CALLERS[caller]
    release = threading.Event()
    seen_jobs: list[dict[str, Any]] = []

    def handler(job: dict[str, Any]) -> str:
        seen_jobs.append(job)
        publish(job, {"half": True})
        release.wait(10)
        return "done"

    with (
        LocalEndpoint(handler, api_key=None) as ep,
        httpx.Client(base_url=ep.url, timeout=30) as client,
    ):
        job_id = client.post("/run", json={"input": None}).json()["id"]
        wait_for(lambda: client.get(f"/status/{job_id}").json().get("output") == {"half": True})
        release.set()
        assert client.get(f"/status-sync/{job_id}").json()["output"] == "done"
        publish(seen_jobs[0], "too late")  # the job has finished: a no-op, not an error
        body = client.get(f"/status/{job_id}").json()
        assert (body["status"], body["output"]) == ("COMPLETED", "done")


@pytest.mark.parametrize("closing", ["close", "aclose"])
def test_an_in_process_app_starts_on_its_first_request_and_closes_idempotently(
    closing: str,
) -> None:
    # LocalEndpointApp: "the engine starts on the first request; call close() (or await
    # aclose()) when done"; close() is idempotent.
    def engines() -> list[threading.Thread]:
        return [t for t in threading.enumerate() if t.name == "runpod-local-engine"]

    before = len(engines())
    app = create_app(sample_handlers.echo)

    async def scenario() -> None:
        assert len(engines()) == before  # nothing runs until a request comes
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://local/v2/ep") as c:
            assert (await c.post("/runsync", json={"input": 1})).json()["output"] == 1
        assert len(engines()) == before + 1
        if closing == "aclose":
            await app.aclose()
            await app.aclose()

    try:
        asyncio.run(scenario())
    finally:
        if closing == "close":
            app.close()
            app.close()
    wait_for(lambda: len(engines()) == before, timeout=5)


def test_request_records_name_the_operation_or_none_and_the_arrival_time() -> None:
    # RequestRecord: ``operation`` is None for other paths; ``timestamp`` is time.time() at
    # arrival.
    with (
        LocalEndpoint(sample_handlers.echo) as ep,
        httpx.Client(headers=ep.headers, timeout=30) as client,
    ):
        started = time.time()
        client.get(f"{ep.url}/health")
        client.get(f"{ep.url}/no-such-route")
        client.get(f"http://{ep.host}:{ep.port}/elsewhere")
        ended = time.time()
        records = ep.requests
    assert [(r.operation, r.status_code) for r in records] == [
        ("health", 200),
        (None, 404),
        (None, 404),
    ]
    stamps = [r.timestamp for r in records]
    assert started <= stamps[0] <= stamps[1] <= stamps[2] <= ended


def test_the_default_key_is_random_and_none_turns_auth_off() -> None:
    # LocalEndpoint: "``api_key`` defaults to a random key (so auth is exercised; see
    # headers); pass ``None`` to disable auth". ``headers`` is ``{}`` when auth is off.
    with LocalEndpoint(sample_handlers.echo) as one, LocalEndpoint(sample_handlers.echo) as two:
        assert one.api_key and two.api_key and one.api_key != two.api_key
        assert one.headers == {"Authorization": f"Bearer {one.api_key}"}
        assert httpx.get(f"{one.url}/health").status_code == 401
        assert httpx.get(f"{one.url}/health", headers=one.headers).status_code == 200
    with LocalEndpoint(sample_handlers.echo, api_key=None) as open_:
        assert open_.headers == {}
        assert httpx.get(f"{open_.url}/health").status_code == 200
