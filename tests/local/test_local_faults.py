"""Every fault kind, as a client (plain httpx over loopback) sees it."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import time
from collections.abc import Iterator
from email.utils import parsedate_to_datetime

import httpx
import pytest

from runpod_facade.local import (
    ConnectionDropped,
    Fault,
    FaultSet,
    LocalEndpoint,
    create_app,
    sample_handlers,
)


@pytest.fixture(scope="module")
def ep() -> Iterator[LocalEndpoint]:
    with LocalEndpoint(sample_handlers.echo, workers=2) as endpoint:
        yield endpoint


@pytest.fixture
def client(ep: LocalEndpoint) -> Iterator[httpx.Client]:
    ep.faults.clear()
    ep.clear_requests()
    with httpx.Client(base_url=ep.url, headers=ep.headers, timeout=10) as c:
        yield c
    ep.faults.clear()


def _job(client: httpx.Client) -> str:
    job_id: str = client.post("/runsync", json={"input": {"k": "v"}}).json()["id"]
    return job_id


def test_429_with_retry_after_seconds_count_based(ep: LocalEndpoint, client: httpx.Client) -> None:
    job_id = _job(client)
    ep.faults.add(Fault(route="status", kind="http_error", status=429, retry_after="1", times=2))
    for _ in range(2):
        reply = client.get(f"/status/{job_id}")
        assert reply.status_code == 429
        assert reply.headers["retry-after"] == "1"
        assert reply.headers["content-type"] == "application/json"
        assert "error" in reply.json()
    assert client.get(f"/status/{job_id}").status_code == 200
    assert [r.fault for r in ep.requests if r.operation == "status"] == ["http_error"] * 2 + [None]


def test_429_with_retry_after_http_date(ep: LocalEndpoint, client: httpx.Client) -> None:
    when = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=30)
    ep.faults.add(Fault("run", "http_error", status=429, retry_after=when))
    reply = client.post("/run", json={"input": 1})
    assert reply.status_code == 429
    parsed = parsedate_to_datetime(reply.headers["retry-after"])
    assert abs((parsed - when).total_seconds()) < 1.5
    # No job was created by the rejected request.
    assert [r.job_id for r in ep.requests if r.operation == "run"] == [None]


@pytest.mark.parametrize("status", [500, 502, 503, 520])
def test_5xx(ep: LocalEndpoint, client: httpx.Client, status: int) -> None:
    ep.faults.add(Fault("health", "http_error", status=status))
    reply = client.get("/health")
    assert reply.status_code == status
    assert reply.json() == {"error": f"injected fault: HTTP {status}"}
    assert client.get("/health").status_code == 200


def test_http_error_with_plain_text_body(ep: LocalEndpoint, client: httpx.Client) -> None:
    ep.faults.add(Fault("health", "http_error", status=503, body="upstream overloaded"))
    reply = client.get("/health")
    assert reply.status_code == 503 and reply.text == "upstream overloaded"
    assert reply.headers["content-type"].startswith("text/plain")


def test_html_error_page(ep: LocalEndpoint, client: httpx.Client) -> None:
    ep.faults.add(Fault("runsync", "html", status=502))
    reply = client.post("/runsync", json={"input": 1})
    assert reply.status_code == 502
    assert reply.headers["content-type"].startswith("text/html")
    assert reply.text.lstrip().startswith("<!DOCTYPE html>")
    with pytest.raises(json.JSONDecodeError):
        reply.json()


def test_empty_body(ep: LocalEndpoint, client: httpx.Client) -> None:
    job_id = _job(client)
    ep.faults.add(Fault("status", "empty"))
    reply = client.get(f"/status/{job_id}")
    assert reply.status_code == 200 and reply.content == b""
    with pytest.raises(json.JSONDecodeError):
        reply.json()


#: A fault kind given no options -> the status it replies with, and what its body lacks or
#: is, as the module docstring's defaults say.
DEFAULTS: dict[str, tuple[int, str]] = {
    "http_error": (500, "a JSON error"),
    "html": (502, "an HTML page"),
    "empty": (200, "empty"),
    "missing_fields": (200, "no status"),
    "unknown_status": (200, "status PAUSED"),
}


@pytest.mark.parametrize("kind", list(DEFAULTS))
def test_each_fault_kind_s_documented_default(
    ep: LocalEndpoint, client: httpx.Client, kind: str
) -> None:
    job_id = _job(client)
    ep.faults.add(Fault("status", kind))  # type: ignore[arg-type]
    reply = client.get(f"/status/{job_id}")
    status, body = DEFAULTS[kind]
    assert reply.status_code == status
    shown = {
        "a JSON error": lambda: "error" in reply.json(),
        "an HTML page": lambda: reply.headers["content-type"].startswith("text/html"),
        "empty": lambda: reply.content == b"",
        "no status": lambda: "status" not in reply.json() and reply.json()["id"] == job_id,
        "status PAUSED": lambda: reply.json()["status"] == "PAUSED",
    }[body]
    assert shown()


def test_truncated_json(ep: LocalEndpoint, client: httpx.Client) -> None:
    job_id = _job(client)
    full = client.get(f"/status/{job_id}").content
    ep.faults.add(Fault("status", "truncated"))
    reply = client.get(f"/status/{job_id}")
    assert reply.status_code == 200
    assert full.startswith(reply.content) and len(reply.content) < len(full)
    with pytest.raises(json.JSONDecodeError):
        reply.json()


def test_slow_response(ep: LocalEndpoint, client: httpx.Client) -> None:
    ep.faults.add(Fault("health", "delay", delay=0.5))
    started = time.monotonic()
    assert client.get("/health").status_code == 200
    assert time.monotonic() - started >= 0.45
    with pytest.raises(httpx.ReadTimeout):
        ep.faults.add(Fault("health", "delay", delay=2.0))
        client.get("/health", timeout=0.3)


def test_hung_response_until_client_gives_up(ep: LocalEndpoint, client: httpx.Client) -> None:
    ep.faults.add(Fault("health", "hang"))
    started = time.monotonic()
    with pytest.raises(httpx.ReadTimeout):
        client.get("/health", timeout=0.5)
    assert time.monotonic() - started < 5
    record = next(r for r in ep.requests if r.fault == "hang")
    assert record.status_code is None
    assert client.get("/health").status_code == 200


def test_connection_dropped_before_reply(ep: LocalEndpoint, client: httpx.Client) -> None:
    ep.faults.add(Fault("run", "drop"))
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        client.post("/run", json={"input": 1})
    record = next(r for r in ep.requests if r.operation == "run")
    assert record.status_code is None and record.job_id is None and record.fault == "drop"


def test_connection_dropped_after_run_accepted(ep: LocalEndpoint, client: httpx.Client) -> None:
    before = set(ep.job_ids())
    ep.faults.add(Fault("run", "drop_after"))
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        client.post("/run", json={"input": "lost reply"})
    runs = [r for r in ep.requests if r.operation == "run"]
    assert len(runs) == 1  # received exactly once, no reply
    assert runs[0].status_code is None and runs[0].job_id is not None
    # The job really exists and runs.
    assert set(ep.job_ids()) - before == {runs[0].job_id}
    final = client.get(f"/status-sync/{runs[0].job_id}").json()
    assert final["status"] == "COMPLETED" and final["output"] == "lost reply"


def test_connection_dropped_mid_body(ep: LocalEndpoint, client: httpx.Client) -> None:
    job_id = _job(client)
    ep.faults.add(Fault("status", "drop_mid_body"))
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        client.get(f"/status/{job_id}")


def test_unknown_status_value(ep: LocalEndpoint, client: httpx.Client) -> None:
    job_id = _job(client)
    ep.faults.add(Fault("status", "unknown_status"))
    assert client.get(f"/status/{job_id}").json()["status"] == "PAUSED"
    ep.faults.add(Fault("run", "unknown_status", status_value="THROTTLED"))
    assert client.post("/run", json={"input": 1}).json()["status"] == "THROTTLED"


def test_missing_and_extra_fields(ep: LocalEndpoint, client: httpx.Client) -> None:
    job_id = _job(client)
    ep.faults.add(Fault("status", "missing_fields", fields=("status", "output")))
    body = client.get(f"/status/{job_id}").json()
    assert "status" not in body and "output" not in body and body["id"] == job_id
    ep.faults.add(Fault("status", "extra_fields", extra={"gpu": "H100", "status2": 1}))
    body = client.get(f"/status/{job_id}").json()
    assert body["gpu"] == "H100" and body["status"] == "COMPLETED"


def test_rate_based_faults_are_reproducible_with_a_seed(
    ep: LocalEndpoint, client: httpx.Client
) -> None:
    def run_pattern() -> list[int]:
        ep.faults.clear()
        ep.faults.seed(1234)
        ep.faults.add(Fault("*", "http_error", status=503, rate=0.5, times=None))
        return [client.get("/health").status_code for _ in range(30)]

    first, second = run_pattern(), run_pattern()
    assert first == second
    assert 3 < first.count(503) < 27


def test_wildcard_route_and_clear(ep: LocalEndpoint, client: httpx.Client) -> None:
    ep.faults.add(Fault("*", "http_error", status=500, times=None))
    assert client.get("/health").status_code == 500
    assert client.post("/purge-queue").status_code == 500
    assert len(ep.faults) == 1
    ep.faults.clear()
    assert client.get("/health").status_code == 200


def test_faults_are_tried_in_order_the_first_that_fires_wins_and_armed_lists_the_rest(
    ep: LocalEndpoint, client: httpx.Client
) -> None:
    never = Fault("health", "http_error", status=599, rate=0.0, times=None)  # never fires
    first = Fault("health", "http_error", status=503, times=1)
    second = Fault("*", "http_error", status=500, times=2)
    ep.faults.add(never)
    ep.faults.extend([first, second])
    assert ep.faults.armed == [never, first, second]
    seen = []
    for _ in range(4):
        seen.append((client.get("/health").status_code, ep.faults.armed))
    assert seen == [
        (503, [never, second]),  # the first armed one that fires spoils the request
        (500, [never, second]),
        (500, [never]),  # used up: no longer armed
        (200, [never]),
    ]


def test_faults_given_at_construction() -> None:
    faults = [Fault("health", "http_error", status=429, retry_after=2, times=1)]
    with LocalEndpoint(sample_handlers.echo, api_key=None, faults=faults) as ep:
        first = httpx.get(f"{ep.url}/health")
        assert first.status_code == 429 and first.headers["retry-after"] == "2"
        assert httpx.get(f"{ep.url}/health").status_code == 200


def test_fault_validation() -> None:
    with pytest.raises(ValueError, match="unknown route"):
        Fault("statuz", "drop")
    with pytest.raises(ValueError, match="unknown fault kind"):
        Fault("status", "explode")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        Fault("status", "drop", rate=1.5)
    with pytest.raises(ValueError):
        Fault("status", "drop", times=0)
    with pytest.raises(TypeError):
        FaultSet().add("drop")  # type: ignore[arg-type]


def test_drop_in_process_raises_remote_protocol_error() -> None:
    app = create_app(sample_handlers.echo, faults=[Fault("run", "drop_after")])

    async def scenario() -> None:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t/v2/e") as client:
            with pytest.raises(httpx.RemoteProtocolError) as info:
                await client.post("/run", json={"input": 1})
            assert isinstance(info.value, ConnectionDropped)
            health = (await client.get("/health")).json()
            assert (
                health["jobs"]["completed"]
                + health["jobs"]["inQueue"]
                + health["jobs"]["inProgress"]
                == 1
            )

    try:
        asyncio.run(scenario())
    finally:
        app.close()
