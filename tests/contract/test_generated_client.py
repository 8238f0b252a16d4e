"""The generated client (runpod_generated) on its own: every request it sends and every reply it
gets are checked against the spec, then the hazards known from docs/openapi-python-client.md §1.9,
once through the generated layer and once through the façade."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any
from urllib.parse import unquote

import httpx
import pytest
from runpod_generated import models
from runpod_generated.api.endpoint import get_endpoint_health
from runpod_generated.api.jobs import get_job_status, wait_job_status
from runpod_generated.client import AuthenticatedClient, Client

from runpod_facade import (
    Endpoint,
    InternalServerError,
    JobStatus,
    RateLimitError,
    RetryPolicy,
)
from tests._support.fixtures import fixture_for
from tests._support.fixtures import load as load_fixture
from tests._support.openapi_httpx import ContractTransport, ContractViolation, find_operation
from tests._support.operations import BY_OPERATION_ID, OPERATIONS, OperationInfo
from tests._support.spec import SERVER_URL, spec_dict

API_KEY = "rp_contract_test_key"
ENDPOINT = "ep-contract"
JOB = "5c1b2e7a-0d4f-4c8e-9a61-2f3e4d5c6b7a-u1"
FAST_RETRY = RetryPolicy(max_retries=2, initial_delay=0.001, max_delay=0.002, budget=1.0)
HTML_429 = (
    "<html><head><title>429 Too Many Requests</title></head>"
    "<body><center><h1>429 Too Many Requests</h1></center><hr><center>nginx</center></body></html>"
)


def reply_data(operation_id: str) -> dict[str, Any]:
    """One real (or hand-made, where no real one exists) 200 reply of the operation."""
    return load_fixture(fixture_for(BY_OPERATION_ID[operation_id]))


def fixture_replies(request: httpx.Request) -> httpx.Response:
    """The recorded reply of the request's operation, about the job the request names (a
    reply about another job is a contract error the façade rejects)."""
    found = find_operation(request.method, request.url.raw_path.split(b"?")[0].decode())
    assert found is not None
    data = reply_data(found[0])
    if BY_OPERATION_ID[found[0]].job_scoped and "id" in data:
        data["id"] = unquote(request.url.raw_path.split(b"?")[0].decode().rsplit("/", 1)[1])
    return httpx.Response(200, json=data)


def job_body() -> models.JobRequest:
    return models.JobRequest(
        input_={"prompt": "Hello World", "nested": [1, 2.5, None, True]},
        webhook="https://example.com/runpod-hook",
        policy=models.ExecutionPolicy(execution_timeout=300_000, ttl=3_600_000, low_priority=True),
        s_3_config=models.S3Config(
            access_id="AKIA0000",
            access_secret="secret",
            bucket_name="bucket",
            endpoint_url="https://s3.example.com",
            object_path="out/",
        ),
    )


def _query_value(info: OperationInfo, name: str) -> int:
    """A value the spec allows for query parameter ``name``: its maximum, else its minimum."""
    item = next(item for path, item in spec_dict()["paths"].items() if path == info.path)
    params = [*item.get("parameters", []), *item[info.method.lower()].get("parameters", [])]
    for param in params:
        if "$ref" in param:
            param = spec_dict()["components"]["parameters"][param["$ref"].rsplit("/", 1)[-1]]
        if param["name"] == name:
            bounds = param["schema"]
            return int(bounds.get("maximum", bounds.get("minimum", 1)))
    raise AssertionError(f"{info.name}: no query parameter {name}")


@dataclass(frozen=True)
class Call:
    """How to call one operation's generated module, read from the operation table."""

    module: Any  # the generated module (sync_detailed, asyncio_detailed, build_request)
    model: type  # the generated model of the 200 reply

    @staticmethod
    def of(info: OperationInfo) -> Call:
        return Call(sys.modules[info.build_request.__module__], getattr(models, info.reply_schema))


def call_args(info: OperationInfo) -> dict[str, Any]:
    """Keyword arguments for ``info``'s generated call: the ids of its route, a job body when
    it takes one, and a value for each query parameter within the spec's bounds."""
    kwargs: dict[str, Any] = {"endpoint_id": ENDPOINT}
    if info.job_scoped:
        kwargs["job_id"] = JOB
    if info.has_body:
        kwargs["body"] = job_body()
    for name in info.query_params:
        kwargs[name] = _query_value(info, name)
    return kwargs


#: operationId -> the operation, for every operation of the spec.
CALLS: dict[str, OperationInfo] = {info.operation_id: info for info in OPERATIONS.values()}


def generated_client(transport: httpx.MockTransport) -> AuthenticatedClient:
    return AuthenticatedClient(
        base_url=SERVER_URL, token=API_KEY, httpx_args={"transport": transport}
    )


@pytest.fixture
def endpoint_for() -> Iterator[Callable[..., Endpoint]]:
    """Build façade endpoints over a transport; closes their httpx clients afterwards."""
    clients: list[httpx.Client] = []

    def build(transport: httpx.MockTransport, **options: Any) -> Endpoint:
        http = httpx.Client(transport=transport)
        clients.append(http)
        return Endpoint(ENDPOINT, api_key=API_KEY, base_url=SERVER_URL, http_client=http, **options)

    yield build
    for client in clients:
        client.close()


# --- every operation of the spec, validated both ways ---------------------------------------------------


@pytest.mark.parametrize("operation_id", sorted(CALLS))
def test_generated_sync_call_conforms(operation_id: str) -> None:
    info = CALLS[operation_id]
    module, model = Call.of(info).module, Call.of(info).model
    transport = ContractTransport(fixture_replies)
    with generated_client(transport) as client:
        response = module.sync_detailed(client=client, **call_args(info))
    assert transport.operations == [operation_id]
    assert response.status_code == HTTPStatus.OK
    assert isinstance(response.parsed, model)
    request = transport.exchanges[0].request
    assert response.parsed.to_dict() == json.loads(transport.exchanges[0].response.content)
    assert request.headers["authorization"] == f"Bearer {API_KEY}"


@pytest.mark.parametrize("operation_id", sorted(CALLS))
async def test_generated_async_call_conforms(operation_id: str) -> None:
    info = CALLS[operation_id]
    module, model = Call.of(info).module, Call.of(info).model
    transport = ContractTransport(fixture_replies)
    async with generated_client(transport) as client:
        response = await module.asyncio_detailed(client=client, **call_args(info))
    assert transport.operations == [operation_id]
    assert isinstance(response.parsed, model)


def test_generated_client_escapes_ids_into_one_path_segment() -> None:
    transport = ContractTransport(
        lambda request: httpx.Response(200, json={"id": "a/b?c", "status": "IN_QUEUE"})
    )
    with generated_client(transport) as client:
        response = get_job_status.sync_detailed(
            "black-forest-labs-flux-1-dev", "a/b?c", client=client
        )
    assert transport.operations == ["getJobStatus"]
    raw_path = transport.exchanges[0].request.url.raw_path
    assert raw_path == b"/v2/black-forest-labs-flux-1-dev/status/a%2Fb%3Fc"
    assert isinstance(response.parsed, models.Job)


def test_generated_client_does_not_enforce_parameter_ranges() -> None:
    # The generated layer sends wait=10 as is; only the contract check (or the façade) stops it.
    transport = ContractTransport(fixture_replies)
    with (
        generated_client(transport) as client,
        pytest.raises(ContractViolation, match="less than the minimum of 1000"),
    ):
        wait_job_status.sync_detailed(ENDPOINT, JOB, client=client, wait=10)


# --- hazard (a): a status value the enum does not know ------------------------------------------


def paused(request: httpx.Request) -> httpx.Response:
    found = find_operation(request.method, request.url.raw_path.split(b"?")[0].decode())
    assert found is not None
    if BY_OPERATION_ID[found[0]].reply_schema == "StreamResponse":
        return httpx.Response(200, json={"status": "PAUSED", "stream": [{"output": "x"}]})
    return httpx.Response(200, json={"id": JOB, "status": "PAUSED", "delayTime": 5})


def reports_a_job_status(info: OperationInfo) -> bool:
    """The reply's ``status`` is a job's (the open enum), not e.g. purge-queue's own word."""
    properties = spec_dict()["components"]["schemas"][info.reply_schema].get("properties", {})
    return properties.get("status") == {"$ref": "#/components/schemas/JobStatusValue"}


@pytest.mark.parametrize(
    "operation_id", sorted(i.operation_id for i in OPERATIONS.values() if reports_a_job_status(i))
)
def test_generated_unknown_status_reaches_the_caller_as_data(operation_id: str) -> None:
    info = CALLS[operation_id]
    module, model = Call.of(info).module, Call.of(info).model
    transport = ContractTransport(paused)  # PAUSED conforms: the spec's status is an open enum
    with generated_client(transport) as client:
        response = module.sync_detailed(client=client, **call_args(info))
    assert isinstance(response.parsed, model)
    assert response.parsed.status == "PAUSED"
    assert not isinstance(response.parsed.status, models.JobStatus)


def test_facade_unknown_status_is_a_plain_str(endpoint_for: Callable[..., Endpoint]) -> None:
    transport = ContractTransport(paused)
    state = endpoint_for(transport).status(JOB)
    assert state.status == "PAUSED"
    assert type(state.status) is str
    assert not isinstance(state.status, JobStatus)
    assert not state.is_terminal
    assert state.delay_time is not None and state.delay_time.total_seconds() == 0.005


# --- hazard (b): a status code outside the IANA registry (Cloudflare 520) --------------------------


def cloudflare_520(request: httpx.Request) -> httpx.Response:
    return httpx.Response(
        520, text="error code: 520", headers={"content-type": "text/plain; charset=UTF-8"}
    )


def test_generated_520_is_a_response_not_an_exception() -> None:
    transport = ContractTransport(cloudflare_520)
    with generated_client(transport) as client:
        response = get_job_status.sync_detailed(ENDPOINT, JOB, client=client)
    assert response.status_code == 520
    assert not isinstance(response.status_code, HTTPStatus)
    assert response.parsed is None
    assert response.content == b"error code: 520"
    # The spec's `default` response covers codes no one can list (Cloudflare 520/524).
    assert transport.exchanges[0].response_errors == []


def test_generated_520_is_the_default_response_even_when_raising_on_unexpected() -> None:
    transport = ContractTransport(cloudflare_520)
    client = AuthenticatedClient(
        base_url=SERVER_URL,
        token=API_KEY,
        httpx_args={"transport": transport},
        raise_on_unexpected_status=True,
    )
    # With `default` declared no status is unexpected: the reply reaches the caller as data.
    with client:
        response = get_job_status.sync_detailed(ENDPOINT, JOB, client=client)
    assert response.status_code == 520
    assert response.parsed is None


def test_facade_520_is_a_server_error_after_retries(
    endpoint_for: Callable[..., Endpoint],
) -> None:
    transport = ContractTransport(cloudflare_520, check_responses=False)
    with pytest.raises(InternalServerError) as caught:
        endpoint_for(transport, retry_policy=FAST_RETRY).status(JOB)
    assert caught.value.status_code == 520
    assert caught.value.job_id == JOB
    assert "error code: 520" in caught.value.body
    assert transport.operations == ["getJobStatus"] * (1 + FAST_RETRY.max_retries)


# --- hazard (c): a documented status code with a non-JSON body (an HTML 429 page) ------------------


def html_429(request: httpx.Request) -> httpx.Response:
    return httpx.Response(
        429, text=HTML_429, headers={"content-type": "text/html", "retry-after": "7"}
    )


@pytest.mark.parametrize("operation_id", sorted(CALLS))
def test_generated_html_429_gives_parsed_none_and_keeps_the_body(operation_id: str) -> None:
    info = CALLS[operation_id]
    transport = ContractTransport(html_429, check_responses=False)
    with generated_client(transport) as client:
        response = Call.of(info).module.sync_detailed(client=client, **call_args(info))
    assert response.status_code == HTTPStatus.TOO_MANY_REQUESTS
    assert response.parsed is None
    assert response.content.decode() == HTML_429
    assert response.headers["retry-after"] == "7"
    # The spec's Error response admits any media type, so a proxy's HTML page is in contract.
    assert transport.exchanges[0].response_errors == []


def test_generated_non_json_200_gives_parsed_none() -> None:
    transport = ContractTransport(
        lambda request: httpx.Response(200, text="<html>maintenance</html>"),
        check_responses=False,
    )
    with generated_client(transport) as client:
        response = get_job_status.sync_detailed(ENDPOINT, JOB, client=client)
    assert (response.status_code, response.parsed) == (HTTPStatus.OK, None)
    assert response.content == b"<html>maintenance</html>"


def test_facade_html_429_is_a_rate_limit_error_with_the_body(
    endpoint_for: Callable[..., Endpoint],
) -> None:
    transport = ContractTransport(html_429, check_responses=False)
    with pytest.raises(RateLimitError) as caught:
        endpoint_for(transport, max_retries=0).status(JOB)
    assert caught.value.status_code == 429
    assert caught.value.body == HTML_429
    assert caught.value.retry_after == 7.0
    assert "429 Too Many Requests" in caught.value.message
    assert len(transport.exchanges) == 1


# --- hazard (d): no default timeout in the generated client ----------------------------------------


NO_TIMEOUT = {"connect": None, "read": None, "write": None, "pool": None}


def test_generated_client_has_no_default_timeout() -> None:
    assert Client(base_url=SERVER_URL).get_httpx_client().timeout == httpx.Timeout(None)
    transport = ContractTransport(fixture_replies)
    with generated_client(transport) as client:
        assert client.get_httpx_client().timeout == httpx.Timeout(None)
        get_endpoint_health.sync_detailed(ENDPOINT, client=client)
    # A request that may hang for ever: this is why the façade sets its own timeouts.
    assert transport.exchanges[0].request.extensions["timeout"] == NO_TIMEOUT


def finite(timeout: dict[str, float | None]) -> bool:
    return set(timeout) == set(NO_TIMEOUT) and all(
        isinstance(value, float | int) and 0 < value < float("inf") for value in timeout.values()
    )


def test_facade_requests_carry_a_finite_timeout(endpoint_for: Callable[..., Endpoint]) -> None:
    transport = ContractTransport(fixture_replies)
    # Even over an httpx.Client configured with no timeout at all, every request gets one.
    http = httpx.Client(transport=transport, timeout=None)
    with Endpoint(ENDPOINT, api_key=API_KEY, base_url=SERVER_URL, http_client=http) as endpoint:
        endpoint.health()
        endpoint.status(JOB)
        endpoint.wait(JOB, timeout=30)
        endpoint.cancel(JOB)
    http.close()
    assert transport.operations == [
        "getEndpointHealth",
        "getJobStatus",
        "waitJobStatus",
        "cancelJob",
    ]
    for exchange in transport.exchanges:
        timeout = exchange.request.extensions["timeout"]
        assert finite(timeout), (exchange.operation_id, timeout)
    # A long-poll's read timeout outlasts the server-side hold it asked for.
    long_poll = transport.exchanges[2].request
    assert long_poll.extensions["timeout"]["read"] > int(long_poll.url.params["wait"]) / 1000
