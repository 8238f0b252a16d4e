"""The OpenAI-compatible routes, driven by the official ``openai`` client, unmodified.

``base_url`` is what ``Endpoint.openai_base_url`` gives for the real API:
``{base_url}/{endpoint_id}/openai/v1``. Each call must become a real queue job with
``openai_route``/``openai_input``, counted in ``/health`` and logged like any other.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from runpod_facade.local import LocalEndpoint, sample_handlers
from runpod_facade.local.sample_handlers import FAKE_MODEL, openai_chat
from tests._support.lazy import lazy_import

if TYPE_CHECKING:
    import openai
else:
    openai = lazy_import("openai")  # only the worker that runs these tests loads it


MESSAGES = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "hello local endpoint"},
]


class Recorder:
    """openai_chat, recording each job's input."""

    def __init__(self) -> None:
        self.inputs: list[Any] = []

    def __call__(self, job: dict[str, Any]) -> Any:
        self.inputs.append(job["input"])
        return openai_chat(job)


@pytest.fixture(scope="module")
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture(scope="module")
def local(recorder: Recorder) -> Iterator[LocalEndpoint]:
    with LocalEndpoint(recorder, workers=2) as ep:
        yield ep


def base_url(local: LocalEndpoint) -> str:
    return f"{local.base_url}/{local.endpoint_id}/openai/v1"


@pytest.fixture
def client(local: LocalEndpoint) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=base_url(local), api_key=local.api_key, max_retries=0) as c:
        yield c


def test_base_url_matches_the_facade_and_the_endpoint(local: LocalEndpoint) -> None:
    from runpod_facade import Endpoint

    with Endpoint(local.endpoint_id, base_url=local.base_url, api_key="k") as ep:
        assert ep.openai_base_url == base_url(local) == local.openai_base_url


def test_chat_completion_is_a_queue_job(
    local: LocalEndpoint, client: openai.OpenAI, recorder: Recorder
) -> None:
    completed = local.health()["jobs"]["completed"]
    reply = client.chat.completions.create(model=FAKE_MODEL, messages=MESSAGES)  # type: ignore[arg-type]
    assert reply.object == "chat.completion"
    assert reply.model == FAKE_MODEL
    assert reply.choices[0].message.role == "assistant"
    assert reply.choices[0].message.content == "You said: hello local endpoint"
    assert reply.choices[0].finish_reason == "stop"
    assert reply.usage is not None and reply.usage.completion_tokens == 5
    # A real job: counted, logged with its id, with the platform's input shape.
    assert local.health()["jobs"]["completed"] == completed + 1
    record = local.requests[-1]
    assert (record.method, record.operation, record.status_code) == (
        "POST",
        "openai/v1/chat/completions",
        200,
    )
    assert record.job_id is not None and record.job_id in local.job_ids()
    assert recorder.inputs[-1] == {
        "openai_route": "/v1/chat/completions",
        "openai_input": {"model": FAKE_MODEL, "messages": MESSAGES},
    }
    status = httpx.get(f"{local.url}/status/{record.job_id}", headers=local.headers).json()
    assert status["status"] == "COMPLETED" and status["output"]["id"] == reply.id


def test_streamed_chat_completion(client: openai.OpenAI, local: LocalEndpoint) -> None:
    stream = client.chat.completions.create(model=FAKE_MODEL, messages=MESSAGES, stream=True)  # type: ignore[arg-type]
    chunks = list(stream)
    assert {chunk.object for chunk in chunks} == {"chat.completion.chunk"}
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(chunk.choices[0].delta.content or "" for chunk in chunks)
    assert text == "You said: hello local endpoint"
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert local.requests[-1].operation == "openai/v1/chat/completions"


def test_completions_plain_and_streamed(client: openai.OpenAI, recorder: Recorder) -> None:
    reply = client.completions.create(model=FAKE_MODEL, prompt="Once upon", max_tokens=3)
    assert reply.object == "text_completion"
    assert reply.choices[0].text == "Once upon ..."
    assert reply.choices[0].finish_reason == "length"
    assert recorder.inputs[-1]["openai_route"] == "/v1/completions"
    pieces = list(client.completions.create(model=FAKE_MODEL, prompt="Once upon", stream=True))
    assert "".join(piece.choices[0].text for piece in pieces) == "Once upon ... and so on"
    assert pieces[-1].choices[0].finish_reason == "stop"


def test_models_list(client: openai.OpenAI, local: LocalEndpoint, recorder: Recorder) -> None:
    models = client.models.list()
    assert [model.id for model in models.data] == [FAKE_MODEL]
    assert recorder.inputs[-1] == {"openai_route": "/v1/models", "openai_input": {}}
    record = local.requests[-1]
    assert (record.method, record.operation) == ("GET", "openai/v1/models")
    assert record.job_id is not None


def test_wrong_key_is_401_in_openai_shape(local: LocalEndpoint) -> None:
    jobs = set(local.job_ids())
    with (
        openai.OpenAI(base_url=base_url(local), api_key="wrong", max_retries=0) as bad,
        pytest.raises(openai.AuthenticationError) as caught,
    ):
        bad.chat.completions.create(model=FAKE_MODEL, messages=MESSAGES)  # type: ignore[arg-type]
    assert caught.value.status_code == 401
    assert caught.value.code == "invalid_api_key"
    assert caught.value.type == "invalid_request_error"
    assert set(local.job_ids()) == jobs


async def test_async_client_plain_and_streamed(local: LocalEndpoint) -> None:
    async with openai.AsyncOpenAI(
        base_url=base_url(local), api_key=local.api_key, max_retries=0
    ) as client:
        reply = await client.chat.completions.create(model=FAKE_MODEL, messages=MESSAGES)  # type: ignore[arg-type]
        assert reply.choices[0].message.content == "You said: hello local endpoint"
        stream = await client.chat.completions.create(
            model=FAKE_MODEL,
            messages=MESSAGES,  # type: ignore[arg-type]
            stream=True,
        )
        text = "".join([chunk.choices[0].delta.content or "" async for chunk in stream])
        assert text == "You said: hello local endpoint"
        models = await client.models.list()
        assert [model.id for model in models.data] == [FAKE_MODEL]


# ----------------------------------------------------------------------------- flushing


def test_streamed_chunks_arrive_before_the_job_ends() -> None:
    released = threading.Event()

    def held(job: dict[str, Any]) -> Iterator[dict[str, Any]]:
        head = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 0, "model": "m"}

        def delta(content: str, finish: str | None = None) -> dict[str, Any]:
            choice = {"index": 0, "delta": {"content": content}, "finish_reason": finish}
            return {**head, "choices": [choice]}

        yield delta("first")
        # The rest waits for the test, which waits for the first chunk: without flushing
        # this would stall until the timeout and fail.
        if not released.wait(20):
            raise RuntimeError("the first chunk never reached the client")
        yield delta(" second", "stop")

    with (
        LocalEndpoint(held, api_key="k") as local,
        openai.OpenAI(base_url=base_url(local), api_key="k", max_retries=0) as client,
    ):
        stream = client.chat.completions.create(model="m", messages=MESSAGES, stream=True)  # type: ignore[arg-type]
        chunks = iter(stream)
        first = next(chunks)
        assert first.choices[0].delta.content == "first"
        # The job is still running: the client has a chunk of an unfinished job.
        assert local.health()["jobs"]["inProgress"] == 1
        assert local.health()["jobs"]["completed"] == 0
        released.set()
        rest = list(chunks)
        assert [c.choices[0].delta.content for c in rest] == [" second"]
        assert local.health()["jobs"]["completed"] == 1


def test_sse_wire_format(local: LocalEndpoint) -> None:
    with httpx.stream(
        "POST",
        f"{base_url(local)}/chat/completions",
        json={"model": FAKE_MODEL, "messages": MESSAGES, "stream": True},
        headers=local.headers,
        timeout=30,
    ) as reply:
        assert reply.status_code == 200
        assert reply.headers["content-type"].startswith("text/event-stream")
        text = reply.read().decode()
    events = [event for event in text.split("\n\n") if event]
    assert all(event.startswith("data: ") for event in events)
    assert events[-1] == "data: [DONE]"
    assert text.count("[DONE]") == 1
    for event in events[:-1]:
        assert json.loads(event.removeprefix("data: "))["object"] == "chat.completion.chunk"


# ----------------------------------------------------------------------------- vLLM-style workers


def raw_sse_worker(job: dict[str, Any]) -> Iterator[str]:
    """Like vLLM's worker with RAW_OPENAI_OUTPUT=1: yields SSE text, [DONE] included."""
    body = job["input"]["openai_input"]
    if not body.get("stream"):
        yield json.dumps({})  # never reached in these tests
        return
    head = {"id": "c", "object": "chat.completion.chunk", "created": 0, "model": "m"}
    events = [
        {**head, "choices": [{"index": 0, "delta": {"content": word}, "finish_reason": None}]}
        for word in ("raw", " sse")
    ]
    yield "".join(f"data: {json.dumps(event)}\n\n" for event in events)
    yield "data: [DONE]\n\n"


def test_raw_sse_text_chunks_pass_through() -> None:
    with (
        LocalEndpoint(raw_sse_worker, api_key="k") as local,
        openai.OpenAI(base_url=base_url(local), api_key="k", max_retries=0) as client,
    ):
        stream = client.chat.completions.create(model="m", messages=MESSAGES, stream=True)  # type: ignore[arg-type]
        assert "".join(c.choices[0].delta.content or "" for c in stream) == "raw sse"
        with httpx.stream(
            "POST",
            f"{base_url(local)}/chat/completions",
            json={"model": "m", "messages": MESSAGES, "stream": True},
            headers={"Authorization": "Bearer k"},
        ) as reply:
            assert reply.read().decode().count("[DONE]") == 1


async def one_chunk_worker(job: dict[str, Any]) -> Any:
    """Like vLLM's worker without stream: an async generator yielding the whole response."""
    yield openai_chat(job)


def test_a_generator_answering_without_stream_replies_with_its_one_chunk() -> None:
    with (
        LocalEndpoint(one_chunk_worker, api_key="k") as local,
        openai.OpenAI(base_url=base_url(local), api_key="k", max_retries=0) as client,
    ):
        reply = client.chat.completions.create(model=FAKE_MODEL, messages=MESSAGES)  # type: ignore[arg-type]
        assert reply.choices[0].message.content == "You said: hello local endpoint"


# ----------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("path", "content", "param"),
    [
        ("chat/completions", b"{not json", None),
        ("chat/completions", b"[1, 2]", None),
        ("chat/completions", json.dumps({"messages": MESSAGES}).encode(), "model"),
        ("chat/completions", json.dumps({"model": "m"}).encode(), "messages"),
        ("chat/completions", json.dumps({"model": "m", "messages": []}).encode(), "messages"),
        ("chat/completions", json.dumps({"model": 7, "messages": MESSAGES}).encode(), "model"),
        (
            "chat/completions",
            json.dumps({"model": "m", "messages": MESSAGES, "stream": "yes"}).encode(),
            "stream",
        ),
        ("completions", json.dumps({"model": "m"}).encode(), "prompt"),
    ],
)
def test_bad_bodies_are_400_and_create_no_job(
    local: LocalEndpoint, path: str, content: bytes, param: str | None
) -> None:
    jobs, health = set(local.job_ids()), local.health()
    reply = httpx.post(
        f"{base_url(local)}/{path}",
        content=content,
        headers={**local.headers, "Content-Type": "application/json"},
        timeout=30,
    )
    assert reply.status_code == 400, reply.text
    error = reply.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["type"] == "invalid_request_error" and error["message"]
    assert error["param"] == param
    assert set(local.job_ids()) == jobs and local.health() == health
    assert local.requests[-1].status_code == 400


def test_an_oversize_body_is_413_in_openai_shape(local: LocalEndpoint) -> None:
    from runpod_facade.local import MAX_RUNSYNC_PAYLOAD_BYTES

    jobs = set(local.job_ids())
    text = "é" * (MAX_RUNSYNC_PAYLOAD_BYTES // 2)  # half the limit in characters, over in bytes
    content = json.dumps(
        {"model": "m", "messages": [{"role": "user", "content": text}]}, ensure_ascii=False
    ).encode()
    reply = httpx.post(
        f"{base_url(local)}/chat/completions",
        content=content,
        headers={**local.headers, "Content-Type": "application/json"},
        timeout=60,
    )
    assert reply.status_code == 413
    assert "payload too large" in reply.json()["error"]["message"]
    assert set(local.job_ids()) == jobs


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "chat/completions", 405),
        ("POST", "models", 405),
        ("POST", "embeddings", 404),
        ("GET", "../v2/models", 404),
    ],
)
def test_other_routes_and_methods(
    local: LocalEndpoint, method: str, path: str, status: int
) -> None:
    reply = httpx.request(method, f"{base_url(local)}/{path}", headers=local.headers, timeout=30)
    assert reply.status_code == status
    assert set(reply.json()["error"]) == {"message", "type", "param", "code"}


def failing(job: dict[str, Any]) -> Any:
    body = job["input"]["openai_input"]
    how = body["messages"][-1]["content"]
    if how == "raise":
        raise RuntimeError("model crashed")
    if how == "vllm-error":
        return {
            "object": "error",
            "message": "max_tokens is too large",
            "type": "BadRequestError",
            "code": 400,
        }

    def chunks() -> Iterator[dict[str, Any]]:
        head = {"id": "c", "object": "chat.completion.chunk", "created": 0, "model": "m"}
        yield {
            **head,
            "choices": [{"index": 0, "delta": {"content": "partial"}, "finish_reason": None}],
        }
        time.sleep(0.05)
        raise RuntimeError("died mid-stream")

    return chunks()


@pytest.fixture(scope="module")
def failing_client() -> Iterator[tuple[LocalEndpoint, openai.OpenAI]]:
    with (
        LocalEndpoint(failing, api_key="k") as local,
        openai.OpenAI(base_url=base_url(local), api_key="k", max_retries=0) as client,
    ):
        yield local, client


def test_a_crashing_handler_is_a_500(failing_client: tuple[LocalEndpoint, openai.OpenAI]) -> None:
    local, client = failing_client
    with pytest.raises(openai.InternalServerError) as caught:
        client.chat.completions.create(model="m", messages=[{"role": "user", "content": "raise"}])
    assert caught.value.status_code == 500
    assert "RuntimeError: model crashed" in caught.value.message
    assert caught.value.type == "server_error"
    assert local.health()["jobs"]["failed"] >= 1


def test_a_handler_error_object_keeps_its_code(
    failing_client: tuple[LocalEndpoint, openai.OpenAI],
) -> None:
    _, client = failing_client
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(
            model="m", messages=[{"role": "user", "content": "vllm-error"}]
        )
    assert caught.value.status_code == 400
    assert "max_tokens is too large" in caught.value.message


def test_a_stream_that_dies_midway_raises_in_the_client(
    failing_client: tuple[LocalEndpoint, openai.OpenAI],
) -> None:
    _, client = failing_client
    stream = client.chat.completions.create(
        model="m", messages=[{"role": "user", "content": "stream"}], stream=True
    )
    seen: list[str] = []
    with pytest.raises(openai.APIError, match="died mid-stream"):
        for chunk in stream:
            seen.append(chunk.choices[0].delta.content or "")
    assert seen == ["partial"]


def test_sample_handler_answers_native_jobs_with_an_error() -> None:
    with (
        LocalEndpoint(sample_handlers.openai_chat, api_key=None) as local,
        httpx.Client(base_url=local.url, timeout=30) as client,
    ):
        body = client.post("/runsync", json={"input": {"prompt": "hi"}}).json()
        assert body["status"] == "FAILED"
        assert "openai_route" in body["error"]
