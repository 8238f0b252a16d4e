"""parse_webhook: every accepted and rejected body. (A real delivery from the local endpoint to
the example receiver, over loopback: tests/integration/test_webhook_delivery.py.)"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from types import MappingProxyType
from typing import Any, TypeVar

import pytest

from runpod_facade import (
    InvalidInputError,
    JobStatus,
    RunpodError,
    WebhookPayloadError,
    parse_webhook,
)
from runpod_facade._transports.base import ApiResponse
from runpod_facade._wire.replies import parse_reply
from runpod_facade._wire.requests import build_request

T = TypeVar("T")

HOOK = "https://example.com/runpod-webhook?token=abc"

#: A completed job as RunPod delivers it: the /status body plus the echoed request fields.
COMPLETED = {
    "id": "79164ff4-c3c1-4d6f-a7a0-ad0b7d9a4a72-u1",
    "status": "COMPLETED",
    "delayTime": 824,
    "executionTime": 3391,
    "workerId": "p8k2mcl9ua5x1g",
    "output": [{"image": "https://example.com/out.png", "seed": 7}],
    "input": {"prompt": "a lighthouse at dusk"},
    "webhook": HOOK,
}


_DROP = object()  # body(field=_DROP) leaves the field out


def body(**changes: Any) -> bytes:
    data = {**COMPLETED, **changes}
    return json.dumps({k: v for k, v in data.items() if v is not _DROP}).encode()


# --- accepted -------------------------------------------------------------------------------


def test_a_completed_delivery_becomes_a_job_state() -> None:
    raw = body()
    state = parse_webhook(raw)
    assert state.id == COMPLETED["id"]
    assert state.status is JobStatus.COMPLETED and state.is_terminal
    assert state.output == COMPLETED["output"]
    assert state.delay_time == timedelta(milliseconds=824)
    assert state.execution_time == timedelta(milliseconds=3391)
    assert state.worker_id == "p8k2mcl9ua5x1g"
    assert state.error is None and state.retries is None
    # The whole body is kept: the echoed request fields are there.
    assert state.raw_json == raw
    assert state.to_dict()["input"] == {"prompt": "a lighthouse at dusk"}
    assert state.to_dict()["webhook"] == HOOK


def test_it_is_parsed_exactly_like_a_status_reply() -> None:
    raw = body(retries=1, extra={"new": "field"})
    request = build_request("status", "ep-1", job_id=COMPLETED["id"])
    as_reply = parse_reply(ApiResponse(200, {}, raw), request)
    assert parse_webhook(raw) == as_reply
    assert parse_webhook(raw).raw == as_reply.raw


def test_a_failed_delivery_carries_the_workers_error() -> None:
    error = json.dumps({"error_type": "ValueError", "error_message": "bad prompt"})
    state = parse_webhook(body(status="FAILED", output=_DROP, error=error))
    assert state.status is JobStatus.FAILED
    assert state.output is None
    assert state.error == error
    assert state.error_details == {"error_type": "ValueError", "error_message": "bad prompt"}


def test_an_error_that_is_not_text_is_kept_as_json_text() -> None:
    state = parse_webhook(body(status="FAILED", error={"code": 7}))
    assert state.error == '{"code": 7}'


@pytest.mark.parametrize("status", ["TIMED_OUT", "CANCELLED", "IN_PROGRESS"])
def test_every_known_status(status: str) -> None:
    assert parse_webhook(body(status=status)).status is JobStatus(status)


def test_an_unknown_status_is_kept_as_text() -> None:
    state = parse_webhook(body(status="PAUSED"))
    assert state.status == "PAUSED" and type(state.status) is str
    assert not state.is_terminal


def test_the_smallest_job() -> None:
    state = parse_webhook(b'{"id": "job-1", "status": "COMPLETED"}')
    assert (state.id, state.status, state.output) == ("job-1", JobStatus.COMPLETED, None)
    assert state.delay_time is None and state.worker_id is None


@pytest.mark.parametrize("output", [None, "text", 0, 1.5, False, [], {}, [1, [2, {"a": None}]]])
def test_any_json_output(output: Any) -> None:
    assert parse_webhook(body(output=output)).output == output


def test_null_optional_fields_are_absent_values() -> None:
    state = parse_webhook(
        body(delayTime=None, executionTime=None, workerId=None, retries=None, webhook=None)
    )
    assert state.delay_time is None and state.execution_time is None
    assert state.worker_id is None and state.retries is None


def test_whole_number_floats_are_milliseconds() -> None:
    assert parse_webhook(body(delayTime=824.0)).delay_time == timedelta(milliseconds=824)


@pytest.mark.parametrize(
    "convert",
    [
        lambda raw: raw,
        lambda raw: raw.decode(),
        bytearray,
        memoryview,
        json.loads,
        lambda raw: MappingProxyType(json.loads(raw)),
    ],
    ids=["bytes", "str", "bytearray", "memoryview", "dict", "mapping"],
)
def test_every_body_form_gives_the_same_state(convert: Callable[[bytes], Any]) -> None:
    raw = body()
    state = parse_webhook(convert(raw))
    assert state == parse_webhook(raw)
    assert state.to_dict() == json.loads(raw)


def test_a_decoded_body_is_copied_not_shared() -> None:
    data = json.loads(body())
    state = parse_webhook(data)
    data["output"][0]["seed"] = 99
    data["input"]["prompt"] = "changed"
    assert state.output[0]["seed"] == 7
    assert state.to_dict()["input"] == {"prompt": "a lighthouse at dusk"}


def test_non_ascii_text_round_trips() -> None:
    state = parse_webhook(body(output="phare au crépuscule 灯台").decode())
    assert state.output == "phare au crépuscule 灯台"
    assert json.loads(state.raw_json)["output"] == "phare au crépuscule 灯台"


# --- rejected -------------------------------------------------------------------------------


def rejected(value: Any) -> WebhookPayloadError:
    with pytest.raises(WebhookPayloadError) as info:
        parse_webhook(value)
    return info.value


@pytest.mark.parametrize(
    ("value", "why"),
    [
        (b"", "the body is not JSON"),
        (b"status=COMPLETED&id=1", "the body is not JSON"),
        ("{'id': 'job-1'}", "the body is not JSON"),
        (b'{"id": "job-1", "status": "COMPLETED"', "the body is not JSON"),
        (b"\x80\x81 not utf-8", "the body is not JSON"),
        (b"[" * 100_000, "nested too deeply"),
        (b"[]", "expected a JSON object, got list"),
        (b'"COMPLETED"', "expected a JSON object, got str"),
        (b"42", "expected a JSON object, got int"),
        (b"null", "expected a JSON object, got NoneType"),
        (None, "expected a JSON object, got NoneType"),
        (42, "expected a JSON object, got int"),
        ([COMPLETED], "expected a JSON object, got list"),
    ],
)
def test_bodies_that_are_not_json_objects(value: Any, why: str) -> None:
    error = rejected(value)
    assert str(error).startswith("not a RunPod webhook payload: ")
    assert why in str(error)
    assert error.job_id is None


@pytest.mark.parametrize(
    ("changes", "why"),
    [
        ({"id": _DROP}, "no job id"),
        ({"id": ""}, "no job id"),
        ({"id": None}, "no job id"),
        ({"id": 123}, "no job id"),
        ({"id": ["job-1"]}, "no job id"),
        ({"status": _DROP}, "no job status"),
        ({"status": ""}, "no job status"),
        ({"status": None}, "no job status"),
        ({"status": 1}, "no job status"),
        ({"status": {"value": "COMPLETED"}}, "no job status"),
    ],
)
def test_bodies_without_an_id_or_a_status(changes: dict[str, Any], why: str) -> None:
    error = rejected(body(**changes))
    assert str(error) == f"not a RunPod webhook payload: {why}"


@pytest.mark.parametrize(
    "bad_id",
    ["job 1", "job-1\n", "job-1\r\nX-Injected: 1", "\x00job", "j\x7f", "x" * 513, ".", ".."],
)
def test_ids_no_job_can_have_are_refused(bad_id: str) -> None:
    error = rejected(body(id=bad_id))
    assert str(error).startswith("not a RunPod webhook payload: the job id ")
    assert error.job_id is None
    if len(bad_id) > 2:  # an untrusted id is not echoed (it may be what breaks a log line)
        assert bad_id not in str(error)


@pytest.mark.parametrize(
    ("field", "value", "kind"),
    [
        ("delayTime", "824", "str"),
        ("delayTime", True, "bool"),
        ("executionTime", [3391], "list"),
        ("executionTime", False, "bool"),
        ("workerId", 17, "int"),
        ("retries", "1", "str"),
        ("webhook", 5, "int"),
        ("webhook", {"url": HOOK}, "dict"),
    ],
)
def test_fields_of_the_wrong_type(field: str, value: Any, kind: str) -> None:
    error = rejected(body(**{field: value}))
    assert str(error) == f"not a RunPod webhook payload: `{field}` is {kind}"
    assert error.job_id == COMPLETED["id"]


@pytest.mark.parametrize(
    "mapping",
    [
        {**COMPLETED, "output": float("nan")},
        {**COMPLETED, "output": {1, 2}},
        {**COMPLETED, "output": b"bytes"},
        {**COMPLETED, ("tuple", "key"): 1},
    ],
    ids=["nan", "set", "bytes", "tuple-key"],
)
def test_mappings_json_could_not_have_carried(mapping: dict[Any, Any]) -> None:
    assert "the mapping is not JSON data" in str(rejected(mapping))


_NAN, _INF = float("nan"), float("inf")


@pytest.mark.misuse("argument")
@pytest.mark.parametrize(
    ("value", "why"),
    [
        (body(output=_NAN), "`NaN` is not a JSON number"),
        (body(output=-_INF), "`-Infinity` is not a JSON number"),
        (body(output=_INF), "`Infinity` is not a JSON number"),
        (body(output={"images": [{"seed": 7, "score": _NAN}]}), "`NaN` is not a JSON number"),
        (body(executionTime=_INF), "`Infinity` is not a JSON number"),
        (body(delayTime=-_INF), "`-Infinity` is not a JSON number"),
        (body(input={"temperature": _NAN}), "`NaN` is not a JSON number"),
        (body().replace(b"3391", b"1e999"), "a number is too large for a float"),
        (body(output=-_INF).decode(), "`-Infinity` is not a JSON number"),
    ],
    ids=[
        "nan-output", "-infinity-output", "infinity-output", "nan-nested-in-output",
        "infinity-executionTime", "-infinity-delayTime", "nan-in-echoed-input",
        "overflow-executionTime", "-infinity-in-str-body",
    ],
)  # fmt: skip
def test_numbers_json_has_no_form_for_are_refused(value: bytes | str, why: str) -> None:
    # json.loads reads NaN and the infinities (and 1e999 as inf); JSON has none of them.
    error = rejected(value)
    assert str(error) == f"not a RunPod webhook payload: {why}"
    assert isinstance(error, InvalidInputError)
    assert error.job_id == COMPLETED["id"]  # the body named a valid id: the receiver gets it


@pytest.mark.misuse("argument")
@pytest.mark.parametrize(
    ("value", "why"),
    [
        (body(id=_NAN), "`NaN` is not a JSON number"),
        ({**COMPLETED, "output": {"score": _INF}}, "the mapping is not JSON data"),
        ({**COMPLETED, "executionTime": -_INF}, "the mapping is not JSON data"),
    ],
    ids=["nan-as-the-id", "infinity-in-a-mapping", "-infinity-executionTime-in-a-mapping"],
)
def test_non_json_numbers_without_a_job_id(value: bytes | dict[str, Any], why: str) -> None:
    error = rejected(value)
    assert why in str(error)
    assert error.job_id is None


def test_a_mapping_with_a_cycle() -> None:
    data: dict[str, Any] = {**COMPLETED}
    data["output"] = data
    assert "not JSON data" in str(rejected(data))


def test_text_that_is_not_valid_unicode() -> None:
    text = body().decode().replace("lighthouse", "light\ud800house")
    assert "not valid Unicode" in str(rejected(text))


def test_the_error_is_an_invalid_input_error_and_never_shows_the_body() -> None:
    secret = "sk-live-5e3f9a7c"
    error = rejected(body(input={"api_key": secret}, delayTime="soon"))
    assert isinstance(error, InvalidInputError)
    assert isinstance(error, ValueError) and isinstance(error, RunpodError)
    assert secret not in str(error) and secret not in repr(error)
