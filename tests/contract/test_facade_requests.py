"""Every request the façade sends conforms to the spec (checked by openapi-core on the wire),
for the sync and the async endpoint: each operation of the spec through its public method,
then the edges of each parameter's range."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest

from runpod_facade import (
    AsyncEndpoint,
    Endpoint,
    ExecutionPolicy,
    JobStatus,
    PollPolicy,
    RetryPolicy,
    S3Config,
)
from runpod_facade._constants import MAX_WAIT_MS, MIN_WAIT_MS
from tests._support.backends import BACKENDS
from tests._support.fakeapi import FakeApi
from tests._support.openapi_httpx import ContractViolation
from tests._support.operations import OPERATIONS, OperationInfo, acall, call
from tests._support.spec import SERVER_URL

API_KEY = "rp_contract_test_key"
ENDPOINT = "ep-contract"
JOB = "5c1b2e7a-0d4f-4c8e-9a61-2f3e4d5c6b7a-u1"
FAST_POLL = PollPolicy(initial=0.001, maximum=0.002)
FAST_RETRY = RetryPolicy(max_retries=1, initial_delay=0.001, max_delay=0.002)
S3 = S3Config("AKIA0000", "secret", "bucket", "https://s3.example.com", "out/")


def job(status: str, job_id: str = JOB, **extra: Any) -> httpx.Response:
    return httpx.Response(200, json={"id": job_id, "status": status, **extra})


def ScriptedApi(**queued: list[httpx.Response]) -> FakeApi:
    """The fake API, checking every exchange against the spec: queued replies per operation
    first (the last one repeats), else a plain success reply of the operation's schema."""
    api = FakeApi(defaults=True, contract=True, job_id=JOB)
    for name, replies in queued.items():
        api.on(name.replace("_", "-"), *replies)
    return api


@pytest.fixture
def sync_endpoint() -> Iterator[Callable[..., Endpoint]]:
    clients: list[httpx.Client] = []

    def build(api: FakeApi, endpoint_id: str = ENDPOINT, **options: Any) -> Endpoint:
        http = httpx.Client(transport=api.transport)
        clients.append(http)
        options.setdefault("poll_policy", FAST_POLL)
        options.setdefault("retry_policy", FAST_RETRY)
        return Endpoint(
            endpoint_id, api_key=API_KEY, base_url=SERVER_URL, http_client=http, **options
        )

    yield build
    for client in clients:
        client.close()


def body_of(request: httpx.Request) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(request.content)
    return data


def wait_of(request: httpx.Request) -> int:
    return int(request.url.params["wait"])


# --- every operation of the spec, through its public method --------------------------------


def check_request(info: OperationInfo, exchange: Any) -> None:
    """The first request of ``info``'s public method is ``info``'s, shaped as its route says
    (openapi-core has already checked it against the spec on the way)."""
    request = exchange.request
    assert exchange.operation == info.name
    assert request.method == info.method
    assert set(request.url.params) <= set(info.query_params)
    if info.has_body:
        assert request.headers["content-type"] == "application/json"
        assert body_of(request)["input"] == {"prompt": "hi"}
    else:
        assert request.content == b""
        assert "content-type" not in request.headers
    if info.holds:
        assert MIN_WAIT_MS <= wait_of(request) <= MAX_WAIT_MS
    if info.job_scoped:
        assert request.url.raw_path.split(b"?")[0].endswith(f"/{JOB}".encode())


@pytest.mark.parametrize("info", list(OPERATIONS.values()), ids=lambda info: info.name)
def test_each_operation_of_the_sync_endpoint_conforms(
    sync_endpoint: Callable[..., Endpoint], info: OperationInfo
) -> None:
    api = ScriptedApi()
    call(sync_endpoint(api), info, job_id=JOB, input={"prompt": "hi"}, timeout=30)
    check_request(info, api.transport.exchanges[0])


# --- submitting ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "policy",
    [
        ExecutionPolicy(execution_timeout=300, ttl=timedelta(hours=1), low_priority=True),
        ExecutionPolicy(execution_timeout=5, ttl=10),  # the spec's minimum of each
        ExecutionPolicy(execution_timeout=timedelta(days=7), ttl=timedelta(days=7)),  # maximum
        ExecutionPolicy(low_priority=False),
        ExecutionPolicy(),
    ],
    ids=["typical", "minimum", "maximum", "low-priority-only", "empty"],
)
def test_run_with_policy_webhook_and_s3(
    sync_endpoint: Callable[..., Endpoint], policy: ExecutionPolicy
) -> None:
    api = ScriptedApi()
    handle = sync_endpoint(api).run(
        {"prompt": "Hello, World!", "ünï": "côdé"},
        policy=policy,
        webhook="https://example.com/hook?x=1",
        s3_config=S3,
    )
    assert handle.id == JOB
    assert api.ops() == ["run"]
    (request,) = api.sent("run")
    sent = body_of(request)
    assert sent["webhook"] == "https://example.com/hook?x=1"
    assert sent["s3Config"]["objectPath"] == "out/"
    assert sent.get("policy", {}) == policy.to_wire()
    assert request.headers["content-type"] == "application/json"


@pytest.mark.parametrize("value", [None, "text", 0, [1, 2], {}, {"nested": {"deep": [None]}}])
def test_run_with_any_json_input(sync_endpoint: Callable[..., Endpoint], value: Any) -> None:
    api = ScriptedApi()
    sync_endpoint(api).run(value)
    (request,) = api.sent("run")
    assert body_of(request) == {"input": value}


@pytest.mark.parametrize("timeout", [0, 0.01, 1.2])
def test_run_sync_under_the_minimum_hold_submits_with_run(
    sync_endpoint: Callable[..., Endpoint], timeout: float
) -> None:
    api = ScriptedApi()
    sync_endpoint(api).run_sync({"prompt": "hi"}, timeout=timeout)
    assert api.ops()[0] == "run"
    assert "runsync" not in api.ops()


@pytest.mark.parametrize("timeout", [None, 1.6, 30, 90, 600])
def test_run_sync_sends_wait_in_range(
    sync_endpoint: Callable[..., Endpoint], timeout: float | None
) -> None:
    api = ScriptedApi()
    state = sync_endpoint(api).run_sync(
        {"prompt": "hi"}, timeout=timeout, policy=ExecutionPolicy(ttl=60), webhook=None
    )
    assert state.status is JobStatus.COMPLETED
    (request,) = api.sent("runsync")
    assert MIN_WAIT_MS <= wait_of(request) <= MAX_WAIT_MS
    assert body_of(request) == {"input": {"prompt": "hi"}, "policy": {"ttl": 60_000}}


def test_run_sync_that_outlasts_its_wait_continues_with_status_sync(
    sync_endpoint: Callable[..., Endpoint],
) -> None:
    api = ScriptedApi(
        runsync=[job("IN_PROGRESS", "sync-" + JOB)],
        status_sync=[job("IN_PROGRESS", "sync-" + JOB), job("COMPLETED", "sync-" + JOB)],
    )
    state = sync_endpoint(api).run_sync({"prompt": "hi"}, timeout=120, s3_config=S3)
    assert state.status is JobStatus.COMPLETED
    assert api.ops() == ["runsync", "status-sync", "status-sync"]
    for request in api.sent("status-sync"):
        assert request.url.path == f"/v2/{ENDPOINT}/status-sync/sync-{JOB}"
        assert MIN_WAIT_MS <= wait_of(request) <= MAX_WAIT_MS


# --- by job id ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ttl", "expected_ms"),
    [(None, None), (0.001, 1), (6, 6000), (timedelta(days=7), 604_800_000)],
)
def test_status_with_ttl(
    sync_endpoint: Callable[..., Endpoint], ttl: Any, expected_ms: int | None
) -> None:
    api = ScriptedApi()
    sync_endpoint(api).status(JOB, ttl=ttl)
    (request,) = api.sent("status")
    assert request.url.params.get("ttl") == (None if expected_ms is None else str(expected_ms))


# Real time passes between the two looks (the scripted replies are instant, the machine may be
# busy): 2.5 s keeps the second look well above the 1.5 s where /status takes over, which
# tests/core/test_waiting.py pins to the millisecond in fake time.
@pytest.mark.parametrize("timeout", [None, 0.6, 2.5, 30, 3600])
def test_wait_long_polls_status_sync_with_wait(
    sync_endpoint: Callable[..., Endpoint], timeout: float | None
) -> None:
    api = ScriptedApi(
        status_sync=[job("IN_QUEUE"), job("COMPLETED", output="x")],
        status=[job("IN_QUEUE"), job("COMPLETED", output="x")],
    )
    assert sync_endpoint(api).wait(JOB, timeout=timeout).output == "x"
    # Below one second left, a long-poll cannot ask for the minimum wait: /status is polled.
    expected = "status" if timeout is not None and timeout < 1.5 else "status-sync"
    assert set(api.ops()) == {expected}
    for request in api.sent("status-sync"):
        assert MIN_WAIT_MS <= wait_of(request) <= MAX_WAIT_MS


def test_wait_falls_back_to_status_when_status_sync_is_gone(
    sync_endpoint: Callable[..., Endpoint],
) -> None:
    api = ScriptedApi(
        status_sync=[httpx.Response(404, json={"error": "not found"})],
        status=[job("IN_PROGRESS"), job("COMPLETED", output=3)],
    )
    assert sync_endpoint(api).wait(JOB, timeout=30).output == 3
    assert api.ops() == ["status-sync", "status", "status"]


def test_wait_without_long_poll_polls_status(sync_endpoint: Callable[..., Endpoint]) -> None:
    api = ScriptedApi(status=[job("IN_QUEUE"), job("IN_PROGRESS"), job("COMPLETED")])
    sync_endpoint(api, long_poll=False).wait(JOB, timeout=30)
    assert api.ops() == ["status"] * 3


@pytest.mark.parametrize(
    ("timeout", "idle_timeout"), [(None, None), (30, 0.2), (0.7, None), (600, 600)]
)
def test_stream_sends_wait_in_range(
    sync_endpoint: Callable[..., Endpoint], timeout: float | None, idle_timeout: float | None
) -> None:
    api = ScriptedApi(
        stream=[
            httpx.Response(200, json={"status": "IN_PROGRESS", "stream": [{"output": "H"}]}),
            httpx.Response(200, json={"status": "COMPLETED", "stream": [{"output": "i"}]}),
        ]
    )
    outputs = list(sync_endpoint(api).stream(JOB, timeout=timeout, idle_timeout=idle_timeout))
    assert outputs == ["H", "i"]
    # The stream's end is followed by one /status for the job's whole final state.
    assert api.ops() == ["stream", "stream", "status"]
    for request in api.sent("stream"):
        assert MIN_WAIT_MS <= wait_of(request) <= MAX_WAIT_MS


@pytest.mark.parametrize(
    ("endpoint_id", "job_id", "raw_path"),
    [
        ("black-forest-labs-flux-1-dev", "sync-1-u1", b"/v2/black-forest-labs-flux-1-dev/status/sync-1-u1"),
        ("ibm-granite-granite-4.0-h-small", "a/b?c#d", b"/v2/ibm-granite-granite-4.0-h-small/status/a%2Fb%3Fc%23d"),
        ("ep", "%2e%2e", b"/v2/ep/status/%252e%252e"),
    ],
)  # fmt: skip
def test_ids_are_escaped_into_single_path_segments(
    sync_endpoint: Callable[..., Endpoint], endpoint_id: str, job_id: str, raw_path: bytes
) -> None:
    api = ScriptedApi(status=[job("IN_QUEUE", job_id)])
    assert sync_endpoint(api, endpoint_id=endpoint_id).status(job_id).id == job_id
    (request,) = api.sent("status")
    assert request.url.raw_path == raw_path


# --- the same requests from the asyncio endpoint, on each HTTP backend --------------------------


@contextlib.asynccontextmanager
async def contract_server(api: ScriptedApi) -> AsyncIterator[str]:
    """A loopback HTTP server that hands every request, as received, to ``api``'s contract
    transport; the aiohttp backend cannot use an httpx transport, so it is checked on the
    wire. Yields the base URL; a request that breaks the spec fails the test."""
    violations: list[str] = []

    from aiohttp import web  # here: only the worker that runs these tests pays its import

    async def handle(request: web.Request) -> web.Response:
        as_sent = httpx.Request(
            request.method,
            httpx.URL(SERVER_URL).copy_with(raw_path=request.raw_path.encode("ascii")),
            headers=[(k, v) for k, v in request.headers.items() if k.lower() != "host"],
            content=await request.read(),
        )
        try:
            reply = api.transport.handle_request(as_sent)
        except ContractViolation as exc:
            violations.append(str(exc))
            return web.Response(status=400, text=str(exc))
        return web.Response(
            status=reply.status_code, body=reply.content, content_type="application/json"
        )

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}{httpx.URL(SERVER_URL).path}"
    finally:
        await runner.cleanup()
    assert violations == []


@contextlib.asynccontextmanager
async def async_endpoint(api: ScriptedApi, backend: str) -> AsyncIterator[AsyncEndpoint]:
    options: dict[str, Any] = {"poll_policy": FAST_POLL, "retry_policy": FAST_RETRY}
    if backend == "httpx":
        async with (
            httpx.AsyncClient(transport=api.transport) as http,
            AsyncEndpoint(
                ENDPOINT, api_key=API_KEY, base_url=SERVER_URL, http_client=http, **options
            ) as endpoint,
        ):
            yield endpoint
        return
    async with (
        contract_server(api) as base_url,
        AsyncEndpoint(
            ENDPOINT, api_key=API_KEY, base_url=base_url, http_backend="aiohttp", **options
        ) as endpoint,
    ):
        yield endpoint


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("info", list(OPERATIONS.values()), ids=lambda info: info.name)
async def test_each_operation_of_the_async_endpoint_conforms(
    backend: str, info: OperationInfo
) -> None:
    api = ScriptedApi()
    async with async_endpoint(api, backend) as endpoint:
        await acall(endpoint, info, job_id=JOB, input={"prompt": "hi"}, timeout=30)
    check_request(info, api.transport.exchanges[0])


@pytest.mark.parametrize("backend", BACKENDS)
async def test_async_ids_are_escaped_into_single_path_segments(backend: str) -> None:
    odd_id = "a/b?c#d"
    api = ScriptedApi(status=[job("IN_QUEUE", odd_id)])
    async with async_endpoint(api, backend) as endpoint:
        assert (await endpoint.status(odd_id)).id == odd_id
    assert api.sent("status")[-1].url.raw_path == f"/v2/{ENDPOINT}/status/a%2Fb%3Fc%23d".encode()
