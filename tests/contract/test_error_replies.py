"""Error replies as RunPod really sends them: each conforms to the spec, and the façade turns it
into the right outcome — the job's own state when the body is a terminal job, and an error
that carries the job id whenever the body names one."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import httpx
import pytest

from runpod_facade import (
    BadRequestError,
    Endpoint,
    InternalServerError,
    JobFailed,
    NotFoundError,
    RateLimitError,
    RetryPolicy,
)
from tests._support.openapi_httpx import ContractTransport
from tests._support.spec import SERVER_URL

API_KEY = "rp_contract_test_key"
ENDPOINT = "black-forest-labs-flux-1-dev"
FAST_RETRY = RetryPolicy(max_retries=2, initial_delay=0.001, max_delay=0.002)

# The shape RunPod's public-endpoint docs show for a failed /runsync: HTTP 400, the job itself.
FAILED_RUNSYNC = {
    "delayTime": 131,
    "error": "Input validation failed: prompt is required",
    "executionTime": 17,
    "id": "sync-0c1d2b9a-6f8e-4a51-9d3c-2b7e1f0a4c85-e1",
    "status": "FAILED",
    "workerId": "p7kxq2wz9m3n1v",
}


@pytest.fixture
def endpoint_for() -> Iterator[Callable[[ContractTransport], Endpoint]]:
    clients: list[httpx.Client] = []

    def build(transport: ContractTransport) -> Endpoint:
        http = httpx.Client(transport=transport)
        clients.append(http)
        return Endpoint(
            ENDPOINT,
            api_key=API_KEY,
            base_url=SERVER_URL,
            http_client=http,
            retry_policy=FAST_RETRY,
        )

    yield build
    for client in clients:
        client.close()


def test_runsync_400_with_a_failed_job_is_that_job(
    endpoint_for: Callable[[ContractTransport], Endpoint],
) -> None:
    transport = ContractTransport(lambda request: httpx.Response(400, json=FAILED_RUNSYNC))
    with pytest.raises(JobFailed) as caught:
        endpoint_for(transport).run_sync({"prompt": ""}, timeout=30)
    assert caught.value.job_id == FAILED_RUNSYNC["id"]
    assert caught.value.error == FAILED_RUNSYNC["error"]
    assert caught.value.state.worker_id == FAILED_RUNSYNC["workerId"]
    # The reply validated against the spec's 400 (Job | ErrorBody), and nothing was re-sent.
    assert transport.operations == ["runJobSync"]
    assert transport.exchanges[0].response_errors == []


def test_runsync_400_without_a_job_is_a_bad_request(
    endpoint_for: Callable[[ContractTransport], Endpoint],
) -> None:
    transport = ContractTransport(
        lambda request: httpx.Response(400, json={"error": "input is required"})
    )
    with pytest.raises(BadRequestError) as caught:
        endpoint_for(transport).run_sync({"prompt": ""}, timeout=30)
    assert caught.value.job_id is None


def test_a_5xx_on_a_submit_that_names_the_job_carries_its_id(
    endpoint_for: Callable[[ContractTransport], Endpoint],
) -> None:
    body = {"id": "4c1e-u1", "status": "IN_QUEUE", "error": "upstream timeout"}
    transport = ContractTransport(lambda request: httpx.Response(502, json=body))
    with pytest.raises(InternalServerError) as caught:
        endpoint_for(transport).run({"prompt": "hi"})
    # The job may exist: the error names it, and the submit was not re-sent.
    assert caught.value.job_id == "4c1e-u1"
    assert transport.operations == ["runJob"]


def test_a_404_keeps_the_job_id_of_the_request(
    endpoint_for: Callable[[ContractTransport], Endpoint],
) -> None:
    transport = ContractTransport(lambda request: httpx.Response(404, json={"error": "not found"}))
    with pytest.raises(NotFoundError) as caught:
        endpoint_for(transport).status("gone-u1")
    assert caught.value.job_id == "gone-u1"


def test_an_html_429_names_no_job(endpoint_for: Callable[[ContractTransport], Endpoint]) -> None:
    page = "<html><body><h1>429 Too Many Requests</h1></body></html>"
    transport = ContractTransport(
        lambda request: httpx.Response(
            429, text=page, headers={"content-type": "text/html", "retry-after": "3600"}
        )
    )
    with pytest.raises(RateLimitError) as caught:
        endpoint_for(transport).run({"prompt": "hi"})
    assert caught.value.job_id is None
    assert caught.value.retry_after == 3600
    assert transport.operations == ["runJob"]
