"""``_wire``: requests built from the spec's operation table (every job-scoped route escapes
its ids), the payload limit in bytes, and every reply parser and error mapping, exactly."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any
from urllib.parse import quote, unquote

import pytest
from runpod_generated.operations import OPERATIONS, REPLY_SCHEMAS

from runpod_facade._constants import MAX_RUN_PAYLOAD_BYTES, MAX_RUNSYNC_PAYLOAD_BYTES
from runpod_facade._exceptions import (
    APIError,
    APIResponseValidationError,
    APIStatusError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    InternalServerError,
    InvalidInputError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    RateLimitError,
    UnprocessableEntityError,
)
from runpod_facade._options import ExecutionPolicy, Input, S3Config
from runpod_facade._status import JobStatus
from runpod_facade._transports.base import ApiRequest, ApiResponse, Safety
from runpod_facade._wire.bodies import BodyShapeError, decode_object
from runpod_facade._wire.errors import error_from_response, job_in_error_reply
from runpod_facade._wire.replies import parse_reply
from runpod_facade._wire.requests import build_job_body, build_request, encode_job, operation_info
from tests._support.replies import body, job

JOB_SCOPED = sorted(name for name, info in OPERATIONS.items() if info.job_scoped)
NASTY_ID = "a/b?c#d%e f..;x=1&y"
NASTY_ENDPOINT = "ep/../x?"


def request_for(name: str, **args: Any) -> ApiRequest:
    info = OPERATIONS[name]
    if info.has_body:
        args.setdefault("body", encode_job(1))
    if info.job_scoped:
        args.setdefault("job_id", "job-1")
    return build_request(name, "ep-1", **args)


# --- requests ----------------------------------------------------------------------------------


def test_job_scoped_routes_are_those_whose_path_names_a_job() -> None:
    # Read from the spec's table: guards against the table going empty, and against
    # `job_scoped` disagreeing with the route itself.
    assert JOB_SCOPED
    assert sorted(n for n, i in OPERATIONS.items() if "/{jobId}" in i.path) == JOB_SCOPED
    assert {"status", "cancel"} <= set(JOB_SCOPED)


@pytest.mark.parametrize("name", JOB_SCOPED)
def test_every_job_scoped_route_escapes_both_ids_into_one_segment(name: str) -> None:
    info = OPERATIONS[name]
    request = build_request(name, NASTY_ENDPOINT, job_id=NASTY_ID, **(
        {"body": encode_job(1)} if info.has_body else {}
    ))  # fmt: skip
    expected = info.path.replace("{endpointId}", quote(NASTY_ENDPOINT, safe="")).replace(
        "{jobId}", quote(NASTY_ID, safe="")
    )
    assert request.path == expected
    segments = request.path.split("/")
    assert len(segments) == info.path.count("/") + 1
    assert "?" not in request.path and "#" not in request.path
    assert unquote(segments[-1]) == NASTY_ID
    assert unquote(segments[1]) == NASTY_ENDPOINT
    assert request.job_id == NASTY_ID


@pytest.mark.parametrize("name", sorted(OPERATIONS))
def test_every_operation_is_built_as_the_spec_says(name: str) -> None:
    info = OPERATIONS[name]
    request = request_for(name)
    assert operation_info(name) is info
    assert request.operation == name
    assert request.method == info.method
    assert request.safety is (Safety.SUBMIT if info.safety == "submit" else Safety.REPEATABLE)
    assert request.reply == info.reply_schema
    assert request.reply in REPLY_SCHEMAS  # parsed by its own parser or the generic one
    assert dict(request.params) == {}
    assert request.hold is None
    assert (request.content is not None) is info.has_body
    assert request.job_id == ("job-1" if info.job_scoped else None)
    assert request.path == info.path.replace("{endpointId}", "ep-1").replace("{jobId}", "job-1")


@pytest.mark.parametrize("name", sorted(n for n, i in OPERATIONS.items() if i.holds))
def test_a_hold_is_sent_in_milliseconds(name: str) -> None:
    # How long past the hold its read runs is the core's decision (tests/core/test_timeouts.py).
    request = request_for(name, wait_ms=1500)
    assert (dict(request.params), request.hold) == ({"wait": 1500}, 1.5)
    request = request_for(name, wait_ms=90_000)
    assert (dict(request.params), request.hold) == ({"wait": 90000}, 90.0)


def test_other_query_parameters_are_sent_only_when_given() -> None:
    assert dict(build_request("status", "ep-1", job_id="j", ttl=60_000).params) == {"ttl": 60000}
    assert dict(build_request("status", "ep-1", job_id="j", ttl=None).params) == {}


ROUTE_CASES = [
    (name, endpoint, job_id, wait_ms)
    for name in sorted(OPERATIONS)
    for endpoint, job_id in [("ep-1", "job-1"), (NASTY_ENDPOINT, NASTY_ID), ("ep", "é/ü 1")]
    for wait_ms in ([None, 1500] if OPERATIONS[name].holds else [None])
]


@pytest.mark.parametrize(("name", "endpoint", "job_id", "wait_ms"), ROUTE_CASES)
def test_each_request_is_the_one_the_generated_builder_makes(
    name: str, endpoint: str, job_id: str, wait_ms: int | None
) -> None:
    # build_request works each route out once per endpoint from the generated builder and
    # then only escapes the job id into it: the result must be the builder's own, every time.
    info = OPERATIONS[name]
    body = encode_job({"t": "é", "n": [1, 2.5]})
    args: dict[str, Any] = {"endpoint_id": endpoint}
    if info.job_scoped:
        args["job_id"] = job_id
    if info.has_body:
        args["body"] = build_job_body(
            {"t": "é", "n": [1, 2.5]}, policy=None, webhook=None, s3_config=None
        )
    if wait_ms is not None:
        args["wait"] = wait_ms
    expected = info.build_request(**args)
    for _ in range(2):  # the first request works the route out, the second reuses it
        request = build_request(
            name,
            endpoint,
            job_id=job_id if info.job_scoped else None,
            body=body if info.has_body else None,
            wait_ms=wait_ms,
        )
        assert request.method == info.method
        assert request.path == expected["url"]
        assert dict(request.params) == expected.get("params", {})
        if info.has_body:
            assert request.content is not None
            assert json.loads(request.content) == expected["json"]


def test_the_params_of_a_request_cannot_be_changed() -> None:
    request = request_for("status-sync", wait_ms=1000)
    with pytest.raises(TypeError):
        request.params["wait"] = 1  # type: ignore[index]


# --- the payload limit, in bytes -----------------------------------------------------------------


def test_payload_limits_come_from_the_spec() -> None:
    assert MAX_RUN_PAYLOAD_BYTES == OPERATIONS["run"].max_payload_bytes == 10 * 1024 * 1024
    assert MAX_RUNSYNC_PAYLOAD_BYTES == OPERATIONS["runsync"].max_payload_bytes == 20 * 1024 * 1024


@pytest.mark.parametrize("name", ["run", "runsync"])
def test_a_multi_byte_payload_exactly_at_the_limit_is_sent(name: str) -> None:
    limit = OPERATIONS[name].max_payload_bytes
    assert limit is not None
    # '{"input":"…"}' is 12 bytes around the text; 'é' is 2 bytes in UTF-8 but 1 character.
    text = "é" * ((limit - 12) // 2)
    request = build_request(name, "ep-1", body=encode_job(text))
    assert request.content is not None
    assert len(request.content) == limit
    assert len(request.content.decode()) == limit - len(text)  # far fewer characters


@pytest.mark.parametrize("name", ["run", "runsync"])
def test_one_byte_over_the_limit_is_refused_before_sending(name: str) -> None:
    limit = OPERATIONS[name].max_payload_bytes
    assert limit is not None
    text = "é" * ((limit - 12) // 2) + "a"
    with pytest.raises(InvalidInputError) as info:
        build_request(name, "ep-1", body=encode_job(text))
    assert str(info.value) == (
        f"{name} payload is {limit + 1:,} bytes; the API accepts at most {limit:,} bytes. "
        "Upload large data elsewhere (e.g. S3) and pass a URL in the input."
    )


def test_the_body_is_compact_utf8_json() -> None:
    request = build_request("run", "ep-1", body=encode_job({"t": "é", "n": [1, 2.5]}))
    assert request.content == '{"input":{"t":"é","n":[1,2.5]}}'.encode()


# --- job bodies --------------------------------------------------------------------------------


def test_job_body_with_every_option() -> None:
    s3 = S3Config("id", "secret", "bucket", "https://s3.example", "out/")
    policy = ExecutionPolicy(execution_timeout=5, ttl=timedelta(minutes=1), low_priority=True)
    model = build_job_body({"x": 1}, policy=policy, webhook="https://hook.example/x", s3_config=s3)
    assert model.to_dict() == {
        "input": {"x": 1},
        "webhook": "https://hook.example/x",
        "policy": {"executionTimeout": 5000, "ttl": 60000, "lowPriority": True},
        "s3Config": {
            "accessId": "id",
            "accessSecret": "secret",
            "bucketName": "bucket",
            "endpointUrl": "https://s3.example",
            "objectPath": "out/",
        },
    }


def test_job_body_without_options_is_only_the_input() -> None:
    assert encode_job(None).content == b'{"input":null}'
    # An empty policy sends no policy object at all.
    empty = build_job_body(1, policy=ExecutionPolicy(), webhook=None, s3_config=None)
    assert empty.to_dict() == {"input": 1}


@pytest.mark.parametrize(
    "value", [None, 0, "é", [1, 2.5, None], {"n": 1, "nested": {"t": "x"}}, Input({"input": 1})]
)
def test_a_job_without_options_is_encoded_as_the_generated_model_encodes_it(value: Any) -> None:
    """encode_job builds the bare {"input": ...} itself: the same bytes as the model's dict."""
    model = build_job_body(value, policy=None, webhook=None, s3_config=None)
    expected = json.dumps(model.to_dict(), ensure_ascii=False, separators=(",", ":"))
    assert encode_job(value).content == expected.encode()


@pytest.mark.parametrize("job_id", ["job-1_a.b~c", "a/b", "a b", "é", "..x", "%41", "a?b#c"])
def test_a_job_id_is_escaped_as_quote_escapes_it(job_id: str) -> None:
    request = build_request("status", "ep", job_id=job_id)
    assert request.path == f"/ep/status/{quote(job_id, safe='')}"


def test_a_long_polls_query_is_its_hold() -> None:
    first = build_request("status-sync", "ep", job_id="j1", wait_ms=90_000)
    second = build_request("status-sync", "ep", job_id="j2", wait_ms=5_000)
    assert (dict(first.params), dict(second.params)) == ({"wait": 90_000}, {"wait": 5_000})
    assert (first.hold, second.hold) == (90.0, 5.0)


def test_an_input_shaped_like_a_request_body_is_refused_unless_wrapped() -> None:
    with pytest.raises(InvalidInputError) as info:
        encode_job({"input": 1})
    assert str(info.value) == (
        'input is {"input": ...}: the SDK already sends your value as the request\'s "input", '
        'so the worker would receive {"input": {"input": ...}}. Pass the inner value '
        "(ep.run({...})), or wrap it as runpod_facade.Input({...}) to send it as is."
    )
    model = build_job_body(Input({"input": 1}), policy=None, webhook=None, s3_config=None)
    assert model.to_dict() == {"input": {"input": 1}}
    # Only the lone "input" key is suspicious.
    two = encode_job({"input": 1, "x": 2})
    assert two.content == b'{"input":{"input":1,"x":2}}'


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"policy": {"ttl": 10}}, "policy must be an ExecutionPolicy, got dict"),
        ({"s3_config": {"bucket": "b"}}, "s3_config must be an S3Config, got dict"),
    ],
)
def test_options_of_the_wrong_type_are_refused(kwargs: dict[str, Any], message: str) -> None:
    args: dict[str, Any] = {"policy": None, "webhook": None, "s3_config": None, **kwargs}
    with pytest.raises(InvalidInputError) as info:
        build_job_body(1, **args)
    assert str(info.value) == message


# --- replies -------------------------------------------------------------------------------------

STATUS = request_for("status")
RUN = request_for("run")


def test_a_job_reply_with_every_field() -> None:
    reply = job(
        "COMPLETED",
        output={"a": [1]},
        error={"error_type": "X"},
        delayTime=1500,
        executionTime=250.0,
        workerId="w-1",
        retries=2,
        extra="kept",
    )
    state = parse_reply(reply, STATUS)
    assert state.status is JobStatus.COMPLETED
    assert state.output == {"a": [1]}
    assert state.error == '{"error_type": "X"}'
    assert state.delay_time == timedelta(milliseconds=1500)
    assert state.execution_time == timedelta(milliseconds=250)
    assert (state.worker_id, state.retries) == ("w-1", 2)
    assert state.raw_json == reply.content
    assert state.raw["extra"] == "kept"


def test_absent_and_odd_numbers_are_none() -> None:
    state = parse_reply(job("IN_QUEUE", delayTime=1.5, retries=2.5, executionTime=None), STATUS)
    assert (state.delay_time, state.retries, state.execution_time, state.worker_id) == (
        None, None, None, None,
    )  # fmt: skip


def test_a_boolean_where_a_number_belongs_breaks_the_contract() -> None:
    with pytest.raises(APIResponseValidationError, match="`retries` is bool"):
        parse_reply(job("IN_QUEUE", retries=True), STATUS)


def test_an_unknown_status_is_kept_as_a_plain_string() -> None:
    state = parse_reply(job("PAUSED"), STATUS)
    assert state.status == "PAUSED"
    assert type(state.status) is str


def test_a_job_reply_without_id_takes_the_requested_one() -> None:
    assert parse_reply(body(200, {"status": "IN_QUEUE"}), STATUS).id == "job-1"


@pytest.mark.parametrize(
    ("data", "why", "job_id"),
    [
        ({"status": "IN_QUEUE"}, "no job id", None),
        ({"id": "", "status": "IN_QUEUE"}, "no job id", None),
        ({"id": 7, "status": "IN_QUEUE"}, "no job id", None),
        ({"id": "n-1"}, "no job status", "n-1"),
        ({"id": "n-1", "status": ""}, "no job status", "n-1"),
        ({"id": "n-1", "status": 3}, "no job status", "n-1"),
        ({"id": "n-1", "status": "IN_QUEUE", "delayTime": "9"}, "`delayTime` is str", "n-1"),
        (
            {"id": "n-1", "status": "IN_QUEUE", "executionTime": []},
            "`executionTime` is list",
            "n-1",
        ),
        ({"id": "n-1", "status": "IN_QUEUE", "workerId": 5}, "`workerId` is int", "n-1"),
        ({"id": "n-1", "status": "IN_QUEUE", "retries": "1"}, "`retries` is str", "n-1"),
    ],
)
def test_a_submit_reply_breaking_the_contract_says_why(
    data: dict[str, Any], why: str, job_id: str | None
) -> None:
    reply = body(200, data)
    with pytest.raises(APIResponseValidationError) as info:
        parse_reply(reply, RUN)
    preview = json.dumps(data)
    assert info.value.message == f"unexpected reply: {why}; body starts {preview!r}"
    assert (info.value.status_code, info.value.operation, info.value.job_id) == (200, "run", job_id)
    assert info.value.body == preview


@pytest.mark.parametrize(
    ("content", "why"),
    [
        (b"<html>oops</html>", "the body is not JSON"),
        (b"", "the body is not JSON"),
        (b"[1, 2]", "expected a JSON object, got list"),
        (b'"text"', "expected a JSON object, got str"),
    ],
)
def test_a_body_that_is_no_json_object(content: bytes, why: str) -> None:
    with pytest.raises(APIResponseValidationError) as info:
        parse_reply(ApiResponse(200, {}, content), RUN)
    assert info.value.message.startswith(f"unexpected reply: {why}; body starts ")


def test_a_cut_short_submit_reply_still_names_its_job() -> None:
    reply = ApiResponse(200, {}, b'{"id": "cut-1", "status": "IN_QU')
    with pytest.raises(APIResponseValidationError) as info:
        parse_reply(reply, RUN)
    assert info.value.job_id == "cut-1"


def test_the_body_preview_is_collapsed_and_cut_at_200_characters() -> None:
    text = "<p>\n" + "x" * 300
    with pytest.raises(APIResponseValidationError) as info:
        parse_reply(ApiResponse(200, {}, text.encode()), RUN)
    assert info.value.message == (
        f"unexpected reply: the body is not JSON; body starts {('<p> ' + 'x' * 196 + '…')!r}"
    )


def test_stream_replies() -> None:
    stream = request_for("stream")
    batch = parse_reply(
        body(200, {"status": "IN_PROGRESS", "stream": [{"output": 1}, {"output": 2, "m": 1}]}),
        stream,
    )
    assert (batch.status, batch.chunks, batch.error) == (
        JobStatus.IN_PROGRESS, ({"output": 1}, {"output": 2, "m": 1}), None,
    )  # fmt: skip
    empty = parse_reply(body(200, {"status": "FAILED", "error": "x", "id": "job-1"}), stream)
    assert (empty.chunks, empty.error) == ((), "x")


@pytest.mark.parametrize(
    ("data", "why"),
    [
        ({"stream": []}, "no job status in the stream reply"),
        ({"status": "", "stream": []}, "no job status in the stream reply"),
        ({"status": "IN_PROGRESS", "stream": {}}, "`stream` is not a list of chunk objects"),
        ({"status": "IN_PROGRESS", "stream": [1]}, "`stream` is not a list of chunk objects"),
        ({"status": "IN_PROGRESS", "id": "job-2"}, "the body is for job 'job-2'"),
    ],
)
def test_stream_replies_breaking_the_contract(data: dict[str, Any], why: str) -> None:
    with pytest.raises(APIResponseValidationError) as info:
        parse_reply(body(200, data), request_for("stream"))
    assert info.value.message.startswith(f"unexpected reply: {why}; ")
    assert info.value.job_id == "job-1"


def test_health_counters() -> None:
    reply = body(
        200,
        {
            "jobs": {
                "completed": 3,
                "failed": -1,
                "inProgress": 2.0,
                "inQueue": True,
                "retried": "1",
            },
            "workers": {"idle": 1, "running": 0, "throttled": 1.5},
        },
    )
    health = parse_reply(reply, request_for("health"))
    jobs, workers = health.jobs, health.workers
    assert (jobs.completed, jobs.failed, jobs.in_progress, jobs.in_queue, jobs.retried) == (
        3, None, 2, None, None,
    )  # fmt: skip
    assert (workers.idle, workers.running, workers.throttled, workers.ready) == (1, 0, None, None)
    assert (workers.initializing, workers.unhealthy) == (None, None)


def test_health_without_groups_is_all_unknown() -> None:
    health = parse_reply(body(200, {}), request_for("health"))
    assert health.jobs.completed is None and health.workers.idle is None


def test_health_group_that_is_no_object() -> None:
    with pytest.raises(APIResponseValidationError, match="`workers` is not an object"):
        parse_reply(body(200, {"workers": [1]}), request_for("health"))


def test_purge_reply() -> None:
    result = parse_reply(
        body(200, {"removed": 4, "status": "completed"}), request_for("purge-queue")
    )
    assert (result.removed, result.status) == (4, "completed")


@pytest.mark.parametrize(
    ("data", "why"),
    [
        ({"status": "completed"}, "no `removed` count in the reply"),
        ({"removed": -1, "status": "completed"}, "no `removed` count in the reply"),
        ({"removed": 0}, "no `status` in the reply"),
        ({"removed": 0, "status": 1}, "no `status` in the reply"),
    ],
)
def test_purge_replies_breaking_the_contract(data: dict[str, Any], why: str) -> None:
    with pytest.raises(APIResponseValidationError) as info:
        parse_reply(body(200, data), request_for("purge-queue"))
    assert info.value.message.startswith(f"unexpected reply: {why}; ")


# --- errors ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "cls"),
    [
        (400, BadRequestError),
        (401, AuthenticationError),
        (403, PermissionDeniedError),
        (409, ConflictError),
        (422, UnprocessableEntityError),
        (404, NotFoundError),
        (413, PayloadTooLargeError),
        (429, RateLimitError),
        (499, InternalServerError),
        (500, InternalServerError),
        (503, InternalServerError),
        (520, InternalServerError),
        (99, InternalServerError),
        (100, APIStatusError),
        (101, APIStatusError),
        (418, APIStatusError),
        (405, APIStatusError),
        (302, APIStatusError),
    ],
)
def test_error_classes_per_status(code: int, cls: type[APIError]) -> None:
    assert type(error_from_response(body(code, {}), STATUS)) is cls


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"error": "e", "message": "m", "detail": "d"}, "e"),
        ({"message": "m", "detail": "d"}, "m"),
        ({"detail": "d"}, "d"),
        ({"error": "", "message": "m"}, "m"),
        ({"error": 5}, '{"error": 5}'),
    ],
)
def test_the_servers_own_words_are_the_message(data: dict[str, Any], message: str) -> None:
    assert error_from_response(body(500, data), STATUS).message == message


def test_an_error_body_nested_too_deeply_to_decode_is_read_as_text() -> None:
    nested = ApiResponse(500, {}, b"[" * 100_000 + b'{"id": "job-9"}')
    error = error_from_response(nested, build_request("health", "ep-1"))
    assert type(error) is InternalServerError and error.job_id == "job-9"
    assert job_in_error_reply(nested, STATUS) is None


def test_error_messages_from_text_bodies() -> None:
    assert error_from_response(ApiResponse(502, {}, b"  \n "), STATUS).message == "(empty body)"
    assert (
        error_from_response(ApiResponse(502, {}, b"Bad\n  Gateway"), STATUS).message
        == "Bad Gateway"
    )


def test_error_fields_and_retry_after() -> None:
    reply = body(429, {"error": "slow"}, retry_after="7")
    err = error_from_response(reply, STATUS)
    assert isinstance(err, RateLimitError)
    assert err.retry_after == 7.0
    assert (err.status_code, err.operation, err.job_id, err.body) == (
        429, "status", "job-1", '{"error": "slow"}',
    )  # fmt: skip
    assert err.headers["retry-after"] == "7"
    assert str(err) == "status failed with HTTP 429 (job job-1): slow"


def test_the_job_id_of_an_error_comes_from_the_request_or_the_body() -> None:
    assert error_from_response(body(500, {"id": "b-1"}), RUN).job_id == "b-1"
    assert error_from_response(body(500, {"id": ""}), RUN).job_id is None
    assert error_from_response(body(500, {"id": 3}), RUN).job_id is None
    assert error_from_response(body(500, ["x"]), RUN).job_id is None
    cut = ApiResponse(502, {}, b'oops {"id": "t-1", "status"')
    assert error_from_response(cut, RUN).job_id == "t-1"
    assert error_from_response(ApiResponse(502, {}, b"<html/>"), RUN).job_id is None
    assert error_from_response(body(500, {"id": "other"}), STATUS).job_id == "job-1"


@pytest.mark.parametrize("status", ["FAILED", "COMPLETED", "CANCELLED", "TIMED_OUT"])
def test_a_terminal_job_in_an_error_reply_is_that_job(status: str) -> None:
    state = job_in_error_reply(job(status, job_id="x-1", code=400, error="e"), RUN)
    assert state is not None
    assert (state.id, state.status, state.error) == ("x-1", status, "e")


@pytest.mark.parametrize(
    ("reply", "request_"),
    [
        (job("FAILED", code=400), request_for("health")),
        (job("FAILED", code=400), request_for("stream")),
        (job("IN_PROGRESS", code=400), RUN),
        (job("PAUSED", code=400), RUN),
        (body(400, {"status": "FAILED"}), RUN),
        (body(400, {"id": 1, "status": "FAILED"}), RUN),
        (body(400, {"id": "x", "status": 1}), RUN),
        (body(400, ["FAILED"]), RUN),
        (ApiResponse(400, {}, b"FAILED"), RUN),
        (job("FAILED", job_id="other", code=400), STATUS),
        (job("FAILED", code=400, delayTime="slow"), RUN),
    ],
)
def test_error_replies_that_are_not_a_terminal_job(
    reply: ApiResponse, request_: ApiRequest
) -> None:
    assert job_in_error_reply(reply, request_) is None


@pytest.mark.parametrize("name", ["status", "cancel", "retry", "runsync", "status-sync"])
def test_job_replies_in_errors_are_read_for_every_job_schema(name: str) -> None:
    state = job_in_error_reply(job("FAILED", code=400), request_for(name))
    assert state is not None and state.id == "job-1"


QUOTED_ID = 'id"with\\quotes'  # no regex over the text can find this one: only the JSON can


@pytest.mark.parametrize(
    ("extra", "why"),
    [
        ({}, "no job status"),
        ({"status": "IN_QUEUE", "workerId": 1}, "`workerId` is int"),
    ],
)
def test_a_broken_reply_names_the_job_its_json_names(extra: dict[str, Any], why: str) -> None:
    with pytest.raises(APIResponseValidationError) as info:
        parse_reply(body(200, {"id": QUOTED_ID, **extra}), RUN)
    assert info.value.job_id == QUOTED_ID
    assert info.value.message.startswith(f"unexpected reply: {why}; ")


def test_an_error_body_naming_its_job_in_json() -> None:
    assert error_from_response(body(500, {"id": QUOTED_ID}), RUN).job_id == QUOTED_ID
    # Only the body's own top-level id counts, not one nested in a detail.
    nested = body(500, {"error": "x", "detail": {"id": "nested-1"}})
    assert error_from_response(nested, RUN).job_id is None


def test_a_validation_error_keeps_the_reply_headers() -> None:
    reply = ApiResponse(200, {"x-request-id": "r-1"}, b"<html/>")
    with pytest.raises(APIResponseValidationError) as info:
        parse_reply(reply, RUN)
    assert info.value.headers == {"x-request-id": "r-1"}


def test_a_preview_of_exactly_200_characters_is_whole() -> None:
    text = "y" * 200
    with pytest.raises(APIResponseValidationError) as info:
        parse_reply(ApiResponse(200, {}, text.encode()), RUN)
    assert info.value.message == f"unexpected reply: the body is not JSON; body starts {text!r}"


@pytest.mark.parametrize(
    "content",
    [
        '{"id":"j","status":"COMPLETED","output":{"t":"é"}}'.encode(),
        b'\xef\xbb\xbf{"id":"j"}',  # a UTF-8 byte order mark
        '{"id":"j"}'.encode("utf-16"),
        '{"id":"j"}'.encode("utf-32-le"),
        b'{"a":"\xed\xa0\x80"}',  # a lone surrogate, as json.loads(bytes) lets it through
        b"{}",
        b'{"a":',
        b"{\xff}",
        b"[1]",
        b'{"a":1}  \r\n',  # whitespace after the object
        b'{"a":1}x',  # more after the object
        b'{"a":1}{"b":2}',
        b'{"a":NaN, "b":[1,{}]}',
        b'{"a":1',
        b"{",
    ],
)
def test_a_body_decodes_as_json_loads_decodes_it(content: bytes) -> None:
    # decode_object skips json's encoding detection for plain UTF-8 objects: same outcome.
    try:
        expected: Any = json.loads(content)
    except ValueError:
        expected = ValueError
    try:
        found: Any = decode_object(content)
    except BodyShapeError:
        found = ValueError if expected is ValueError else "not an object"
    assert found == (
        expected if expected is ValueError or isinstance(expected, dict) else "not an object"
    )
