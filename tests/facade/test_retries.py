"""Retries: which statuses, Retry-After (seconds, HTTP-date, cap), budget, typed errors."""

from __future__ import annotations

import email.utils
import time

import httpx
import pytest

from runpod_facade import (
    APIConnectionError,
    APIResponseValidationError,
    AuthenticationError,
    BadRequestError,
    InternalServerError,
    RateLimitError,
    RetryPolicy,
)
from runpod_facade._core.retry import is_retryable_status
from runpod_facade._wire.replies import parse_retry_after
from tests._support.fakeapi import FakeApi, job


def sleeps_of(ep: object) -> list[float]:
    recorded: list[float] = []
    ep._driver.sleep = recorded.append  # type: ignore[attr-defined]
    return recorded


@pytest.mark.parametrize("code", [408, 429, 500, 502, 503, 504, 520, 524, 499])
def test_retryable_statuses_are_retried_on_reads(code: int) -> None:
    api = FakeApi().on("health", httpx.Response(code, text="x"), httpx.Response(200, json={}))
    api.endpoint().health()
    assert api.ops() == ["health", "health"]


@pytest.mark.parametrize("code", [400, 401, 403, 404, 409, 413, 422])
def test_client_errors_are_not_retried(code: int) -> None:
    api = FakeApi().on("health", httpx.Response(code, json={"error": "no"}))
    with pytest.raises(Exception):  # noqa: B017 - the type is checked below
        api.endpoint().health()
    assert api.ops() == ["health"]


def test_error_types_carry_status_body_and_message() -> None:
    api = FakeApi().on("status", httpx.Response(401, json={"message": "bad key"}))
    with pytest.raises(AuthenticationError) as info:
        api.endpoint().status("job-9")
    assert info.value.status_code == 401
    assert info.value.message == "bad key"
    assert info.value.job_id == "job-9"
    assert info.value.operation == "status"
    assert '"bad key"' in info.value.body


def test_bad_request_type() -> None:
    api = FakeApi().on("retry", httpx.Response(400, json={"error": "job is not FAILED"}))
    with pytest.raises(BadRequestError, match="job is not FAILED"):
        api.endpoint().retry("job-1")


def test_retry_after_seconds_is_honoured() -> None:
    api = FakeApi().on(
        "status", httpx.Response(429, headers={"Retry-After": "2"}), job("COMPLETED")
    )
    ep = api.endpoint()
    slept = sleeps_of(ep)
    ep.status("job-1")
    assert slept == [2.0]


def test_retry_after_http_date_is_honoured() -> None:
    when = email.utils.formatdate(time.time() + 5, usegmt=True)
    api = FakeApi().on(
        "status", httpx.Response(503, headers={"Retry-After": when}), job("COMPLETED")
    )
    ep = api.endpoint()
    slept = sleeps_of(ep)
    ep.status("job-1")
    assert len(slept) == 1 and 3.0 <= slept[0] <= 5.0


@pytest.mark.parametrize(("code", "error"), [(429, RateLimitError), (503, InternalServerError)])
def test_retry_after_above_the_cap_gives_up_at_once(code: int, error: type[Exception]) -> None:
    api = FakeApi().on("status", httpx.Response(code, headers={"Retry-After": "600"}))
    with pytest.raises(error) as info:
        api.endpoint().status("job-1")
    # Only a 429's error carries the hint (RetryPolicy.max_retry_after says so).
    assert getattr(info.value, "retry_after", None) == (600 if code == 429 else None)
    assert api.ops() == ["status"]


def test_max_retries_then_typed_error() -> None:
    api = FakeApi().on("status", httpx.Response(520, text="<html>origin error</html>"))
    with pytest.raises(InternalServerError) as info:
        api.endpoint(retry_policy=RetryPolicy(max_retries=2, initial_delay=0.001)).status("job-1")
    assert info.value.status_code == 520
    assert "origin error" in info.value.body
    assert api.ops() == ["status"] * 3


def test_max_retries_zero_sends_once() -> None:
    api = FakeApi().on("status", httpx.Response(503))
    with pytest.raises(InternalServerError):
        api.endpoint(retry_policy=None, max_retries=0).status("job-1")
    assert api.ops() == ["status"]


def test_retry_budget_bounds_total_sleep() -> None:
    api = FakeApi().on("status", httpx.Response(503))
    ep = api.endpoint(
        retry_policy=RetryPolicy(
            max_retries=50, initial_delay=1.0, max_delay=1.0, jitter=0, budget=3.0
        )
    )
    slept = sleeps_of(ep)
    with pytest.raises(InternalServerError):
        ep.status("job-1")
    assert sum(slept) <= 3.0
    assert len(slept) == 3


def test_connection_errors_on_reads_are_retried_then_typed() -> None:
    api = FakeApi().on("health", httpx.ConnectError("refused"))
    with pytest.raises(APIConnectionError) as info:
        api.endpoint().health()
    assert info.value.request_sent is False
    assert api.ops() == ["health"] * 4


@pytest.mark.parametrize(
    "reply",
    [
        httpx.Response(200, text="<html>ok</html>"),
        httpx.Response(200, text='{"id": "x", "stat'),
        httpx.Response(200, json=[1, 2]),
        httpx.Response(200, json={"status": "COMPLETED"}),
        httpx.Response(200, json={"id": 5, "status": "COMPLETED"}),
        httpx.Response(200, text=""),
    ],
)
def test_unusable_success_bodies_are_typed_errors(reply: httpx.Response) -> None:
    api = FakeApi().on("run", reply)
    with pytest.raises(APIResponseValidationError) as info:
        api.endpoint().run({})
    assert info.value.status_code == 200
    assert info.value.operation == "run"


def test_status_reply_missing_id_uses_the_requested_id() -> None:
    api = FakeApi().on("status", httpx.Response(200, json={"status": "IN_QUEUE"}))
    assert api.endpoint().status("job-7").id == "job-7"


def test_parse_retry_after_forms() -> None:
    assert parse_retry_after({"retry-after": "1.5"}) == 1.5
    assert parse_retry_after({"retry-after-ms": "250"}) == 0.25
    assert parse_retry_after({"retry-after": "soon"}) is None
    assert parse_retry_after({"retry-after": "-3"}) is None
    assert parse_retry_after({}) is None
    past = email.utils.formatdate(time.time() - 60, usegmt=True)
    assert parse_retry_after({"retry-after": past}) == 0.0


def test_retryable_status_table() -> None:
    assert [c for c in (200, 400, 404, 408, 429, 499, 500, 520, 599) if is_retryable_status(c)] == [
        408,
        429,
        499,
        500,
        520,
        599,
    ]


@pytest.mark.parametrize(
    ("operation", "body"),
    [
        ("purge-queue", {"removed": 1}),
        ("purge-queue", {"status": "completed"}),
        ("health", {"jobs": [1, 2]}),
        ("stream", {"status": "IN_PROGRESS", "stream": "oops"}),
        ("stream", {"stream": []}),
    ],
)
def test_off_contract_success_bodies_never_leak_generated_errors(
    operation: str, body: dict[str, object]
) -> None:
    api = FakeApi().on(operation, httpx.Response(200, json=body))
    ep = api.endpoint()
    call = {
        "purge-queue": ep.purge_queue,
        "health": ep.health,
        "stream": lambda: list(ep.stream("job-1")),
    }[operation]
    with pytest.raises(APIResponseValidationError):
        call()


@pytest.mark.parametrize(
    "reply",
    [
        httpx.Response(200, text="<html>captive portal</html>"),
        httpx.Response(200, text='{"id": "job-1", "sta'),
        httpx.Response(200, text=""),
    ],
)
def test_reads_retry_an_unusable_success_body(reply: httpx.Response) -> None:
    api = FakeApi().on("status", reply, job("COMPLETED"))
    assert api.endpoint().status("job-1").status == "COMPLETED"
    assert api.ops() == ["status", "status"]


def test_truncated_submit_reply_still_yields_the_job_id() -> None:
    api = FakeApi().on("run", httpx.Response(200, text='{"id": "abc-u1", "status": "IN_QU'))
    with pytest.raises(APIResponseValidationError) as info:
        api.endpoint().run({})
    assert info.value.job_id == "abc-u1"
    assert api.ops() == ["run"]
