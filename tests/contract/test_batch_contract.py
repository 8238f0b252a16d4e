"""The Batch Jobs API contract: openapi/runpod-batch-jobs.yaml <-> generated/runpod_generated_batch
<-> the local endpoint <-> the façade (``ep.batches``).

* the limits, statuses and error statuses the spec records are the numbers both sides use;
* the façade builds every route exactly as the generated client does;
* every request the façade sends and every reply the local endpoint gives, success or error,
  validates against the spec (openapi-core), and the run exercises every operation;
* the generated client reads the local endpoint's replies into the documented models.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any
from unittest import mock

import httpx
import pytest
import yaml
from runpod_generated_batch import models
from runpod_generated_batch.api.batches import (
    add_batch_requests,
    cancel_batch,
    create_batch,
    finalize_batch,
    get_batch,
    list_batch_requests,
    list_batches,
    remove_batch_request,
    update_batch,
)
from runpod_generated_batch.client import AuthenticatedClient

from runpod_facade import BatchStateError, Endpoint, NotFoundError
from runpod_facade._batchjobs import _model, _plan, _sync
from runpod_facade.local import LocalEndpoint
from runpod_facade.local import _batchjobs as local_batches
from tests._support.handlers import dispatch
from tests._support.openapi_httpx import HttpxOpenAPIRequest, HttpxOpenAPIResponse, describe

if TYPE_CHECKING:
    from openapi_core import OpenAPI

SPEC_PATH = Path(__file__).resolve().parents[2] / "openapi" / "runpod-batch-jobs.yaml"
SERVER = httpx.URL("https://api.runpod.ai/v2")


@functools.cache
def spec() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(SPEC_PATH.read_text(encoding="utf-8"))
    return data


@functools.cache
def openapi() -> OpenAPI:
    from openapi_core import OpenAPI

    return OpenAPI.from_file_path(str(SPEC_PATH))


def _operations() -> dict[str, tuple[str, str]]:
    """operationId -> (method, path template)."""
    found: dict[str, tuple[str, str]] = {}
    for template, item in spec()["paths"].items():
        for method, operation in item.items():
            if isinstance(operation, dict) and "operationId" in operation:
                found[operation["operationId"]] = (method.upper(), template)
    return found


def test_limits_and_states_agree() -> None:
    limits = spec()["x-runpod-batch-limits"]
    assert (
        limits["active-batches-per-endpoint"]
        == _plan.MAX_ACTIVE_BATCHES
        == local_batches.MAX_ACTIVE_BATCHES
    )
    assert (
        limits["requests-per-batch"]
        == _plan.MAX_REQUESTS_PER_BATCH
        == local_batches.MAX_REQUESTS_PER_BATCH
    )
    assert (
        limits["queued-requests-per-endpoint"]
        == _plan.MAX_QUEUED_PER_ENDPOINT
        == local_batches.MAX_QUEUED_PER_ENDPOINT
    )
    assert (
        limits["max-payload-bytes-per-call"]
        == _plan.MAX_PAYLOAD_BYTES
        == local_batches.MAX_PAYLOAD_BYTES
    )
    paths = spec()["paths"]
    for template in ("/{endpointId}/batch", "/{endpointId}/batch/{batchId}/requests"):
        assert paths[template]["post"]["x-runpod-max-payload-bytes"] == _plan.MAX_PAYLOAD_BYTES
    schemas = spec()["components"]["schemas"]
    assert schemas["BatchRequestsAdd"]["properties"]["requests"]["maxItems"] == 5000
    assert paths["/{endpointId}/batch"]["post"]["requestBody"]["content"]["application/json"][
        "schema"
    ]["maxItems"] == (_plan.MAX_REQUESTS_PER_BATCH)
    page = spec()["x-runpod-page-limit"]
    assert page["default"] == _plan.DEFAULT_PAGE_SIZE == local_batches.DEFAULT_PAGE_LIMIT
    assert page["maximum"] == _plan.MAX_PAGE_SIZE == local_batches.MAX_PAGE_LIMIT
    limit_param = spec()["components"]["parameters"]["limit"]["schema"]
    assert (limit_param["default"], limit_param["maximum"]) == (page["default"], page["maximum"])
    statuses = spec()["x-runpod-batch-statuses"]
    assert tuple(statuses) == _model.BATCH_STATUSES
    assert schemas["BatchStatus"]["enum"] == statuses
    assert tuple(spec()["x-runpod-batch-terminal-statuses"]) == _model.TERMINAL_BATCH_STATUSES
    errors = spec()["x-runpod-error-statuses"]
    assert errors["over-batch-limit"] == local_batches.OVER_BATCH_LIMIT
    assert errors["over-endpoint-limit"] == local_batches.OVER_ENDPOINT_LIMIT
    assert errors["wrong-state"] == local_batches.WRONG_STATE == 409


def _facade_call(operation_id: str) -> _plan.Call:
    ep, batch, request = "ep-1", "batch_1", "req_1"
    if operation_id == "createBatch":
        return _plan.create_call(ep, [])
    if operation_id == "addBatchRequests":
        return _plan.add_call(ep, batch, [])
    names = {
        "listBatches": "batch-list",
        "getBatch": "batch-get",
        "updateBatch": "batch-update",
        "listBatchRequests": "batch-requests",
        "removeBatchRequest": "batch-remove",
        "finalizeBatch": "batch-finalize",
        "cancelBatch": "batch-cancel",
    }
    return _plan.simple_call(names[operation_id], ep, batch, request_id=request)


def _generated_kwargs(operation_id: str) -> dict[str, Any]:
    ep, batch, request = "ep-1", "batch_1", "req_1"
    body_add = models.BatchRequestsAdd(requests=[])
    table: dict[str, Any] = {
        "createBatch": lambda: create_batch.build_request(ep, body=[]),
        "listBatches": lambda: list_batches.build_request(ep),
        "getBatch": lambda: get_batch.build_request(ep, batch),
        "updateBatch": lambda: update_batch.build_request(ep, batch, body=models.BatchUpdate()),
        "addBatchRequests": lambda: add_batch_requests.build_request(ep, batch, body=body_add),
        "listBatchRequests": lambda: list_batch_requests.build_request(ep, batch),
        "removeBatchRequest": lambda: remove_batch_request.build_request(ep, batch, request),
        "finalizeBatch": lambda: finalize_batch.build_request(ep, batch),
        "cancelBatch": lambda: cancel_batch.build_request(ep, batch),
    }
    result: dict[str, Any] = table[operation_id]()
    return result


@pytest.mark.parametrize("operation_id", sorted(_operations()))
def test_facade_routes_are_the_generated_routes(operation_id: str) -> None:
    call = _facade_call(operation_id)
    generated = _generated_kwargs(operation_id)
    assert call.method == generated["method"].upper() == _operations()[operation_id][0]
    assert call.path == generated["url"]


class Validating(httpx.HTTPTransport):
    """A real loopback transport that checks each exchange against the batch spec."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[tuple[str, int]] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        request.read()
        as_documented = httpx.Request(
            request.method,
            SERVER.copy_with(
                raw_path=SERVER.raw_path + request.url.raw_path[len(b"/v2") :],
            ),
            headers=request.headers,
            content=request.content,
        )
        problems = [
            describe(e) for e in openapi().iter_request_errors(HttpxOpenAPIRequest(as_documented))
        ]
        assert not problems, f"{request.method} {request.url}: " + "\n".join(problems)
        response = super().handle_request(request)
        response.read()
        found = openapi().iter_response_errors(
            HttpxOpenAPIRequest(as_documented), HttpxOpenAPIResponse(response)
        )
        problems = [describe(e) for e in found]
        assert not problems, f"reply {response.status_code} {response.content[:200]!r}: " + (
            "\n".join(problems)
        )
        self.seen.append((request.method, response.status_code))
        return response


@pytest.fixture
def local() -> Iterator[LocalEndpoint]:
    with LocalEndpoint(dispatch, workers=2) as ep:
        yield ep


def test_traffic_conforms_and_covers_every_route(local: LocalEndpoint) -> None:
    transport = Validating()
    real_client = _sync.Batches._client

    def validating_client(self: _sync.Batches) -> httpx.Client:
        with real_client(self) as built:  # the same settings, through the checking transport
            return httpx.Client(
                base_url=built.base_url,
                headers=built.headers,
                timeout=built.timeout,
                transport=transport,
            )

    with (
        mock.patch.object(_sync.Batches, "_client", validating_client),
        Endpoint(local.endpoint_id, base_url=local.base_url, api_key=local.api_key) as ep,
    ):
        batches = ep.batches
        created = batches.create([{"n": 1}, {"task": "fail"}])
        batches.add(created.id, [{"n": 3}])
        batches.update(created.id, name="contract")
        first = next(iter(batches.results(created.id)))
        batches.remove(created.id, first.id)
        batches.finalize(created.id)
        batches.wait(created.id, timeout=10, interval=0.02)
        assert len(list(batches.results(created.id, page_size=1))) == 2
        assert [b.id for b in batches.list()] == [created.id]
        with pytest.raises(BatchStateError):
            batches.add(created.id, [1])
        with pytest.raises(NotFoundError):
            batches.get("batch_missing")
        assert batches.cancel(created.id).status == "CANCELLED"
    operations = {r.operation for r in local.requests}
    assert operations >= {
        "batch-create", "batch-add", "batch-update", "batch-requests", "batch-remove",
        "batch-finalize", "batch-get", "batch-list", "batch-cancel",
    }  # fmt: skip
    assert {status for _, status in transport.seen} >= {200, 404, 409}


def test_generated_client_reads_local_replies(local: LocalEndpoint) -> None:
    client = AuthenticatedClient(base_url=local.base_url, token=local.api_key or "", timeout=10.0)
    ep = local.endpoint_id
    with client:
        created = create_batch.sync(
            ep, client=client, body=[models.BatchRequestInput.from_dict({"input": 1})]
        )
        assert isinstance(created, models.BatchCreated)
        batch = created.id
        add = models.BatchRequestsAdd.from_dict({"requests": [{"input": 2}]})
        assert isinstance(
            add_batch_requests.sync(ep, batch, client=client, body=add), models.BatchSummary
        )
        page = list_batch_requests.sync(ep, batch, client=client)
        assert isinstance(page, models.BatchRequestPage) and page.total == 2
        finalized = finalize_batch.sync(ep, batch, client=client)
        assert isinstance(finalized, models.BatchSummary)
        summary = get_batch.sync(ep, batch, client=client)
        assert isinstance(summary, models.BatchSummary) and summary.request_total == 2
        listed = list_batches.sync(ep, client=client)
        assert isinstance(listed, models.BatchPage) and listed.batches[0].id == batch
        refused = add_batch_requests.sync(ep, batch, client=client, body=add)
        assert isinstance(refused, models.ErrorBody) and "DRAFT" in str(refused.error)
