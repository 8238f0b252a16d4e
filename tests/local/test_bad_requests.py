"""Malformed requests to the local endpoint: each gets a clear 4xx JSON error and changes no
state (no job created, health counters unchanged)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from runpod_facade.local import (
    MAX_RUN_PAYLOAD_BYTES,
    MAX_RUNSYNC_PAYLOAD_BYTES,
    LocalEndpoint,
    sample_handlers,
)


@dataclass(frozen=True)
class Bad:
    name: str
    method: str
    path: str  # relative to {base_url}/{endpoint_id}; "//..." means relative to base_url
    status: int
    content: bytes | None = None
    json_body: Any = None
    params: dict[str, str] = field(default_factory=dict)
    auth: str | None = "good"  # "good", None (no header), or a literal header value
    content_type: str | None = "application/json"


def _body(value: Any) -> bytes:
    return json.dumps(value).encode()


GOOD_POLICY_BODY = {"input": {"x": 1}}

CASES = [
    # Body is not JSON / not an object / no input.
    Bad("not-json", "POST", "/run", 400, content=b"{not json"),
    Bad("empty-body", "POST", "/run", 400, content=b""),
    Bad("truncated-json", "POST", "/runsync", 400, content=b'{"input": {"a": 1'),
    Bad("nan-literal", "POST", "/run", 400, content=b'{"input": NaN}'),
    Bad("invalid-utf8", "POST", "/run", 400, content=b'{"input": "\xff\xfe"}'),
    Bad("array-body", "POST", "/run", 400, content=_body([{"input": 1}])),
    Bad("string-body", "POST", "/run", 400, content=_body("input")),
    Bad("null-body", "POST", "/runsync", 400, content=b"null"),
    Bad("no-input", "POST", "/run", 400, content=_body({"prompt": "hi"})),
    Bad("no-input-runsync", "POST", "/runsync", 400, content=_body({})),
    # Policy: wrong types and out of range.
    Bad("policy-not-object", "POST", "/run", 400, content=_body({"input": 1, "policy": "fast"})),
    Bad("policy-null", "POST", "/run", 400, content=_body({"input": 1, "policy": None})),
    Bad(
        "timeout-string",
        "POST",
        "/run",
        400,
        content=_body({"input": 1, "policy": {"executionTimeout": "60000"}}),
    ),
    Bad(
        "timeout-bool",
        "POST",
        "/run",
        400,
        content=_body({"input": 1, "policy": {"executionTimeout": True}}),
    ),
    Bad(
        "timeout-fraction",
        "POST",
        "/run",
        400,
        content=_body({"input": 1, "policy": {"executionTimeout": 6000.5}}),
    ),
    Bad(
        "timeout-too-small",
        "POST",
        "/run",
        400,
        content=_body({"input": 1, "policy": {"executionTimeout": 4999}}),
    ),
    Bad(
        "timeout-too-large",
        "POST",
        "/runsync",
        400,
        content=_body({"input": 1, "policy": {"executionTimeout": 604_800_001}}),
    ),
    Bad("ttl-too-small", "POST", "/run", 400, content=_body({"input": 1, "policy": {"ttl": 9999}})),
    Bad("ttl-negative", "POST", "/run", 400, content=_body({"input": 1, "policy": {"ttl": -1}})),
    Bad(
        "ttl-too-large",
        "POST",
        "/run",
        400,
        content=_body({"input": 1, "policy": {"ttl": 604_800_001}}),
    ),
    Bad("ttl-list", "POST", "/run", 400, content=_body({"input": 1, "policy": {"ttl": [10000]}})),
    Bad(
        "low-priority-string",
        "POST",
        "/run",
        400,
        content=_body({"input": 1, "policy": {"lowPriority": "yes"}}),
    ),
    # Other typed fields.
    Bad("webhook-number", "POST", "/run", 400, content=_body({"input": 1, "webhook": 42})),
    Bad("webhook-relative", "POST", "/run", 400, content=_body({"input": 1, "webhook": "/hook"})),
    Bad("webhookv2-object", "POST", "/run", 400, content=_body({"input": 1, "webhookV2": {}})),
    Bad(
        "s3config-missing-keys",
        "POST",
        "/run",
        400,
        content=_body({"input": 1, "s3Config": {"accessId": "a"}}),
    ),
    Bad("s3config-not-object", "POST", "/run", 400, content=_body({"input": 1, "s3Config": "x"})),
    # wait / ttl query parameters.
    Bad(
        "wait-too-small",
        "POST",
        "/runsync",
        400,
        content=_body({"input": 1}),
        params={"wait": "999"},
    ),
    Bad(
        "wait-too-large",
        "POST",
        "/runsync",
        400,
        content=_body({"input": 1}),
        params={"wait": "300001"},
    ),
    Bad(
        "wait-not-int",
        "POST",
        "/runsync",
        400,
        content=_body({"input": 1}),
        params={"wait": "soon"},
    ),
    Bad(
        "wait-float",
        "POST",
        "/runsync",
        400,
        content=_body({"input": 1}),
        params={"wait": "1500.5"},
    ),
    Bad("stream-wait-zero", "GET", "/stream/some-job-u1", 400, params={"wait": "0"}),
    Bad(
        "status-sync-wait-large", "GET", "/status-sync/some-job-u1", 400, params={"wait": "400000"}
    ),
    Bad("status-ttl-zero", "GET", "/status/some-job-u1", 400, params={"ttl": "0"}),
    Bad("status-ttl-text", "GET", "/status/some-job-u1", 400, params={"ttl": "1m"}),
    # Unknown jobs, routes, methods.
    Bad("unknown-job-status", "GET", "/status/does-not-exist-u1", 404),
    Bad("unknown-job-status-sync", "POST", "/status-sync/does-not-exist-u1", 404),
    Bad("unknown-job-stream", "GET", "/stream/does-not-exist-u1", 404),
    Bad("unknown-job-cancel", "POST", "/cancel/does-not-exist-u1", 404),
    Bad("unknown-job-retry", "POST", "/retry/does-not-exist-u1", 404),
    Bad("unknown-operation", "POST", "/launch", 404, content=_body({"input": 1})),
    Bad("missing-job-id", "GET", "/status/", 404),
    Bad("no-v2-prefix", "GET", "//../health", 404),
    Bad("run-with-get", "GET", "/run", 405),
    Bad("runsync-with-put", "PUT", "/runsync", 405, content=_body({"input": 1})),
    Bad("health-with-post", "POST", "/health", 405),
    Bad("cancel-with-get", "GET", "/cancel/does-not-exist-u1", 405),
    Bad("retry-with-delete", "DELETE", "/retry/does-not-exist-u1", 405),
    Bad("purge-with-get", "GET", "/purge-queue", 405),
    # Auth.
    Bad("no-auth-run", "POST", "/run", 401, content=_body({"input": 1}), auth=None),
    Bad("wrong-key-run", "POST", "/run", 401, content=_body({"input": 1}), auth="Bearer nope"),
    Bad("bearer-without-token", "GET", "/health", 401, auth="Bearer"),
    Bad("basic-auth", "GET", "/health", 401, auth="Basic dXNlcjpwYXNz"),
    Bad("no-auth-purge", "POST", "/purge-queue", 401, auth=None),
    Bad("no-auth-runsync", "POST", "/runsync", 401, content=_body({"input": 1}), auth=None),
    # Oversized payloads (checked on the bytes actually sent).
    Bad(
        "run-over-10MiB",
        "POST",
        "/run",
        413,
        content=_body({"input": "x" * (MAX_RUN_PAYLOAD_BYTES - 10)}),
    ),
    Bad(
        "runsync-over-20MiB",
        "POST",
        "/runsync",
        413,
        content=_body({"input": "x" * (MAX_RUNSYNC_PAYLOAD_BYTES - 10)}),
    ),
    # Bytes, not characters: 5.6 M characters of 2-byte UTF-8 are 11.2 MB on the wire.
    Bad(
        "run-over-10MiB-in-bytes-not-characters",
        "POST",
        "/run",
        413,
        content=json.dumps(
            {"input": "é" * (MAX_RUN_PAYLOAD_BYTES * 8 // 15)}, ensure_ascii=False
        ).encode("utf-8"),
    ),
]


@pytest.fixture(scope="module")
def ep() -> Iterator[LocalEndpoint]:
    with LocalEndpoint(sample_handlers.echo, workers=2) as endpoint:
        yield endpoint


@pytest.fixture(scope="module")
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=60) as client:
        yield client


def test_there_are_at_least_30_cases() -> None:
    assert len(CASES) >= 30
    assert len({case.name for case in CASES}) == len(CASES)


def test_the_multibyte_case_is_under_the_limit_in_characters() -> None:
    (case,) = [c for c in CASES if c.name == "run-over-10MiB-in-bytes-not-characters"]
    assert case.content is not None
    assert len(case.content.decode("utf-8")) < MAX_RUN_PAYLOAD_BYTES < len(case.content)


def test_a_multibyte_body_just_under_the_limit_is_accepted(ep: LocalEndpoint) -> None:
    # 2 bytes a character: right at the limit in bytes, though half of it in characters.
    envelope = len(b'{"input":""}')
    text = "é" * ((MAX_RUN_PAYLOAD_BYTES - envelope) // 2)
    content = json.dumps({"input": text}, ensure_ascii=False, separators=(",", ":")).encode()
    assert len(content) <= MAX_RUN_PAYLOAD_BYTES
    reply = httpx.post(
        f"{ep.url}/run",
        content=content,
        headers={**ep.headers, "Content-Type": "application/json"},
        timeout=60,
    )
    assert reply.status_code == 200, reply.text


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_bad_request_is_rejected_without_side_effects(
    ep: LocalEndpoint, http: httpx.Client, case: Bad
) -> None:
    # A known job makes sure "unknown job" cases are not just an empty store.
    known = http.post(f"{ep.url}/runsync", json={"input": "known"}, headers=ep.headers).json()
    assert known["status"] == "COMPLETED"
    jobs_before, health_before = set(ep.job_ids()), ep.health()

    headers: dict[str, str] = {}
    if case.content_type:
        headers["Content-Type"] = case.content_type
    if case.auth == "good":
        headers.update(ep.headers)
    elif case.auth is not None:
        headers["Authorization"] = case.auth
    url = ep.base_url + case.path[1:] if case.path.startswith("//") else ep.url + case.path
    reply = http.request(
        case.method, url, content=case.content, params=case.params, headers=headers
    )

    assert reply.status_code == case.status, reply.text
    assert reply.headers["content-type"] == "application/json"
    body = reply.json()
    assert isinstance(body, dict) and isinstance(body.get("error"), str) and body["error"]
    assert set(ep.job_ids()) == jobs_before
    assert ep.health() == health_before
    record = ep.requests[-1]
    assert record.status_code == case.status and record.method == case.method
    if record.operation in ("run", "runsync"):
        assert record.job_id is None


def test_retry_of_completed_job_is_400_and_changes_nothing(
    ep: LocalEndpoint, http: httpx.Client
) -> None:
    done = http.post(f"{ep.url}/runsync", json={"input": 1}, headers=ep.headers).json()
    health_before = ep.health()
    reply = http.post(f"{ep.url}/retry/{done['id']}", headers=ep.headers)
    assert reply.status_code == 400
    assert "COMPLETED" in reply.json()["error"]
    assert ep.health() == health_before
    status = http.get(f"{ep.url}/status/{done['id']}", headers=ep.headers).json()
    assert status["status"] == "COMPLETED" and "retries" not in status


def test_huge_declared_content_length_is_413_without_reading(ep: LocalEndpoint) -> None:
    import socket

    jobs_before = set(ep.job_ids())
    with socket.create_connection((ep.host, ep.port), timeout=10) as sock:
        request = (
            f"POST /v2/{ep.endpoint_id}/run HTTP/1.1\r\nHost: x\r\n"
            f"Authorization: Bearer {ep.api_key}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {2**30}\r\n\r\n"
        ).encode()
        sock.sendall(request + b'{"input": 1')
        data = b""
        while b"\r\n\r\n" not in data and (chunk := sock.recv(65536)):
            data += chunk
    assert data.startswith(b"HTTP/1.1 413")
    assert set(ep.job_ids()) == jobs_before
