"""The local endpoint's Batch Jobs API, through real loopback sockets.

The state machine (DRAFT -> FINALIZED -> FAILED | CANCELLED), the counts (done when
completed + failed == total), pagination, cancel semantics, the limits as errors, batch
workers apart from ``/run`` traffic, and the store's record of what was created.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from runpod_facade.local import LocalEndpoint
from runpod_facade.local._batchjobs import BatchLimits
from tests._support.handlers import dispatch


@pytest.fixture
def endpoint() -> Iterator[LocalEndpoint]:
    with LocalEndpoint(dispatch, workers=1) as ep:
        yield ep


@pytest.fixture
def client(endpoint: LocalEndpoint) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=endpoint.url, headers=endpoint.headers, timeout=10) as c:
        yield c


def _until(check: Callable[[], dict[str, Any] | None], timeout: float = 10.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found is not None:
            return found
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.02)


def _done(client: httpx.Client, batch_id: str) -> dict[str, Any]:
    def check() -> dict[str, Any] | None:
        body: dict[str, Any] = client.get(f"/batch/{batch_id}").json()
        finished = body["requestCompleted"] + body["requestFailed"]
        return body if finished == body["requestTotal"] else None

    return _until(check)


def _summary_when(
    client: httpx.Client, batch_id: str, predicate: Callable[[dict[str, Any]], bool]
) -> dict[str, Any]:
    def check() -> dict[str, Any] | None:
        body: dict[str, Any] = client.get(f"/batch/{batch_id}").json()
        return body if predicate(body) else None

    return _until(check)


def _create(client: httpx.Client, inputs: list[Any]) -> str:
    reply = client.post("/batch", json=[{"input": value} for value in inputs])
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert body["status"] == "DRAFT"
    return str(body["id"])


def test_lifecycle_counts_and_results(client: httpx.Client, endpoint: LocalEndpoint) -> None:
    batch_id = _create(client, [{"n": 0}, {"task": "fail", "message": "boom"}])
    added = client.post(f"/batch/{batch_id}/requests", json={"requests": [{"input": {"n": 2}}]})
    assert added.status_code == 200
    assert added.json()["requestTotal"] == 3
    draft = client.get(f"/batch/{batch_id}/requests").json()
    assert [r["status"] for r in draft["requests"]] == ["IN_QUEUE"] * 3
    time.sleep(0.1)  # a DRAFT batch is never executed
    assert client.get(f"/batch/{batch_id}").json()["requestCompleted"] == 0

    finalized = client.post(f"/batch/{batch_id}/finalize").json()
    assert finalized["status"] == "FINALIZED"
    summary = _done(client, batch_id)
    assert summary["status"] == "FINALIZED"  # no COMPLETED state: done is read from the counts
    assert (summary["requestCompleted"], summary["requestFailed"]) == (2, 1)
    assert summary["endpointId"] == endpoint.endpoint_id
    assert isinstance(summary["createdAt"], int)

    page = client.get(f"/batch/{batch_id}/requests").json()
    assert [r["id"] for r in page["requests"]] == [r["id"] for r in draft["requests"]]
    ok, failed, last = page["requests"]
    assert ok["status"] == "COMPLETED" and ok["output"] == {"n": 0}
    assert failed["status"] == "FAILED" and "boom" in failed["error"] and "output" not in failed
    assert last["output"] == {"n": 2}
    assert all(r["startedAt"].endswith("Z") and r["completedAt"] for r in page["requests"])
    assert (page["total"], page["offset"], page["limit"], page["hasMore"]) == (3, 0, 50, False)

    created = endpoint.app.batches.store.created
    assert [c.batch_id for c in created if c.request_id is None] == [batch_id]
    assert [c.input for c in created if c.request_id is not None] == [
        {"n": 0},
        {"task": "fail", "message": "boom"},
        {"n": 2},
    ]


def test_pagination(client: httpx.Client) -> None:
    batch_id = _create(client, list(range(7)))
    seen: list[str] = []
    offset = 0
    while True:
        page = client.get(f"/batch/{batch_id}/requests", params={"offset": offset, "limit": 3})
        body = page.json()
        seen += [r["id"] for r in body["requests"]]
        assert body["total"] == 7 and body["limit"] == 3
        offset += len(body["requests"])
        if not body["hasMore"]:
            break
    assert len(seen) == len(set(seen)) == 7
    for bad in ({"limit": 0}, {"limit": 1001}, {"offset": -1}, {"limit": "x"}):
        assert client.get(f"/batch/{batch_id}/requests", params=bad).status_code == 400


def test_list_newest_first_and_endpoints_apart(
    client: httpx.Client, endpoint: LocalEndpoint
) -> None:
    first, second = _create(client, []), _create(client, [1])
    listed = client.get("/batch").json()
    assert [b["id"] for b in listed["batches"]] == [second, first]
    assert listed["hasMore"] is False
    other = f"{endpoint.base_url}/other-endpoint/batch/{first}"
    assert client.get(other).status_code == 404
    assert client.get(f"{endpoint.base_url}/other-endpoint/batch").json()["batches"] == []


def test_update_and_remove(client: httpx.Client) -> None:
    batch_id = _create(client, [1, 2, 3])
    named = client.put(f"/batch/{batch_id}", json={"name": "nightly"}).json()
    assert named["name"] == "nightly"
    ids = [r["id"] for r in client.get(f"/batch/{batch_id}/requests").json()["requests"]]
    removed = client.delete(f"/batch/{batch_id}/requests/{ids[1]}")
    assert removed.status_code == 200 and removed.json()["requestTotal"] == 2
    assert client.delete(f"/batch/{batch_id}/requests/{ids[1]}").status_code == 404
    left = [r["id"] for r in client.get(f"/batch/{batch_id}/requests").json()["requests"]]
    assert left == [ids[0], ids[2]]


@pytest.mark.parametrize(
    ("method", "suffix", "body"),
    [
        ("POST", "/requests", {"requests": [{"input": 1}]}),
        ("DELETE", "/requests/req_x", None),
        ("POST", "/finalize", None),
    ],
)
def test_only_a_draft_changes(
    client: httpx.Client, method: str, suffix: str, body: dict[str, Any] | None
) -> None:
    batch_id = _create(client, [1])
    client.post(f"/batch/{batch_id}/finalize")
    reply = client.request(method, f"/batch/{batch_id}{suffix}", json=body)
    assert reply.status_code == 409
    assert "not DRAFT" in reply.json()["error"]


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("POST", "/batch", {"input": 1}, 400),
        ("POST", "/batch", [{"no_input": 1}], 400),
        ("POST", "/batch", "not json", 400),
        ("GET", "/batch/batch_unknown", None, 404),
        ("POST", "/batch/batch_unknown/finalize", None, 404),
        ("PATCH", "/batch", None, 405),
        ("GET", "/batch/x/nothing", None, 404),
    ],
)
def test_bad_requests(
    client: httpx.Client, method: str, path: str, body: object, status: int
) -> None:
    if body == "not json":
        reply = client.request(method, path, content=b"{nope")
    else:
        reply = client.request(method, path, json=body)
    assert reply.status_code == status
    assert reply.json()["error"]


def test_auth_required(endpoint: LocalEndpoint) -> None:
    with httpx.Client(base_url=endpoint.url) as anonymous:
        assert anonymous.post("/batch", json=[]).status_code == 401
    assert endpoint.app.batches.store.created == []


def test_limits_are_errors(client: httpx.Client, endpoint: LocalEndpoint) -> None:
    endpoint.app.batches.limits = BatchLimits(
        active_batches=2, requests_per_batch=3, queued_per_endpoint=5, payload_bytes=2000
    )
    first = _create(client, [1, 2, 3])
    over = client.post(f"/batch/{first}/requests", json={"requests": [{"input": 4}]})
    assert over.status_code == 400 and "at most 3" in over.json()["error"]
    second = _create(client, [1, 2])
    queued = client.post(f"/batch/{second}/requests", json={"requests": [{"input": 3}]})
    assert queued.status_code == 429 and "queued" in queued.json()["error"]
    third = client.post("/batch", json=[])
    assert third.status_code == 429 and "active batches" in third.json()["error"]
    client.post(f"/batch/{first}/cancel")  # no longer active
    big = client.post("/batch", json=[{"input": "x" * 3000}])
    assert big.status_code == 413
    assert client.post("/batch", json=[]).status_code == 200
    batches = [c for c in endpoint.app.batches.store.created if c.request_id is None]
    assert len(batches) == 3


def test_cancel_queued_at_once_running_finish(client: httpx.Client) -> None:
    batch_id = _create(client, [{"task": "sleep", "seconds": 1.0}, {"n": 1}, {"n": 2}])
    client.post(f"/batch/{batch_id}/finalize")
    _summary_when(client, batch_id, lambda b: b["requestInProgress"] == 1)
    cancelled = client.post(f"/batch/{batch_id}/cancel").json()
    assert cancelled["status"] == "FINALIZED"  # draining: the running request finishes
    statuses = [r["status"] for r in client.get(f"/batch/{batch_id}/requests").json()["requests"]]
    assert statuses == ["IN_PROGRESS", "CANCELLED", "CANCELLED"]
    final = _summary_when(client, batch_id, lambda b: b["status"] == "CANCELLED")
    assert (final["requestCompleted"], final["requestFailed"], final["requestTotal"]) == (1, 0, 3)
    # A draft is cancelled at once.
    draft = _create(client, [1])
    assert client.post(f"/batch/{draft}/cancel").json()["status"] == "CANCELLED"


def test_batch_workers_apart_from_run_traffic(client: httpx.Client) -> None:
    # One /run worker; a batch busy for seconds must not delay an interactive job.
    batch_id = _create(client, [{"task": "sleep", "seconds": 4}])
    client.post(f"/batch/{batch_id}/finalize")
    _summary_when(client, batch_id, lambda b: b["requestInProgress"] == 1)
    started = time.monotonic()
    job = client.post("/runsync", json={"input": {"n": 7}}).json()
    assert job["status"] == "COMPLETED" and job["output"] == {"n": 7}
    assert time.monotonic() - started < 3.0  # well before the batch's request ends
    assert client.get(f"/batch/{batch_id}").json()["requestCompleted"] == 0
