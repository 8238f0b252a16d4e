"""RunPod's per-route rate limits on the local endpoint (``rate_limits=``, ``serve
--rate-limits``), and clients pacing themselves against them through real loopback sockets,
blocking and asyncio."""

from __future__ import annotations

import asyncio
import concurrent.futures
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from runpod_generated.operations import OPERATIONS

from runpod_facade import AsyncEndpoint, Endpoint, InvalidInputError
from runpod_facade._rate_limits import RUNPOD_RATE_LIMITS, RateLimit, RateLimits
from runpod_facade.local import LocalEndpoint, create_app, sample_handlers

SPEC_PATH = Path(__file__).resolve().parents[2] / "openapi" / "runpod-serverless.yaml"
ROOT = SPEC_PATH.parents[1]


def spec_rate_limits() -> dict[str, dict[str, Any]]:
    """``x-runpod-rate-limit`` of every operation of the spec that has one, by name."""
    spec = yaml.safe_load(SPEC_PATH.read_text(encoding="utf-8"))
    by_path = {(info.method.lower(), info.path): name for name, info in OPERATIONS.items()}
    found = {}
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if isinstance(operation, dict) and "x-runpod-rate-limit" in operation:
                found[by_path[method, path]] = operation["x-runpod-rate-limit"]
    return found


@pytest.mark.parametrize("name", sorted(spec_rate_limits()))
def test_the_runpod_preset_is_the_spec(name: str) -> None:
    documented = spec_rate_limits()[name]
    assert RUNPOD_RATE_LIMITS[name] == RateLimit(
        documented["requests"], float(documented["per_seconds"]), documented.get("concurrent")
    )


def test_every_documented_job_route_is_in_the_preset() -> None:
    assert set(spec_rate_limits()) == set(RUNPOD_RATE_LIMITS) - {"openai"}


def statuses(client: httpx.Client, count: int, path: str = "/status/no-such-job") -> list[int]:
    return [client.get(path).status_code for _ in range(count)]


def test_past_the_limit_a_route_answers_429_with_a_json_error() -> None:
    with (
        LocalEndpoint(sample_handlers.echo, rate_limits={"status": (5, 60.0)}) as ep,
        httpx.Client(base_url=ep.url, headers=ep.headers) as client,
    ):
        # Unknown jobs: 404, but each request counts against the window.
        assert statuses(client, 5) == [404] * 5
        refused = client.get("/status/no-such-job")
        assert refused.status_code == 429
        assert refused.headers["content-type"] == "application/json"
        assert refused.json() == {
            "error": "Too Many Requests: /status allows 5 requests per 60 s per endpoint"
        }
        assert "retry-after" not in refused.headers  # RunPod documents none
        # Other routes have their own budgets, and so has another endpoint id.
        assert client.get("/health").status_code == 200
        other = f"{ep.base_url}/another-endpoint/status/x"
        assert httpx.get(other, headers=ep.headers).status_code == 404
        assert [r.status_code for r in ep.requests if r.operation == "status"][-2:] == [429, 404]
        assert ep.app.rate_limiter is not None
        assert ep.app.rate_limiter.refused == {"status": 1}


def test_the_window_slides() -> None:
    with (
        LocalEndpoint(sample_handlers.echo, rate_limits={"health": (3, 0.5)}) as ep,
        httpx.Client(base_url=ep.url, headers=ep.headers) as client,
    ):
        assert statuses(client, 4, "/health") == [200, 200, 200, 429]
        time.sleep(0.6)
        assert statuses(client, 3, "/health") == [200, 200, 200]


def test_retry_after_when_asked_for() -> None:
    limits = RateLimits({"cancel": RateLimit(1, 30.0)}, retry_after=True)
    with (
        LocalEndpoint(sample_handlers.echo, rate_limits=limits) as ep,
        httpx.Client(base_url=ep.url, headers=ep.headers) as client,
    ):
        assert client.post("/cancel/x").status_code == 404
        refused = client.post("/cancel/x")
        assert refused.status_code == 429
        assert 29 <= int(refused.headers["retry-after"]) <= 30


def test_the_concurrency_limit_counts_requests_in_progress() -> None:
    limits = {"runsync": RateLimit(100, 10.0, concurrent=1)}
    with (
        LocalEndpoint(sample_handlers.sleep, workers=2, rate_limits=limits) as ep,
        httpx.Client(base_url=ep.url, headers=ep.headers, timeout=30) as client,
        concurrent.futures.ThreadPoolExecutor(1) as pool,
    ):
        slow = pool.submit(client.post, "/runsync", json={"input": {"seconds": 1.0}})
        deadline = time.monotonic() + 10
        while not any(r.operation == "runsync" for r in ep.requests):
            assert time.monotonic() < deadline
            time.sleep(0.01)
        refused = client.post("/runsync", json={"input": {"seconds": 0}})
        assert refused.status_code == 429
        assert "1 requests in progress at once" in refused.json()["error"]
        assert slow.result().json()["status"] == "COMPLETED"
        assert client.post("/runsync", json={"input": {"seconds": 0}}).status_code == 200


def test_the_runpod_preset_scaled() -> None:
    # purge-queue: 2 per 10 s documented; scaled by 100 the third within 1000 s is refused.
    with (
        LocalEndpoint(sample_handlers.echo, rate_limits="runpod", rate_limit_scale=100) as ep,
        httpx.Client(base_url=ep.url, headers=ep.headers) as client,
    ):
        codes = [client.post("/purge-queue").status_code for _ in range(3)]
        assert codes == [200, 200, 429]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_serve_rate_limits_runpod() -> None:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "runpod_facade", "serve", "runpod_facade.local.sample_handlers:echo",
         "--port", str(port), "--rate-limits", "runpod", "--rate-limit-scale", "100"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
    )  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}/v2/ep"
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "serve did not start"
            try:
                httpx.get(f"{url}/health", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.05)
        codes = [httpx.post(f"{url}/purge-queue").status_code for _ in range(3)]
        assert codes == [200, 200, 429]
    finally:
        proc.terminate()
        proc.communicate(timeout=20)


@pytest.mark.misuse("argument")
@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"rate_limits": "learn"}, "rate_limits must be 'runpod', None"),
        ({"rate_limits": "RunPod"}, "rate_limits must be"),
        ({"rate_limits": {"status": (5, -1.0)}}, "per_seconds must be finite and > 0"),
        ({"rate_limits": {"sttaus": (5, 1.0)}}, "unknown route 'sttaus'"),
        ({"rate_limits": "runpod", "rate_limit_scale": 0}, "time_scale must be finite and > 0"),
        ({"rate_limits": None, "rate_limit_scale": float("nan")}, "time_scale must be finite"),
    ],
)
def test_bad_limits_fail_before_the_server_starts(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        create_app(sample_handlers.echo, **kwargs)
    assert message in str(caught.value)


@pytest.mark.misuse("argument")
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--rate-limits", "fast"], "invalid choice: 'fast'"),
        (["--rate-limits", "runpod", "--rate-limit-scale", "0"], "more than 0 and up to 1000"),
        (["--rate-limit-scale", "x"], "expected a factor, more than 0 and up to 1000, got 'x'"),
        (["--rate-limit-scale", "nan"], "got 'nan'"),
        (["--rate-limit-scale", "1001"], "got '1001'"),
    ],
)
def test_serve_refuses_bad_rate_limit_options(args: list[str], message: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "runpod_facade", "serve", "m:h", *args],
        capture_output=True, text=True, cwd=ROOT, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 2
    assert message in result.stderr


@pytest.mark.misuse("argument")
@pytest.mark.parametrize("value", ["fast", 3, {"run": "1000/10s"}])
def test_a_client_refuses_bad_rate_limits_before_sending(value: Any) -> None:
    with pytest.raises(InvalidInputError, match=r"rate_limits must be|must be a RateLimit"):
        Endpoint("ep", api_key="rp_test_key_0123456789", rate_limits=value)


# --- clients pacing themselves over loopback --------------------------------------------------

#: 40 per 0.4 s: 100 runsync requests a second (the /runsync of map without a journal).
SERVER_LIMITS = {"runsync": (40, 0.4)}
INPUTS = 300
CONCURRENCY = 8
CLIENT_LIMITS = [
    pytest.param(RateLimits.learned(time_scale=0.04), id="learned"),
    pytest.param(SERVER_LIMITS, id="configured"),
]


def check_run(ep: LocalEndpoint, outputs: list[Any], seconds: float) -> None:
    assert sorted(outputs) == list(range(INPUTS))
    limiter = ep.app.rate_limiter
    assert limiter is not None
    refused = limiter.refused["runsync"]
    # No 429 storm: the refusals while learning (about one per request in flight) and a few
    # when probing; without pacing a 300-job map here meets several hundred.
    assert refused <= CONCURRENCY + 0.05 * INPUTS, refused
    # And never faster than allowed (the server enforces it; this checks the count is real).
    assert seconds >= (INPUTS - 40) / 100


def check_paced(ep: LocalEndpoint, client_limits: Any, rate: float | None) -> None:
    """Configured numbers pace the route from the start; a learning client has a rate
    exactly when the server refused something. A machine too busy to send 100 requests a
    second never meets the limit (with 3 busy threads in the test process it did not)."""
    limiter = ep.app.rate_limiter
    assert limiter is not None
    learning = isinstance(client_limits, RateLimits) and not client_limits.routes
    assert (rate is not None) == (not learning or limiter.refused["runsync"] > 0), rate


@pytest.mark.parametrize("client_limits", CLIENT_LIMITS)
def test_sync_map_paces_itself(client_limits: Any) -> None:
    with (
        LocalEndpoint(sample_handlers.echo, workers=8, rate_limits=SERVER_LIMITS) as local,
        Endpoint(
            local.endpoint_id,
            base_url=local.base_url,
            api_key=local.api_key,
            rate_limits=client_limits,
        ) as ep,
    ):
        started = time.monotonic()
        items = list(ep.map(range(INPUTS), concurrency=CONCURRENCY))
        seconds = time.monotonic() - started
        assert [item.error for item in items if not item.ok] == []
        check_run(local, [item.output for item in items], seconds)
        check_paced(local, client_limits, ep.pacing()["runsync"].rate)


@pytest.mark.parametrize("client_limits", CLIENT_LIMITS)
def test_async_map_paces_itself(client_limits: Any) -> None:
    async def main(local: LocalEndpoint) -> tuple[list[Any], float, dict[str, Any]]:
        async with AsyncEndpoint(
            local.endpoint_id,
            base_url=local.base_url,
            api_key=local.api_key,
            rate_limits=client_limits,
        ) as ep:
            started = time.monotonic()
            items = [item async for item in ep.map(range(INPUTS), concurrency=CONCURRENCY)]
            seconds = time.monotonic() - started
            assert [item.error for item in items if not item.ok] == []
            return [item.output for item in items], seconds, dict(ep.pacing())

    with LocalEndpoint(sample_handlers.echo, workers=8, rate_limits=SERVER_LIMITS) as local:
        outputs, seconds, pacing = asyncio.run(main(local))
        check_run(local, outputs, seconds)
        check_paced(local, client_limits, pacing["runsync"].rate)


def test_status_calls_beside_a_paced_map_are_answered_promptly() -> None:
    # The map's submits wait for their turn; status reads on the same client do not.
    with (
        LocalEndpoint(
            sample_handlers.echo,
            workers=8,
            rate_limits={"runsync": (20, 0.4), "status": (200, 1.0)},
        ) as local,
        Endpoint(
            local.endpoint_id,
            base_url=local.base_url,
            api_key=local.api_key,
            rate_limits={"runsync": (20, 0.4), "status": (200, 1.0)},
        ) as ep,
        concurrent.futures.ThreadPoolExecutor(1) as pool,
    ):
        job_id = ep.run({"x": 1}).id
        batch = pool.submit(lambda: list(ep.map(range(150), concurrency=CONCURRENCY)))
        slowest = 0.0
        while not batch.done():
            started = time.monotonic()
            assert ep.status(job_id).id == job_id
            slowest = max(slowest, time.monotonic() - started)
            time.sleep(0.05)
        assert all(item.ok for item in batch.result())
        # 150 submits at 50/s took about 3 s; no status read waited behind them.
        assert slowest < 1.0, slowest
