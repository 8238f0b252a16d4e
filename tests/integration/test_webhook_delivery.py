"""A real webhook delivery over loopback: the local endpoint POSTs a finished job to the
example receiver (examples/webhook_receiver.py, served by uvicorn), which parses it with
``parse_webhook``."""

from __future__ import annotations

import importlib.util
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any, TypeVar

import httpx
import pytest

from runpod_facade.testing import EndpointFactory
from tests._support.asgi import serve_asgi

T = TypeVar("T")


def load_example() -> ModuleType:
    path = Path(__file__).resolve().parents[2] / "examples" / "webhook_receiver.py"
    spec = importlib.util.spec_from_file_location("example_webhook_receiver", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def receiver() -> Iterator[tuple[str, Any]]:
    """The example receiver app served by uvicorn on 127.0.0.1: (its URL, the app)."""
    app = load_example().app
    with serve_asgi(app) as base:
        yield f"{base}/runpod-webhook", app


def eventually(get: Callable[[], T | None], timeout: float = 30.0) -> T:
    deadline = time.monotonic() + timeout
    while (value := get()) is None:
        assert time.monotonic() < deadline, "nothing arrived in time"
        time.sleep(0.01)
    return value


def handler(job: dict[str, Any]) -> Any:
    if job["input"].get("fail"):
        raise ValueError("the prompt was refused")
    return {"echo": job["input"]}


@pytest.mark.parametrize("kind", ["COMPLETED", "FAILED"])
def test_the_local_endpoints_delivery_round_trips(
    kind: str, runpod_endpoint: EndpointFactory, receiver: tuple[str, Any]
) -> None:
    url, app = receiver
    ep = runpod_endpoint(handler)
    job_input = {"prompt": "a lighthouse", "fail": kind == "FAILED"}
    job = ep.run(job_input, webhook=url)
    delivered = eventually(lambda: app.state.recent[0] if app.state.recent else None)

    # What arrived is the job exactly as /status describes it...
    assert delivered == ep.status(job.id)
    assert delivered.status == kind
    if kind == "FAILED":
        assert delivered.error_details is not None
        assert delivered.error_details["error_message"] == "the prompt was refused"
    else:
        assert delivered.output == {"echo": job_input}
    # ...the receiver answered 200 the first time, so there was no re-delivery...
    # (the sender logs its attempt once the reply is in: after the receiver stored the job)
    (attempt,) = eventually(lambda: ep.webhook_attempts or None)
    assert (attempt.job_id, attempt.attempt, attempt.status_code, attempt.ok) == (
        job.id,
        1,
        200,
        True,
    )
    assert len(app.state.recent) == 1
    # ...and the body carries the echoed request fields (needs the local endpoint to send
    # the WebhookPayload of the spec: the /status body plus `input` and `webhook`).
    payload = delivered.to_dict()
    assert payload.get("input") == job_input, f"no echoed input; fields: {sorted(payload)}"
    assert payload.get("webhook") == url, f"no echoed webhook; fields: {sorted(payload)}"


def test_the_example_receiver_answers_400_to_what_is_not_a_job(
    receiver: tuple[str, Any],
) -> None:
    url, app = receiver
    for content in (b"", b"[]", b'{"status": "COMPLETED"}', b'{"id": "j", "status": 3}'):
        reply = httpx.post(url, content=content)
        assert reply.status_code == 400
        assert reply.text.startswith("not a RunPod webhook payload: ")
    assert len(app.state.recent) == 0
    assert httpx.get(url).status_code == 405
