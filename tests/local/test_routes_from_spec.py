"""The local endpoint's routes are the spec's operation table: every operation is routed with
its methods and has a behaviour, fault routes are the same names, and an operation added to
the table is routed without naming it anywhere else."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import httpx
import pytest
from runpod_generated.operations import OPERATIONS, OperationInfo

from runpod_facade import local
from runpod_facade.local import Fault, LocalEndpoint, _app, _behaviour, _routes, sample_handlers

ALL_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


@pytest.fixture(scope="module")
def ep() -> Iterator[LocalEndpoint]:
    with LocalEndpoint(sample_handlers.echo, api_key=None) as endpoint:
        yield endpoint


def url_of(ep: LocalEndpoint, info: OperationInfo) -> str:
    path = info.path.replace("{endpointId}", ep.endpoint_id).replace("{jobId}", "some-job-u1")
    return ep.base_url + path


def test_every_operation_has_a_behaviour() -> None:
    assert set(_behaviour.BEHAVIOURS) == set(OPERATIONS)


def test_fault_routes_are_the_operation_names() -> None:
    assert tuple(OPERATIONS) == local.OPERATIONS
    for name in OPERATIONS:
        Fault(name, "http_error")
    with pytest.raises(ValueError, match="unknown route"):
        Fault("not-an-operation", "http_error")


@pytest.mark.parametrize("name", list(OPERATIONS))
def test_each_operation_answers_its_methods_and_405_otherwise(ep: LocalEndpoint, name: str) -> None:
    info = OPERATIONS[name]
    url = url_of(ep, info)
    for method in ALL_METHODS:
        body = {"input": 1} if info.has_body and method in info.methods else None
        reply = httpx.request(method, url, json=body, timeout=30)
        record = ep.requests[-1]
        assert record.operation == name
        if method in info.methods:
            assert reply.status_code in (200, 404), (method, reply.text)  # 404: unknown job
        else:
            assert reply.status_code == 405, method
            assert reply.headers["allow"] == ", ".join(info.methods)


def test_an_operation_added_to_the_table_is_routed() -> None:
    pause = dataclasses.replace(
        OPERATIONS["cancel"],
        name="pause",
        path="/{endpointId}/pause/{jobId}",
        also_accepts=("PUT",),
    )
    table = _routes.compile_routes({**OPERATIONS, "pause": pause})
    found = _routes.match("/v2/ep.1/pause/job%2F7", table)
    assert found is not None
    assert (found.info.name, found.endpoint_id, found.job_id) == ("pause", "ep.1", "job/7")
    assert found.info.methods == ("POST", "PUT")
    assert _routes.match("/v2/ep.1/pause/", table) is None
    assert _routes.match("/v2/ep.1/pause/job-7", _routes.ROUTES) is None


def test_an_operation_without_behaviour_answers_501(
    ep: LocalEndpoint, monkeypatch: pytest.MonkeyPatch
) -> None:
    partial = {k: v for k, v in _behaviour.BEHAVIOURS.items() if k != "health"}
    monkeypatch.setattr(_app, "BEHAVIOURS", partial)
    reply = httpx.get(f"{ep.url}/health", timeout=30)
    assert reply.status_code == 501
    assert reply.json() == {"error": "/health is not implemented by the local endpoint"}
