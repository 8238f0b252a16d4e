"""Every reply fixture (tests/fixtures/replies), and the spec's ``example`` of every reply
schema, validates against the spec's 200 schema of its operation, parses with the generated
model, and parses with the façade's parser. What each file is comes from its name read against
the spec (tests/_support/fixtures.py), not a table; what the façade's value must carry is
checked per type of value, a generic ``Reply`` against the spec's table of its fields."""

from __future__ import annotations

import dataclasses
import functools
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from openapi_schema_validator import OAS31Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012
from runpod_generated import models
from runpod_generated.operations import REPLY_SCHEMAS
from runpod_generated.types import UNSET

from runpod_facade._status import JobStatus
from runpod_facade._transports.base import ApiRequest, ApiResponse
from runpod_facade._types import Health, JobState, PurgeResult, Reply
from runpod_facade._wire.replies import PARSERS, StreamBatch, parse_health, parse_job, parse_reply
from runpod_facade._wire.requests import build_request, encode_job
from tests._support.fixtures import FIXTURES, REPLIES, Kind, kind_of
from tests._support.fixtures import load as load_path
from tests._support.openapi_httpx import request_errors, response_errors
from tests._support.operations import OPERATIONS, OperationInfo, example_of, sample_reply
from tests._support.spec import SERVER_URL, spec_dict

API_KEY = "rp_contract_test_key"
ENDPOINT = "ep-contract"


def load(name: str) -> dict[str, Any]:
    return load_path(REPLIES / name)


def api_request(info: OperationInfo, job_id: str = "job-1") -> ApiRequest:
    """The façade's request for ``info``, built from the spec's operation table."""
    args: dict[str, Any] = {}
    if info.job_scoped:
        args["job_id"] = job_id
    if info.has_body:
        args["body"] = encode_job({"prompt": "hi"})
    if info.holds:
        args["wait_ms"] = 10_000
    return build_request(info.name, ENDPOINT, **args)


def http_request(request: ApiRequest) -> httpx.Request:
    headers = {"Authorization": f"Bearer {API_KEY}"}
    if request.content is not None:
        headers["Content-Type"] = "application/json"
    return httpx.Request(
        request.method,
        SERVER_URL + request.path,
        params=dict(request.params),
        content=request.content,
        headers=headers,
    )


def api_response(content: bytes) -> ApiResponse:
    return ApiResponse(200, {"content-type": "application/json"}, content)


@functools.cache
def schema_validator(name: str) -> OAS31Validator:
    """A JSON-schema validator for one component schema, resolving refs inside the spec."""
    uri = "urn:runpod-facade:spec"
    resource = Resource.from_contents(spec_dict(), default_specification=DRAFT202012)
    registry: Registry[Any] = Registry().with_resource(uri, resource)
    return OAS31Validator({"$ref": f"{uri}#/components/schemas/{name}"}, registry=registry)


def schema_errors(name: str, data: Any) -> list[str]:
    return [error.message for error in schema_validator(name).iter_errors(data)]


def whole_reply(kind: Kind, data: dict[str, Any]) -> tuple[OperationInfo, dict[str, Any]]:
    """The operation and the whole reply a fixture stands for: itself, or (for a schema-level
    fixture) its holder's sample reply with the fixture in its place."""
    if kind.operation is not None:
        return kind.operation, data
    assert kind.holder is not None
    reply = sample_reply(kind.holder, "job-1")
    reply[kind.field] = [data] if kind.in_list else data
    if "status" in reply and kind.holder.reply_schema == "StreamResponse":
        reply["status"] = "IN_PROGRESS"
    return kind.holder, reply


def parse(kind: Kind, data: dict[str, Any], content: bytes) -> tuple[dict[str, Any], Any]:
    """The façade's parser on the fixture's whole reply: (that reply, the parsed value)."""
    info, reply = whole_reply(kind, data)
    if reply is not data:
        content = json.dumps(reply).encode()
    request = api_request(info, job_id=str(reply.get("id", "job-1")))
    return reply, parse_reply(api_response(content), request)


def camel(name: str) -> str:
    return re.sub(r"_([a-z])", lambda m: m.group(1).upper(), name)


def expected_status(value: str) -> JobStatus | str:
    return JobStatus(value) if value in JobStatus.__members__ else value


def _check_state(data: dict[str, Any], result: JobState) -> None:
    assert result.id == data["id"]
    assert result.status == data["status"]
    assert type(result.status) is type(expected_status(data["status"]))
    assert dict(result.raw) == data
    assert result.output == data.get("output")
    assert result.error == data.get("error")
    delay = result.delay_time
    assert (None if delay is None else delay.total_seconds() * 1000) == data.get("delayTime")


def _check_stream(data: dict[str, Any], result: StreamBatch) -> None:
    assert result.chunks == tuple(data["stream"])  # each chunk whole: `output` and the rest
    assert result.status == data["status"]


def _check_health(data: dict[str, Any], result: Health) -> None:
    for group in ("jobs", "workers"):
        counters = data.get(group, {})
        parsed = getattr(result, group)
        names = {camel(f.name): f.name for f in dataclasses.fields(parsed)}
        assert set(counters) <= set(names), f"{group}: counters the façade drops"
        for wire_name, attr in names.items():
            # A counter the reply left out is unknown (None), never a made-up 0.
            assert getattr(parsed, attr) == counters.get(wire_name), (group, wire_name)
    assert dict(result.raw) == data


def _check_purge(data: dict[str, Any], result: PurgeResult) -> None:
    assert (result.removed, result.status) == (data["removed"], data["status"])
    assert dict(result.raw) == data


def _check_reply(data: dict[str, Any], result: Reply) -> None:
    """A generic reply: every field of its schema (from the spec's table) as sent."""
    for field in REPLY_SCHEMAS[result.schema].fields:
        assert getattr(result, field.python) == data.get(field.name), field.name
    assert dict(result.raw) == data


#: What the façade's value of each type must carry of the reply it was parsed from.
CHECKS: dict[type, Callable[[dict[str, Any], Any], None]] = {
    JobState: _check_state,
    StreamBatch: _check_stream,
    Health: _check_health,
    PurgeResult: _check_purge,
    Reply: _check_reply,
}


def check_facade_result(data: dict[str, Any], result: Any) -> None:
    """The façade's value carries everything the reply ``data`` said, typed."""
    assert type(result) in CHECKS, f"no check for {type(result).__name__}: add it to CHECKS"
    CHECKS[type(result)](data, result)


# --- the fixture set ----------------------------------------------------------------------------


#: Each recorded fixture file, then the spec's example of each reply schema (``example_X``).
CASES: list[Path | str] = [*FIXTURES, *sorted(REPLY_SCHEMAS)]


def case_id(case: Path | str) -> str:
    return case.stem if isinstance(case, Path) else f"example_{case}"


def read_case(case: Path | str) -> tuple[Kind, bytes]:
    """What a case is and its bytes: a fixture by its name, an example as a whole reply of the
    first operation that answers with its schema."""
    if isinstance(case, Path):
        return kind_of(case), case.read_bytes()
    info = next(i for i in OPERATIONS.values() if i.reply_schema == case)
    return Kind(case, operation=info), json.dumps(example_of(case)).encode()


def test_fixture_names_follow_the_convention_and_every_parser_has_a_recorded_reply() -> None:
    assert FIXTURES, "no fixtures found"
    kinds = [kind_of(path) for path in FIXTURES]  # each name is checked here
    covered = {kind.schema for kind in kinds if kind.operation is not None}
    # A hand-written parser is checked on recorded replies; every other reply schema on its
    # spec example (CASES), through the generic parser.
    assert set(PARSERS) <= covered
    assert {info.reply_schema for info in OPERATIONS.values()} <= set(CASES)


def test_every_fixture_is_documented_in_the_readme() -> None:
    readme = (REPLIES / "README.md").read_text(encoding="utf-8")
    listed = set(re.findall(r"`([\w.]+\.json)`", readme))
    present = {path.name for path in FIXTURES}
    assert present - listed == set(), "fixtures without a source in README.md"
    assert listed - present == set(), "README.md lists fixtures that do not exist"


# --- each fixture -------------------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_fixture_validates_against_the_spec(case: Path | str) -> None:
    kind, content = read_case(case)
    data = json.loads(content)
    assert schema_errors(kind.schema, data) == []
    # The whole reply, through openapi-core: status code, content type and body schema.
    info, reply = whole_reply(kind, data)
    request = http_request(api_request(info, job_id=str(reply.get("id", "j"))))
    assert request_errors(request) == []
    response = httpx.Response(
        200, content=json.dumps(reply).encode(), headers={"content-type": "application/json"}
    )
    assert response_errors(request, response) == []


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_fixture_parses_with_the_generated_model(case: Path | str) -> None:
    kind, content = read_case(case)
    data = json.loads(content)
    model = getattr(models, kind.schema).from_dict(data)
    assert model.to_dict() == data  # nothing lost, unknown fields included
    if "status" in data:
        assert model.status == data["status"]


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_fixture_parses_with_the_facade(case: Path | str) -> None:
    kind, content = read_case(case)
    check_facade_result(*parse(kind, json.loads(content), content))


# --- the hand-made shapes -----------------------------------------------------------------------


def test_unknown_status_is_valid_and_parses_to_a_plain_str() -> None:
    data = load("status__unknown_status_paused_handmade.json")
    assert schema_errors("Job", data) == []
    generated = models.Job.from_dict(data)
    assert generated.status == "PAUSED"
    assert not isinstance(generated.status, models.JobStatus)
    state = parse_job(
        api_response(json.dumps(data).encode()), api_request(OPERATIONS["status"], data["id"])
    )
    assert state.status == "PAUSED"
    assert type(state.status) is str
    assert not state.is_terminal


def test_unknown_fields_are_kept_in_raw() -> None:
    data = load("status__extra_fields_handmade.json")
    generated = models.Job.from_dict(data)
    assert generated.additional_properties == {"queuePosition": 3, "gpu": {"type": "A100"}}
    state = parse_job(
        api_response(json.dumps(data).encode()), api_request(OPERATIONS["status"], data["id"])
    )
    assert state.raw["queuePosition"] == 3
    assert state.raw["gpu"] == {"type": "A100"}
    assert (state.worker_id, state.retries) == ("oqk7ao1uomckye", 0)
    assert state.output == {"text": "hi"}


def test_js_client_flags_are_extra_fields() -> None:
    data = load("status__in_progress_go_docs.json")
    generated = models.Job.from_dict(data)
    assert set(generated.additional_properties) == {"started", "completed", "succeeded"}
    state = parse_job(
        api_response(json.dumps(data).encode()), api_request(OPERATIONS["status"], data["id"])
    )
    assert state.status is JobStatus.IN_PROGRESS
    assert state.raw["started"] is True


def test_health_with_only_idle_and_running_workers() -> None:
    data = load("health__workers_idle_running_only_handmade.json")
    assert schema_errors("EndpointHealth", data) == []
    generated = models.EndpointHealth.from_dict(data)
    assert generated.jobs is UNSET
    health = parse_health(
        api_response(json.dumps(data).encode()), api_request(OPERATIONS["health"])
    )
    assert (health.workers.idle, health.workers.running) == (0, 2)
    # Left out means unknown: None, not 0.
    assert health.workers.ready is health.workers.initializing is health.workers.unhealthy is None
    assert health.jobs.in_queue is health.jobs.completed is None


def test_failed_job_error_text_is_kept_and_decodable() -> None:
    data = load("status__failed_worker_error_handmade.json")
    state = parse_job(
        api_response(json.dumps(data).encode()), api_request(OPERATIONS["status"], data["id"])
    )
    assert state.status is JobStatus.FAILED
    assert state.error == data["error"]
    assert state.error_details is not None
    assert state.error_details["error_message"] == "bad prompt"


# --- the checks above can fail --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("schema", "data", "message"),
    [
        ("Job", {"id": "j"}, "'status' is a required property"),
        ("Job", {"id": "j", "status": "COMPLETED", "delayTime": None}, "not of type 'integer'"),
        ("Job", {"id": "j", "status": 7}, "is not valid under any of the given schemas"),
        ("JobSubmitted", {"status": "IN_QUEUE"}, "'id' is a required property"),
        ("PurgeQueueResponse", {"removed": -1, "status": "completed"}, "less than the minimum"),
        ("StreamResponse", {"status": "COMPLETED", "stream": "x"}, "not of type 'array'"),
        ("EndpointHealth", {"workers": {"idle": "1"}}, "not of type 'integer'"),
    ],
)
def test_schema_validation_rejects_broken_replies(schema: str, data: Any, message: str) -> None:
    errors = schema_errors(schema, data)
    assert any(message in error for error in errors), errors
