"""Webhooks as RunPod sends them: the spec's ``jobFinished`` (``WebhookPayload`` body, no
signature), re-delivered on non-2xx, refused connections and slow receivers, and sent for
COMPLETED, FAILED and TIMED_OUT jobs only. Receivers are real HTTP servers on loopback."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from openapi_schema_validator import OAS31Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from runpod_facade.local import LocalEndpoint, WebhookAttempt

SPEC_PATH = Path(__file__).resolve().parents[2] / "openapi" / "runpod-serverless.yaml"


def payload_errors(data: Any) -> list[str]:
    """Violations of the spec's WebhookPayload schema (refs resolved inside the spec)."""
    uri = "urn:runpod-facade:spec"
    spec = yaml.safe_load(SPEC_PATH.read_text(encoding="utf-8"))
    registry: Registry[Any] = Registry().with_resource(
        uri, Resource.from_contents(spec, default_specification=DRAFT202012)
    )
    validator = OAS31Validator(
        {"$ref": f"{uri}#/components/schemas/WebhookPayload"}, registry=registry
    )
    return [error.message for error in validator.iter_errors(data)]


def wait_for(predicate: Any, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


@dataclass
class Delivery:
    method: str
    path: str
    headers: dict[str, str]
    body: dict[str, Any]


@dataclass
class Receiver:
    """A webhook receiver whose n-th answer is ``script[n]``: a status code, or ``("sleep",
    seconds)`` before answering 200; after the script it answers 200."""

    script: list[Any] = field(default_factory=list)
    deliveries: list[Delivery] = field(default_factory=list)

    def __post_init__(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers["Content-Length"])
                body = json.loads(self.rfile.read(length))
                index = len(receiver.deliveries)
                receiver.deliveries.append(
                    Delivery(
                        "POST", self.path, {k.lower(): v for k, v in self.headers.items()}, body
                    )
                )
                action = receiver.script[index] if index < len(receiver.script) else 200
                if isinstance(action, tuple):
                    time.sleep(action[1])
                    action = 200
                self.send_response(action)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/runpod?token=t0k"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()

    def for_job(self, job_id: str) -> list[Delivery]:
        return [d for d in self.deliveries if d.body.get("id") == job_id]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    hook = Receiver()
    yield hook
    hook.close()


async def worker(job: dict[str, Any]) -> Any:
    what = job["input"].get("do") if isinstance(job["input"], dict) else None
    if what == "fail":
        raise ValueError("failed on purpose")
    if what == "sleep":
        await asyncio.sleep(30)
    return {"echo": job["input"]}


@pytest.fixture
def ep() -> Iterator[LocalEndpoint]:
    with LocalEndpoint(
        worker, api_key=None, workers=2, webhook_retry_delay_s=0.05, execution_timeout_s=0.3
    ) as endpoint:
        yield endpoint


def test_payload_is_the_status_body_plus_input_and_webhook(
    ep: LocalEndpoint, receiver: Receiver
) -> None:
    job_input = {"prompt": "héllo", "n": [1, 2]}
    with httpx.Client(base_url=ep.url, timeout=30) as client:
        job = client.post(
            "/run",
            json={
                "input": job_input,
                "webhook": receiver.url,
                "policy": {"ttl": 60000},
                "s3Config": {
                    "accessId": "a",
                    "accessSecret": "s",
                    "bucketName": "b",
                    "endpointUrl": "e",
                },
            },
        ).json()
        wait_for(lambda: len(receiver.deliveries) == 1)
        status = client.get(f"/status/{job['id']}").json()
    delivery = receiver.deliveries[0]
    assert delivery.method == "POST"
    assert delivery.path == "/hooks/runpod?token=t0k"
    assert delivery.headers["content-type"] == "application/json"
    # Exactly the /status body, plus the echoed input and webhook; nothing else (no policy,
    # no s3Config).
    assert delivery.body == {**status, "input": job_input, "webhook": receiver.url}
    assert status["status"] == "COMPLETED" and status["output"] == {"echo": job_input}
    assert payload_errors(delivery.body) == []
    # No signature of any kind.
    assert not [name for name in delivery.headers if "signature" in name or "webhook" in name]
    assert [a.attempt for a in ep.webhook_attempts] == [1]
    attempt = ep.webhook_attempts[0]
    assert (attempt.url, attempt.job_id, attempt.status_code, attempt.ok, attempt.error) == (
        receiver.url,
        job["id"],
        200,
        True,
        None,
    )


def test_failed_and_timed_out_jobs_are_delivered_too(ep: LocalEndpoint, receiver: Receiver) -> None:
    with httpx.Client(base_url=ep.url, timeout=30) as client:
        failed = client.post("/run", json={"input": {"do": "fail"}, "webhook": receiver.url})
        slow = client.post("/run", json={"input": {"do": "sleep"}, "webhook": receiver.url})
        wait_for(lambda: len(receiver.deliveries) == 2)
        by_id = {d.body["id"]: d.body for d in receiver.deliveries}
        for reply, status in ((failed, "FAILED"), (slow, "TIMED_OUT")):
            body = by_id[reply.json()["id"]]
            assert body["status"] == status and body["error"]
            assert body == {
                **client.get(f"/status/{body['id']}").json(),
                "input": body["input"],
                "webhook": receiver.url,
            }
            assert payload_errors(body) == []


def test_cancelled_and_purged_jobs_get_no_delivery(receiver: Receiver) -> None:
    with (
        LocalEndpoint(worker, api_key=None, workers=1, webhook_retry_delay_s=0.05) as ep,
        httpx.Client(base_url=ep.url, timeout=30) as client,
    ):
        running = client.post("/run", json={"input": {"do": "sleep"}, "webhook": receiver.url})
        queued = client.post("/run", json={"input": {"do": "sleep"}, "webhook": receiver.url})
        wait_for(lambda: ep.health()["workers"]["running"] == 1)
        assert client.post("/purge-queue").json()["removed"] == 1
        assert client.post(f"/cancel/{running.json()['id']}").json()["status"] == "CANCELLED"
        # A later job's delivery is sent after anything the cancelled ones could have sent.
        done = client.post("/runsync", json={"input": {}, "webhook": receiver.url}).json()
        wait_for(lambda: len(receiver.for_job(done["id"])) == 1)
        assert client.get(f"/status/{queued.json()['id']}").json()["status"] == "CANCELLED"
        # Only the later job was delivered (a loaded machine may time a delivery out and send
        # it again: that is the later job's, and not what this test is about).
        assert {d.body["id"] for d in receiver.deliveries} == {done["id"]}
        assert {a.job_id for a in ep.webhook_attempts} == {done["id"]}


def test_non_2xx_is_redelivered_twice_then_given_up(ep: LocalEndpoint) -> None:
    hook = Receiver(script=[500, 404, 302, 200])
    try:
        with httpx.Client(base_url=ep.url, timeout=30) as client:
            job = client.post("/runsync", json={"input": 1, "webhook": hook.url}).json()
            wait_for(lambda: len(ep.webhook_attempts) == 3)
            time.sleep(0.3)  # six retry delays: a fourth attempt would be there by now
        assert [(a.attempt, a.status_code, a.ok) for a in ep.webhook_attempts] == [
            (1, 500, False),
            (2, 404, False),
            (3, 302, False),
        ]
        assert len(hook.deliveries) == 3
        assert all(d.body == hook.deliveries[0].body for d in hook.deliveries)
        assert hook.deliveries[0].body["id"] == job["id"]
    finally:
        hook.close()


def test_a_2xx_other_than_200_acknowledges(ep: LocalEndpoint) -> None:
    hook = Receiver(script=[503, 204])
    try:
        with httpx.Client(base_url=ep.url, timeout=30) as client:
            client.post("/runsync", json={"input": 1, "webhook": hook.url})
            wait_for(lambda: len(ep.webhook_attempts) == 2)
            time.sleep(0.3)
        assert [(a.status_code, a.ok) for a in ep.webhook_attempts] == [(503, False), (204, True)]
    finally:
        hook.close()


def test_connection_refused_is_retried_and_logged(ep: LocalEndpoint) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/hook"
    with httpx.Client(base_url=ep.url, timeout=30) as client:
        job = client.post("/runsync", json={"input": 1, "webhook": url}).json()
        wait_for(lambda: len(ep.webhook_attempts) == 3)
    attempts: list[WebhookAttempt] = ep.webhook_attempts
    assert [a.attempt for a in attempts] == [1, 2, 3]
    assert all(a.job_id == job["id"] and a.url == url for a in attempts)
    assert all(a.status_code is None and not a.ok for a in attempts)
    assert all(a.error is not None and a.error.startswith("ConnectError") for a in attempts)


def test_a_slow_receiver_counts_as_failed_and_gets_the_payload_again(receiver: Receiver) -> None:
    receiver.script = [("sleep", 1.5), 200]
    with (
        LocalEndpoint(
            worker, api_key=None, webhook_retry_delay_s=0.05, webhook_timeout_s=0.3
        ) as ep,
        httpx.Client(base_url=ep.url, timeout=30) as client,
    ):
        job = client.post("/runsync", json={"input": 1, "webhook": receiver.url}).json()
        wait_for(lambda: len(ep.webhook_attempts) == 2)
        first, second = ep.webhook_attempts
    assert (first.status_code, first.ok) == (None, False)
    assert first.error is not None and first.error.startswith("ReadTimeout")
    assert (second.attempt, second.status_code, second.ok) == (2, 200, True)
    # The slow receiver did get the first POST; it just answered too late.
    assert [d.body["id"] for d in receiver.deliveries] == [job["id"], job["id"]]


def test_retry_count_and_delay_are_configurable(receiver: Receiver) -> None:
    receiver.script = [500] * 10
    with (
        LocalEndpoint(worker, api_key=None, webhook_retries=0) as ep,
        httpx.Client(base_url=ep.url, timeout=30) as client,
    ):
        client.post("/runsync", json={"input": 1, "webhook": receiver.url})
        other = client.post("/runsync", json={"input": 2, "webhook": receiver.url}).json()
        wait_for(lambda: any(a.job_id == other["id"] for a in ep.webhook_attempts))
        time.sleep(0.2)
        assert [a.attempt for a in ep.webhook_attempts] == [1, 1]
    with pytest.raises(ValueError, match="webhook_retries"):
        LocalEndpoint(worker, webhook_retries=-1)


def test_payload_schema_rejects_what_is_not_a_delivery() -> None:
    # The schema check above can fail: a bare status body lacks the echoed fields.
    assert payload_errors({"id": "j-u1", "status": "COMPLETED"})
    assert payload_errors({"id": "j-u1", "status": "COMPLETED", "input": 1, "webhook": 5})


def test_a_proxy_in_the_environment_does_not_carry_deliveries(
    ep: LocalEndpoint, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    # RunPod delivers from its own network; the local endpoint sent its webhooks through the
    # HTTP_PROXY of the process it runs in, so behind a CI proxy no delivery reached a local
    # receiver and every webhook test failed.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{sock.getsockname()[1]}"
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.setenv(name, dead)
    with httpx.Client(base_url=ep.url, timeout=30, trust_env=False) as client:
        job_id = client.post("/runsync", json={"input": 1, "webhook": receiver.url}).json()["id"]
    wait_for(lambda: len(ep.webhook_attempts) >= 1)
    assert [(a.status_code, a.ok) for a in ep.webhook_attempts] == [(200, True)]
    assert len(receiver.for_job(job_id)) == 1
