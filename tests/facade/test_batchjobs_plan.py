"""The sans-IO plan of the Batch Jobs client: limits checked before sending, chunking,
what a reply means, paging and waiting decisions (no sockets, no clock)."""

from __future__ import annotations

import json
import math
from datetime import timedelta
from typing import Any
from unittest import mock

import httpx
import pytest

from runpod_facade import (
    APIConnectionError,
    APIResponseValidationError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    BatchStateError,
    Endpoint,
    InternalServerError,
    InvalidInputError,
    NotFoundError,
    PayloadTooLargeError,
    RateLimitError,
    Timeout,
    WaitTimeout,
)
from runpod_facade._batchjobs import _sync
from runpod_facade._batchjobs._model import BatchPage, parse_page, parse_summary
from runpod_facade._batchjobs._plan import (
    FIRST_PAUSE,
    MAX_PAYLOAD_BYTES,
    MAX_REQUESTS_PER_BATCH,
    add_call,
    chunk_items,
    create_call,
    decide,
    encode_items,
    next_offset,
    next_pause,
    retry_delay,
    simple_call,
    wait_step,
)


def _summary(status: str, total: int, completed: int, failed: int) -> Any:
    return parse_summary(
        {
            "id": "batch_1",
            "status": status,
            "requestTotal": total,
            "requestInProgress": 0,
            "requestCompleted": completed,
            "requestFailed": failed,
        },
        "batch-get",
    )


def test_bodies_are_the_documented_shapes() -> None:
    items = encode_items([{"a": 1}, "é"])
    create = create_call("ep-1", items)
    assert (create.method, create.path) == ("POST", "/ep-1/batch")
    assert json.loads(create.body or b"") == [{"input": {"a": 1}}, {"input": "é"}]
    add = add_call("ep-1", "batch/x", items[:1])
    assert add.path == "/ep-1/batch/batch%2Fx/requests"
    assert json.loads(add.body or b"") == {"requests": [{"input": {"a": 1}}]}
    assert not create.repeatable and not add.repeatable  # never sent twice
    assert simple_call("batch-get", "ep-1", "b1").repeatable
    assert create_call("ep-1", []).body == b"[]"


@pytest.mark.misuse("argument")
@pytest.mark.parametrize(
    ("inputs", "fragment"),
    [
        ([math.nan], "not JSON-serializable"),
        ([object()], "not JSON-serializable"),
        ("abc", r"list \(or iterable\)"),
        ({"input": 1}, r"list \(or iterable\)"),
        ([0] * (MAX_REQUESTS_PER_BATCH + 1), "at most 5,000"),
        (["x" * (MAX_PAYLOAD_BYTES // 2), "y" * (MAX_PAYLOAD_BYTES // 2)], "at most 10,485,760"),
    ],
)
def test_bad_inputs_rejected_before_sending(inputs: Any, fragment: str) -> None:
    # A closed port: any request would fail with a connection error, not InvalidInputError.
    ep = Endpoint("ep-1", base_url="http://127.0.0.1:9/v2", api_key="k")
    with pytest.raises(InvalidInputError, match=fragment):
        ep.batches.create(inputs)


@pytest.mark.misuse("argument")
@pytest.mark.parametrize(
    ("call", "fragment"),
    [
        (lambda b: b.get(""), "non-empty id"),
        (lambda b: b.get("a/b"), "non-empty id"),
        (lambda b: b.get(7), "must be a string"),
        (lambda b: b.remove("b1", " r"), "request_id"),
        (lambda b: b.update("b1", name=3), "name must be a string"),
        (lambda b: b.results("b1", page_size=0), "page_size"),
        (lambda b: b.results("b1", page_size=1001), "page_size"),
        (lambda b: b.results("b1", offset=-1), "offset"),
        (lambda b: b.wait("b1", timeout=-1), "timeout"),
        (lambda b: b.wait("b1", timeout="5"), "timeout must be seconds"),
        (lambda b: b.wait("b1", interval=0), "interval"),
        (lambda b: b.list(page_size=True), "page_size"),
        # add(): "at most 10 MiB per call", checked before sending as create() is.
        (
            lambda b: b.add("b1", ["x" * (MAX_PAYLOAD_BYTES // 2), "y" * (MAX_PAYLOAD_BYTES // 2)]),
            "batch-add: the body is .* at most 10,485,760",
        ),
        (lambda b: b.add("b1", [math.nan]), "not JSON-serializable"),
    ],
)
def test_bad_arguments_rejected_before_sending(call: Any, fragment: str) -> None:
    ep = Endpoint("ep-1", base_url="http://127.0.0.1:9/v2", api_key="k")
    with pytest.raises(InvalidInputError, match=fragment):
        call(ep.batches)


@pytest.mark.parametrize("timeout", [math.nan, math.inf])
def test_a_wait_timeout_that_is_not_finite_is_rejected_before_sending(timeout: float) -> None:
    # A closed port and no retries: a request that is sent fails at once, not as wanted.
    ep = Endpoint("ep-1", base_url="http://127.0.0.1:9/v2", api_key="k", max_retries=0)
    with pytest.raises(InvalidInputError, match="timeout") as job_wait:
        ep.wait("job-1", timeout=timeout)
    with pytest.raises(InvalidInputError, match="finite") as batch_wait:
        ep.batches.wait("b1", timeout=timeout)
    assert str(batch_wait.value) == str(job_wait.value)  # one rule, one message


def test_wait_takes_its_interval_and_timeout_as_a_timedelta() -> None:
    """README: durations are seconds or a timedelta everywhere; ``interval`` refused one."""
    summaries = [{"id": "b1", "status": "FINALIZED", "requestTotal": 2, "requestCompleted": n}
                 for n in (0, 0, 2)]  # fmt: skip
    replies = iter(httpx.Response(200, json=summary) for summary in summaries)
    now, slept = [0.0], []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    settings = Endpoint("ep-1", base_url="http://127.0.0.1:9/v2", api_key="k")._settings
    batches = _sync.Batches(settings, clock=lambda: now[0], sleep=sleep)
    transport = httpx.MockTransport(lambda request: next(replies))
    with mock.patch.object(
        batches, "_client", lambda: httpx.Client(base_url="http://x", transport=transport)
    ):
        summary = batches.wait("b1", timeout=timedelta(minutes=1), interval=timedelta(seconds=3))
    assert summary.request_completed == 2
    assert slept == [FIRST_PAUSE, min(next_pause(FIRST_PAUSE, 3.0), 3.0)]
    hints = _sync.BatchesBase.wait.__wrapped__.__annotations__  # type: ignore[attr-defined]
    assert "timedelta" in str(hints["interval"]) and "timedelta" in str(hints["timeout"])


def test_chunks_respect_count_and_bytes() -> None:
    items = [b"x" * 10] * 25
    by_count = list(chunk_items(items, max_count=10, max_bytes=10_000))
    assert [len(g) for g in by_count] == [10, 10, 5]
    overhead = len(b'{"requests":[]}')
    # 3 items of 10 bytes and 2 commas fit in exactly overhead + 32 bytes.
    by_bytes = list(chunk_items(items[:7], max_count=100, max_bytes=overhead + 32))
    assert [len(g) for g in by_bytes] == [3, 3, 1]
    for group in by_bytes:
        assert len(b'{"requests":[' + b",".join(group) + b"]}") <= overhead + 32
    assert list(chunk_items([])) == []
    with pytest.raises(InvalidInputError, match="alone is"):
        list(chunk_items([b"x" * 50], max_bytes=40))


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (400, BadRequestError),
        (401, AuthenticationError),
        (404, NotFoundError),
        (409, BatchStateError),
        (413, PayloadTooLargeError),
        (429, RateLimitError),
        (503, InternalServerError),
    ],
)
def test_error_replies(status: int, kind: type[Exception]) -> None:
    call = simple_call("batch-finalize", "ep", "b1")
    with pytest.raises(kind) as caught:
        decide(call, status, {"retry-after": "3"}, b'{"error": "nope"}')
    assert getattr(caught.value, "job_id", None) == "b1"
    assert "nope" in str(caught.value)
    if isinstance(caught.value, RateLimitError):
        assert caught.value.retry_after == 3.0


def test_a_2xx_that_is_not_json_is_a_validation_error() -> None:
    with pytest.raises(APIResponseValidationError):
        decide(simple_call("batch-get", "ep", "b1"), 200, {}, b"<html>")
    with pytest.raises(APIResponseValidationError, match="requestTotal"):
        parse_summary({"id": "b", "status": "DRAFT", "requestTotal": -1}, "batch-get")


def test_only_repeatable_calls_are_retried() -> None:
    busy = InternalServerError("busy", status_code=503)
    limited = RateLimitError("slow down", retry_after=2.0)
    get = simple_call("batch-get", "ep", "b1")
    assert retry_delay(get, 0, 3, 0.5, busy) == 0.5
    assert retry_delay(get, 0, 3, 0.5, limited) == 2.0
    assert retry_delay(get, 3, 3, 0.5, busy) is None
    assert retry_delay(get, 0, 3, 0.5, BadRequestError("no", status_code=400)) is None
    assert retry_delay(create_call("ep", []), 0, 3, 0.5, busy) is None
    assert retry_delay(simple_call("batch-finalize", "ep", "b1"), 0, 3, 0.5, busy) is None


def test_paging_decisions() -> None:
    page = parse_page(
        {"requests": [{"id": "r1", "status": "COMPLETED", "output": None}], "hasMore": True},
        "b1",
        10,
    )
    assert page.items[0].has_output and page.items[0].output is None
    assert next_offset(page) == 11
    assert next_offset(BatchPage((), 0, False)) is None
    with pytest.raises(APIResponseValidationError, match="hasMore"):
        next_offset(BatchPage((), 0, True))


@pytest.mark.parametrize(
    ("status", "total", "completed", "failed", "action"),
    [
        ("FINALIZED", 5, 3, 2, "done"),  # completed + failed == total: there is no COMPLETED
        ("FINALIZED", 5, 3, 1, "sleep"),
        ("FINALIZED", 0, 0, 0, "done"),
        ("CANCELLED", 5, 1, 0, "done"),
        ("FAILED", 5, 0, 0, "done"),
    ],
)
def test_wait_decisions(status: str, total: int, completed: int, failed: int, action: str) -> None:
    step = wait_step(_summary(status, total, completed, failed), 100.0, None, 2.0)
    assert step.action == action


def test_wait_deadline_and_draft() -> None:
    running = _summary("FINALIZED", 5, 1, 0)
    assert wait_step(running, 100.0, 100.5, 2.0).seconds == 0.5  # never sleeps past the deadline
    assert wait_step(running, 101.0, 100.5, 2.0).action == "expired"
    with pytest.raises(InvalidInputError, match="finalize"):
        wait_step(_summary("DRAFT", 5, 0, 0), 100.0, None, 2.0)


def test_polls_back_off_up_to_the_interval() -> None:
    pauses = [FIRST_PAUSE]
    for _ in range(8):
        pauses.append(next_pause(pauses[-1], 1.0))
    assert pauses[:5] == [0.05, 0.1, 0.2, 0.4, 0.8]
    assert pauses[5:] == [1.0] * 4


@pytest.mark.misuse("key")
def test_an_error_reply_echoing_the_key_is_masked_in_the_error() -> None:
    """The Batch Jobs API's errors go through the job API's mapping: a proxy that echoes the
    Authorization header back does not put the key into the exception."""
    from runpod_facade._logging import register_secret

    key = "rpa_batchjobs_SECRET_1234567890"
    register_secret(key)
    body = json.dumps({"error": f"bad header: Bearer {key}"}).encode()
    with pytest.raises(AuthenticationError) as caught:
        decide(simple_call("batch-get", "ep", "b1"), 401, {}, body)
    error = caught.value
    assert key not in str(error) and key not in error.body and key not in error.message
    assert (error.status_code, error.operation, error.job_id) == (401, "batch-get", "b1")


def test_a_429_retry_after_is_read_as_the_job_api_reads_it() -> None:
    with pytest.raises(RateLimitError) as caught:
        decide(simple_call("batch-get", "ep", "b1"), 429, {"retry-after": "2.5"}, b"{}")
    assert caught.value.retry_after == 2.5


@pytest.mark.parametrize(
    ("raised", "kind", "sent"),
    [
        (httpx.ConnectError("refused"), APIConnectionError, False),
        (httpx.ConnectTimeout("slow handshake"), APITimeoutError, False),
        (httpx.PoolTimeout("no free connection"), APITimeoutError, False),
        (httpx.ReadTimeout("no reply"), APITimeoutError, True),
        (httpx.RemoteProtocolError("dropped"), APIConnectionError, True),
    ],
)
def test_no_answer_says_whether_the_request_left(
    raised: httpx.TransportError, kind: type[APIConnectionError], sent: bool
) -> None:
    """As the job API's transports say it: only a failure before sending is ``request_sent``
    False (a create is never resent either way; the caller may, when it never left)."""

    def fail(request: httpx.Request) -> httpx.Response:
        raise raised

    def client(self: _sync.Batches) -> httpx.Client:
        return httpx.Client(base_url="https://api.example", transport=httpx.MockTransport(fail))

    with (
        mock.patch.object(_sync.Batches, "_client", client),
        Endpoint("ep", api_key="k") as ep,
        pytest.raises(kind) as caught,
    ):
        ep.batches.create([1])
    assert caught.value.request_sent is sent
    assert caught.value.operation == "batch-create"


def _batches_replying(*replies: httpx.Response | httpx.TransportError) -> Any:
    """``ep.batches`` answered from ``replies`` in turn, on a fake clock that each sleep moves."""
    answers, now = iter(replies), [0.0]

    def answer(request: httpx.Request) -> httpx.Response:
        reply = next(answers)
        if isinstance(reply, Exception):
            raise reply
        return reply

    def sleep(seconds: float) -> None:
        now[0] += seconds

    ep = Endpoint("ep-1", base_url="http://127.0.0.1:9/v2", api_key="k", max_retries=0)
    batches = _sync.Batches(ep._settings, clock=lambda: now[0], sleep=sleep)
    transport = httpx.MockTransport(answer)
    batches._client = lambda: httpx.Client(base_url="http://x", transport=transport)  # type: ignore[method-assign]
    return batches


def test_a_batch_s_errors_name_the_batch_not_a_job() -> None:
    """A batch id is no job id: "(job b1)" and "(last status unknown)" misled."""
    batches = _batches_replying(
        httpx.Response(404, json={"error": "batch b1 not found"}),
        httpx.ConnectError("refused"),
        *[httpx.Response(200, json={"id": "b1", "status": "FINALIZED", "requestTotal": 2})] * 9,
    )
    with pytest.raises(NotFoundError) as missing:
        batches.get("b1")
    assert str(missing.value) == "batch-get failed with HTTP 404 (batch b1): batch b1 not found"
    with pytest.raises(APIConnectionError) as unreached:
        batches.cancel("b1")
    assert str(unreached.value) == "batch-cancel: ConnectError: refused (batch b1)"
    with pytest.raises(WaitTimeout) as late:
        batches.wait("b1", timeout=1)
    assert str(late.value) == (
        "batch b1 did not finish within 1s (0 of 2 requests done, batch FINALIZED)"
    )
    assert late.value.job_id == "b1"


def test_a_callers_client_sends_each_attempt_and_its_errors_are_classified() -> None:
    """Through a caller's client (mocked transport): the endpoint's URL, key and timeouts on
    every request, a read retried through the same client, a create never resent and its
    error saying it never left; ``with`` and ``close`` leave the client open."""
    seen: list[httpx.Request] = []
    replies: list[httpx.Response | httpx.TransportError] = [
        httpx.ReadTimeout("no reply"),
        httpx.Response(200, json={"id": "b1", "status": "DRAFT", "requestTotal": 1}),
        httpx.ConnectError("refused"),
    ]

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        reply = replies.pop(0)
        if isinstance(reply, Exception):
            raise reply
        return reply

    slept: list[float] = []
    client = httpx.Client(transport=httpx.MockTransport(answer))
    ep = Endpoint("ep-1", base_url="https://api.example/v2", api_key="rp_k", timeout=Timeout(9))
    batches = _sync.Batches(ep._settings, http_client=client, sleep=slept.append)
    with batches:
        assert batches.get("b1").request_total == 1
    with pytest.raises(APIConnectionError) as unreached:
        batches.create([1])
    assert unreached.value.request_sent is False
    assert len(slept) == 1 and not replies  # one retry of the get, none of the create
    assert [(r.method, str(r.url)) for r in seen] == [
        ("GET", "https://api.example/v2/ep-1/batch/b1"),
        ("GET", "https://api.example/v2/ep-1/batch/b1"),
        ("POST", "https://api.example/v2/ep-1/batch"),
    ]
    assert {r.headers["Authorization"] for r in seen} == {"Bearer rp_k"}
    assert seen[2].headers["Content-Type"] == "application/json"
    assert {tuple(r.extensions["timeout"].values()) for r in seen} == {(9.0, 9.0, 9.0, 9.0)}
    assert "rp_k" not in repr(batches) + repr(batches._requests)
    batches.close()
    ep.close()
    assert not client.is_closed
    client.close()
