"""The spec itself: it validates, it has the operations the façade needs, and the façade's
hard-coded limits and statuses agree with it."""

from __future__ import annotations

import inspect
from typing import Any

import pytest
from openapi_spec_validator import validate
from runpod_generated.models import JobStatus as GeneratedJobStatus
from runpod_generated.operations import BY_OPERATION_ID, OPERATIONS

from runpod_facade import _constants
from runpod_facade._status import TERMINAL_STATUSES, JobStatus
from tests._support.openapi_httpx import HTTP_METHODS
from tests._support.spec import SERVER_URL, spec_dict

# The routes the façade's public methods rely on (the contract notes' route table, §2).
# Adding an operation to the spec adds it everywhere else without editing this list.
REQUIRED_OPERATIONS = {
    "runJob": ("post", "/{endpointId}/run"),
    "runJobSync": ("post", "/{endpointId}/runsync"),
    "getJobStatus": ("get", "/{endpointId}/status/{jobId}"),
    "waitJobStatus": ("get", "/{endpointId}/status-sync/{jobId}"),
    "streamJob": ("get", "/{endpointId}/stream/{jobId}"),
    "cancelJob": ("post", "/{endpointId}/cancel/{jobId}"),
    "retryJob": ("post", "/{endpointId}/retry/{jobId}"),
    "purgeQueue": ("post", "/{endpointId}/purge-queue"),
    "getEndpointHealth": ("get", "/{endpointId}/health"),
}


def operations() -> dict[str, tuple[str, str, dict[str, Any]]]:
    """operationId -> (method, path, operation object)."""
    found: dict[str, tuple[str, str, dict[str, Any]]] = {}
    for path, item in spec_dict()["paths"].items():
        for method in HTTP_METHODS:
            if method in item:
                operation = item[method]
                assert operation["operationId"] not in found, "duplicate operationId"
                found[operation["operationId"]] = (method, path, operation)
    return found


def schema(name: str) -> dict[str, Any]:
    result: dict[str, Any] = spec_dict()["components"]["schemas"][name]
    return result


def resolve(node: dict[str, Any]) -> dict[str, Any]:
    ref = node.get("$ref")
    if ref is None:
        return node
    target: Any = spec_dict()
    for part in ref.removeprefix("#/").split("/"):
        target = target[part]
    return resolve(target)


def test_spec_is_valid_openapi() -> None:
    validate(spec_dict())
    assert spec_dict()["openapi"].startswith("3.1")
    assert [server["url"] for server in spec_dict()["servers"]] == [SERVER_URL]


def test_every_expected_operation_exists_with_its_route() -> None:
    found = operations()
    assert set(REQUIRED_OPERATIONS) <= set(found), "operations the façade needs are missing"
    for operation_id, (method, path) in REQUIRED_OPERATIONS.items():
        assert found[operation_id][:2] == (method, path), operation_id


@pytest.mark.parametrize("operation_id", sorted(BY_OPERATION_ID))
def test_every_operation_requires_bearer_auth(operation_id: str) -> None:
    _, _, operation = operations()[operation_id]
    # Operation-level security is what makes the generated functions take an AuthenticatedClient.
    assert operation.get("security") == [{"bearerAuth": []}]
    assert spec_dict()["security"] == [{"bearerAuth": []}]
    scheme = spec_dict()["components"]["securitySchemes"]["bearerAuth"]
    assert (scheme["type"], scheme["scheme"].lower()) == ("http", "bearer")


def test_only_status_sync_is_marked_undocumented() -> None:
    marked = {op for op, (_, _, o) in operations().items() if o.get("x-runpod-undocumented")}
    assert marked == {"waitJobStatus"}
    assert operations()["waitJobStatus"][2]["x-runpod-undocumented"] is True


def test_payload_limits_match_the_facade() -> None:
    found = operations()
    assert found["runJob"][2]["x-runpod-max-payload-bytes"] == _constants.MAX_RUN_PAYLOAD_BYTES
    assert (
        found["runJobSync"][2]["x-runpod-max-payload-bytes"] == _constants.MAX_RUNSYNC_PAYLOAD_BYTES
    )
    limited = {op for op, (_, _, o) in found.items() if "x-runpod-max-payload-bytes" in o}
    assert limited == {"runJob", "runJobSync"}


def test_wait_range_matches_the_facade() -> None:
    wait = spec_dict()["components"]["parameters"]["wait"]
    assert (wait["in"], wait["schema"]["type"]) == ("query", "integer")
    assert wait["schema"]["minimum"] == _constants.MIN_WAIT_MS
    assert wait["schema"]["maximum"] == _constants.MAX_WAIT_MS
    assert _constants.MIN_WAIT_MS <= _constants.LONG_POLL_WAIT_MS <= _constants.MAX_WAIT_MS
    # Every long-poll shares that one parameter, so one pair of constants covers them all.
    for operation_id in ("runJobSync", "waitJobStatus", "streamJob"):
        params = operations()[operation_id][2]["parameters"]
        assert {"$ref": "#/components/parameters/wait"} in params, operation_id


def test_execution_policy_ranges_match_the_facade() -> None:
    props = schema("ExecutionPolicy")["properties"]
    assert props["executionTimeout"]["minimum"] == _constants.MIN_EXECUTION_TIMEOUT_MS
    assert props["ttl"]["minimum"] == _constants.MIN_TTL_MS
    assert props["executionTimeout"]["maximum"] == _constants.MAX_POLICY_MS
    assert props["ttl"]["maximum"] == _constants.MAX_POLICY_MS


def test_job_status_enum_matches_the_facade_and_the_generated_enum() -> None:
    spec_values = schema("JobStatus")["enum"]
    assert [member.value for member in JobStatus] == spec_values
    assert {member.value for member in GeneratedJobStatus} == set(spec_values)


def test_terminal_statuses_match_the_facade() -> None:
    terminal = spec_dict()["x-runpod-terminal-statuses"]
    assert len(terminal) == len(set(terminal))
    assert {status.value for status in TERMINAL_STATUSES} == set(terminal)
    assert set(terminal) <= set(schema("JobStatus")["enum"])


def test_status_fields_are_open_ended() -> None:
    # An unknown status must validate and parse: every reply's status is the open JobStatusValue.
    open_status = schema("JobStatusValue")["anyOf"]
    assert {"$ref": "#/components/schemas/JobStatus"} in open_status
    assert {"type": "string"} in open_status
    for name in ("Job", "JobSubmitted", "StreamResponse", "CancelResponse"):
        status = schema(name)["properties"]["status"]
        assert status == {"$ref": "#/components/schemas/JobStatusValue"}, name


@pytest.mark.parametrize("operation_id", sorted(BY_OPERATION_ID))
def test_every_operation_documents_a_json_200(operation_id: str) -> None:
    _, _, operation = operations()[operation_id]
    reply = resolve(operation["responses"]["200"])
    assert "application/json" in reply["content"]


def test_the_generated_operation_table_matches_the_spec() -> None:
    found = operations()
    assert set(BY_OPERATION_ID) == set(found)
    for operation_id, (method, path, operation) in found.items():
        info = BY_OPERATION_ID[operation_id]
        meta = operation["x-runpod-operation"]
        assert (info.method, info.path) == (method.upper(), path)
        assert (info.name, info.safety, info.cli) == (meta["name"], meta["safety"], meta["cli"])
        assert info.python == meta.get("python", meta["name"].replace("-", "_"))
        assert info.max_payload_bytes == operation.get("x-runpod-max-payload-bytes")
    assert set(OPERATIONS) == {info.name for info in BY_OPERATION_ID.values()}


@pytest.mark.parametrize("operation_id", sorted(BY_OPERATION_ID))
def test_every_operation_declares_the_errors_the_facade_handles(operation_id: str) -> None:
    _, _, operation = operations()[operation_id]
    declared = set(operation["responses"])
    assert {"401", "403", "404", "429", "5XX", "default"} <= declared, operation_id


def test_runsync_400_may_be_the_failed_job() -> None:
    _, _, operation = operations()["runJobSync"]
    body = resolve(operation["responses"]["400"])["content"]["application/json"]["schema"]
    refs = {option["$ref"].rsplit("/", 1)[1] for option in body["anyOf"]}
    assert refs == {"Job", "ErrorBody"}


@pytest.mark.parametrize("name", list(OPERATIONS))
def test_every_operation_has_its_public_method_on_both_clients(name: str) -> None:
    # x-runpod-operation.python names the method the tests call each operation through.
    from runpod_facade import AsyncEndpoint, Endpoint

    info = OPERATIONS[name]
    for client in (Endpoint, AsyncEndpoint):
        method = getattr(client, info.python, None)
        assert callable(method), f"{client.__name__} has no {info.python}() for {name}"
        parameters = list(inspect.signature(method).parameters)
        if info.holds:
            assert "timeout" in parameters, f"{info.python}() of a holding operation"
