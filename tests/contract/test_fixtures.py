"""Every reply fixture (tests/fixtures/replies) validates against the spec's 200 schema of its
operation, parses with the generated model, and parses with the façade's parser."""

from __future__ import annotations

import dataclasses
import functools
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from openapi_schema_validator import OAS31Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012
from runpod_generated import models
from runpod_generated.operations import BY_OPERATION_ID
from runpod_generated.types import UNSET

from runpod_facade import _wire
from runpod_facade._status import JobStatus
from runpod_facade._types import JobState

from ._openapi_httpx import REPO, SERVER_URL, request_errors, response_errors, spec_dict

REPLIES = REPO / "tests" / "fixtures" / "replies"
API_KEY = "rp_contract_test_key"
ENDPOINT = "ep-contract"


@dataclass(frozen=True)
class Kind:
    """What a fixture prefix stands for (see tests/fixtures/replies/README.md)."""

    operation_id: str | None  # None: a schema-level fixture, nested inside a reply
    schema: str
    model: Any
    parser: str


KINDS = {
    "run": Kind("runJob", "JobSubmitted", models.JobSubmitted, "parse_submitted"),
    "runsync": Kind("runJobSync", "Job", models.Job, "parse_job"),
    "status": Kind("getJobStatus", "Job", models.Job, "parse_job"),
    "status_sync": Kind("waitJobStatus", "Job", models.Job, "parse_job"),
    "stream": Kind("streamJob", "StreamResponse", models.StreamResponse, "parse_stream"),
    "cancel": Kind("cancelJob", "CancelResponse", models.CancelResponse, "parse_job"),
    "retry": Kind("retryJob", "JobSubmitted", models.JobSubmitted, "parse_submitted"),
    "purge": Kind("purgeQueue", "PurgeQueueResponse", models.PurgeQueueResponse, "parse_purge"),
    "health": Kind("getEndpointHealth", "EndpointHealth", models.EndpointHealth, "parse_health"),
    "chunk": Kind(None, "StreamChunk", models.StreamChunk, "parse_stream"),
    "health_workers": Kind(None, "HealthWorkers", models.HealthWorkers, "parse_health"),
}

FIXTURES = sorted(REPLIES.glob("*.json"))


def kind_of(path: Path) -> Kind:
    prefix, sep, _ = path.stem.partition("__")
    assert sep and prefix in KINDS, f"{path.name}: name must be <prefix>__<description>.json"
    return KINDS[prefix]


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((REPLIES / name).read_text(encoding="utf-8"))
    return data


def api_request(operation_id: str, job_id: str = "job-1") -> _wire.ApiRequest:
    """The façade's request for ``operation_id``, built from the spec's operation table."""
    info = BY_OPERATION_ID[operation_id]
    args: dict[str, Any] = {}
    if info.job_scoped:
        args["job_id"] = job_id
    if info.has_body:
        args["body"] = _wire.build_job_body(
            {"prompt": "hi"}, policy=None, webhook=None, s3_config=None
        )
    if info.holds:
        args["wait_ms"] = 10_000
    return _wire.build_request(info.name, ENDPOINT, **args)


def http_request(request: _wire.ApiRequest) -> httpx.Request:
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


def api_response(content: bytes) -> _wire.ApiResponse:
    return _wire.ApiResponse(200, {"content-type": "application/json"}, content)


@functools.cache
def schema_validator(name: str) -> OAS31Validator:
    """A JSON-schema validator for one component schema, resolving refs inside the spec."""
    uri = "urn:runpod-facade:spec"
    resource = Resource.from_contents(spec_dict(), default_specification=DRAFT202012)
    registry: Registry[Any] = Registry().with_resource(uri, resource)
    return OAS31Validator({"$ref": f"{uri}#/components/schemas/{name}"}, registry=registry)


def schema_errors(name: str, data: Any) -> list[str]:
    return [error.message for error in schema_validator(name).iter_errors(data)]


def parse(kind: Kind, data: dict[str, Any], content: bytes) -> Any:
    """The façade's parser on ``data``, wrapped in its reply for a schema-level fixture."""
    if kind.schema == "StreamChunk":
        data = {"status": "IN_PROGRESS", "stream": [data]}
        content = json.dumps(data).encode()
        operation_id = "streamJob"
    elif kind.schema == "HealthWorkers":
        data = {"workers": data}
        content = json.dumps(data).encode()
        operation_id = "getEndpointHealth"
    else:
        assert kind.operation_id is not None
        operation_id = kind.operation_id
    request = api_request(operation_id, job_id=str(data.get("id", "job-1")))
    return getattr(_wire, kind.parser)(api_response(content), request)


def camel(name: str) -> str:
    return re.sub(r"_([a-z])", lambda m: m.group(1).upper(), name)


def expected_status(value: str) -> JobStatus | str:
    return JobStatus(value) if value in JobStatus.__members__ else value


def check_facade_result(kind: Kind, data: dict[str, Any], result: Any) -> None:
    if kind.parser in ("parse_job", "parse_submitted"):
        assert isinstance(result, JobState)
        assert result.id == data["id"]
        assert result.status == data["status"]
        assert type(result.status) is type(expected_status(data["status"]))
        assert dict(result.raw) == data
        if kind.parser == "parse_job":
            assert result.output == data.get("output")
            assert result.error == data.get("error")
            delay = result.delay_time
            assert (None if delay is None else delay.total_seconds() * 1000) == data.get(
                "delayTime"
            )
    elif kind.parser == "parse_stream":
        chunks = data["stream"] if kind.schema == "StreamResponse" else [data]
        assert result.outputs == tuple(chunk.get("output") for chunk in chunks)
        assert result.status == (
            data["status"] if kind.schema == "StreamResponse" else "IN_PROGRESS"
        )
    elif kind.parser == "parse_health":
        reply = data if kind.schema == "EndpointHealth" else {"workers": data}
        for group in ("jobs", "workers"):
            counters = reply.get(group, {})
            parsed = getattr(result, group)
            names = {camel(f.name): f.name for f in dataclasses.fields(parsed)}
            assert set(counters) <= set(names), f"{group}: counters the façade drops"
            for wire_name, attr in names.items():
                # A counter the reply left out is unknown (None), never a made-up 0.
                assert getattr(parsed, attr) == counters.get(wire_name), (group, wire_name)
        assert dict(result.raw) == reply
    elif kind.parser == "parse_purge":
        assert (result.removed, result.status) == (data["removed"], data["status"])
        assert dict(result.raw) == data
    else:  # pragma: no cover
        raise AssertionError(kind.parser)


# --- the fixture set ----------------------------------------------------------------------------


def test_fixture_names_follow_the_convention_and_cover_every_operation() -> None:
    assert FIXTURES, "no fixtures found"
    covered = {kind_of(path).operation_id for path in FIXTURES}
    operations = {
        op["operationId"]
        for item in spec_dict()["paths"].values()
        for op in item.values()
        if isinstance(op, dict) and "operationId" in op
    }
    assert operations <= covered


def test_every_fixture_is_documented_in_the_readme() -> None:
    readme = (REPLIES / "README.md").read_text(encoding="utf-8")
    listed = set(re.findall(r"`([\w.]+\.json)`", readme))
    present = {path.name for path in FIXTURES}
    assert present - listed == set(), "fixtures without a source in README.md"
    assert listed - present == set(), "README.md lists fixtures that do not exist"


# --- each fixture -------------------------------------------------------------------------------


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.stem)
def test_fixture_validates_against_the_spec(path: Path) -> None:
    kind = kind_of(path)
    data = json.loads(path.read_bytes())
    assert schema_errors(kind.schema, data) == []
    if kind.operation_id is not None:
        # The whole reply, through openapi-core: status code, content type and body schema.
        request = http_request(api_request(kind.operation_id, job_id=str(data.get("id", "j"))))
        assert request_errors(request) == []
        reply = httpx.Response(
            200, content=path.read_bytes(), headers={"content-type": "application/json"}
        )
        assert response_errors(request, reply) == []


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.stem)
def test_fixture_parses_with_the_generated_model(path: Path) -> None:
    kind = kind_of(path)
    data = json.loads(path.read_bytes())
    model = kind.model.from_dict(data)
    assert model.to_dict() == data  # nothing lost, unknown fields included
    if "status" in data and kind.schema != "PurgeQueueResponse":
        assert model.status == data["status"]


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.stem)
def test_fixture_parses_with_the_facade(path: Path) -> None:
    kind = kind_of(path)
    content = path.read_bytes()
    data = json.loads(content)
    check_facade_result(kind, data, parse(kind, data, content))


# --- the hand-made shapes -----------------------------------------------------------------------


def test_unknown_status_is_valid_and_parses_to_a_plain_str() -> None:
    data = load("status__unknown_status_paused_handmade.json")
    assert schema_errors("Job", data) == []
    generated = models.Job.from_dict(data)
    assert generated.status == "PAUSED"
    assert not isinstance(generated.status, models.JobStatus)
    state = _wire.parse_job(
        api_response(json.dumps(data).encode()), api_request("getJobStatus", data["id"])
    )
    assert state.status == "PAUSED"
    assert type(state.status) is str
    assert not state.is_terminal


def test_unknown_fields_are_kept_in_raw() -> None:
    data = load("status__extra_fields_handmade.json")
    generated = models.Job.from_dict(data)
    assert generated.additional_properties == {"queuePosition": 3, "gpu": {"type": "A100"}}
    state = _wire.parse_job(
        api_response(json.dumps(data).encode()), api_request("getJobStatus", data["id"])
    )
    assert state.raw["queuePosition"] == 3
    assert state.raw["gpu"] == {"type": "A100"}
    assert (state.worker_id, state.retries) == ("oqk7ao1uomckye", 0)
    assert state.output == {"text": "hi"}


def test_js_client_flags_are_extra_fields() -> None:
    data = load("status__in_progress_go_docs.json")
    generated = models.Job.from_dict(data)
    assert set(generated.additional_properties) == {"started", "completed", "succeeded"}
    state = _wire.parse_job(
        api_response(json.dumps(data).encode()), api_request("getJobStatus", data["id"])
    )
    assert state.status is JobStatus.IN_PROGRESS
    assert state.raw["started"] is True


def test_health_with_only_idle_and_running_workers() -> None:
    data = load("health__workers_idle_running_only_handmade.json")
    assert schema_errors("EndpointHealth", data) == []
    generated = models.EndpointHealth.from_dict(data)
    assert generated.jobs is UNSET
    health = _wire.parse_health(
        api_response(json.dumps(data).encode()), api_request("getEndpointHealth")
    )
    assert (health.workers.idle, health.workers.running) == (0, 2)
    # Left out means unknown: None, not 0.
    assert health.workers.ready is health.workers.initializing is health.workers.unhealthy is None
    assert health.jobs.in_queue is health.jobs.completed is None


def test_failed_job_error_text_is_kept_and_decodable() -> None:
    data = load("status__failed_worker_error_handmade.json")
    state = _wire.parse_job(
        api_response(json.dumps(data).encode()), api_request("getJobStatus", data["id"])
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
