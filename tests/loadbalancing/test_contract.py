"""The contract ties together: openapi/runpod-load-balancing.yaml, the client generated from it
(runpod_generated_lb), the local pool, and the façade. Every status the spec documents for
/ping is produced by the pool over loopback, parsed by the generated client as the spec says,
and classified by the façade as the same platform failure."""

from __future__ import annotations

import asyncio
import inspect
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from runpod_generated_lb import AuthenticatedClient
from runpod_generated_lb.api.health import ping
from runpod_generated_lb.models import PingBody, RouterError
from runpod_generated_lb.types import UNSET, Unset
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from runpod_facade import Affinity
from runpod_facade._loadbalancing import settings
from runpod_facade._loadbalancing.affinity import WORKER_ID_HEADER, worker_id
from runpod_facade._loadbalancing.core import MAX_PAYLOAD_BYTES, Failure, classify
from runpod_facade.local import LBFault, LocalLoadBalancer

from .apps import make_app

SPEC_PATH = Path(__file__).resolve().parents[2] / "openapi" / "runpod-load-balancing.yaml"


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(SPEC_PATH.read_text(encoding="utf-8"))
    return data


def test_the_spec_is_valid_openapi(spec: dict[str, Any]) -> None:
    from openapi_spec_validator import validate

    validate(spec)  # raises on an invalid document (make spec-check covers the queue spec)


def test_limits_in_the_spec_are_the_clients_and_the_pools(spec: dict[str, Any]) -> None:
    assert spec["x-runpod-max-request-bytes"] == MAX_PAYLOAD_BYTES
    assert spec["x-runpod-max-response-bytes"] == MAX_PAYLOAD_BYTES
    defaults = inspect.signature(LocalLoadBalancer).parameters
    assert defaults["max_request_bytes"].default == spec["x-runpod-max-request-bytes"]
    assert defaults["max_response_bytes"].default == spec["x-runpod-max-response-bytes"]
    assert defaults["no_worker_wait"].default == spec["x-runpod-no-worker-wait-seconds"]
    assert defaults["processing_limit"].default == spec["x-runpod-processing-timeout-seconds"]
    assert defaults["affinity_wait"].default == spec["x-runpod-affinity-wait-seconds"]
    # A call's default deadline outlasts the router's wait for a worker plus processing.
    assert (
        spec["x-runpod-no-worker-wait-seconds"] + spec["x-runpod-processing-timeout-seconds"]
    ) < settings.DEFAULT_LB_TIMEOUT


def test_the_affinity_header_is_the_specs(spec: dict[str, Any]) -> None:
    parameter = spec["components"]["parameters"]["workerAffinity"]
    assert parameter["name"] == WORKER_ID_HEADER
    pattern = re.compile(parameter["schema"]["pattern"])
    for mode in ("soft", "strict", "strict-resume"):
        value = Affinity("pod-abc123", mode).header_value()
        assert pattern.fullmatch(value), value
        assert Affinity.parse(value) == Affinity("pod-abc123", mode)
    assert not pattern.fullmatch("sticky pod-abc123")


def _slow_ping_app() -> Starlette:
    async def slow(request: Request) -> Response:
        await asyncio.sleep(1.0)
        return JSONResponse({"status": "healthy"})

    return Starlette(routes=[Route("/ping", slow)])


@pytest.fixture(scope="module")
def pools() -> Iterator[dict[str, LocalLoadBalancer]]:
    with (
        LocalLoadBalancer(make_app(), workers=2) as ready,
        LocalLoadBalancer(make_app(), cold_start=60) as cold,
        LocalLoadBalancer(_slow_ping_app(), processing_limit=0.05) as slow,
    ):
        yield {"ready": ready, "cold": cold, "slow": slow}


# status -> (how the pool is made to answer it, the façade's classification)
CASES: dict[str, tuple[str, Failure | None]] = {
    "200": ("ready", None),
    "204": ("cold", None),
    "400": ("no_workers", Failure.NO_WORKERS),
    "401": ("wrong_key", Failure.AUTH),
    "404": ("gone", Failure.WORKER_GONE),
    "413": ("too_large", Failure.TOO_LARGE),
    "502": ("bad_gateway", Failure.UNREACHABLE),
    "524": ("slow", Failure.PROCESSING_TIMEOUT),
}


def test_every_documented_ping_status_has_a_case(spec: dict[str, Any]) -> None:
    assert set(spec["paths"]["/ping"]["get"]["responses"]) == set(CASES)


def _produce(pools: dict[str, LocalLoadBalancer], how: str) -> tuple[httpx.Response, Any]:
    """The pool's raw reply for ``how``, and what the generated client parsed from it."""
    pool = pools["slow" if how == "slow" else "cold" if how == "cold" else "ready"]
    token = "wrong-key-123456" if how == "wrong_key" else pool.api_key or ""
    header: str | Unset = UNSET
    if how in ("no_workers", "bad_gateway"):
        pool.faults.add(LBFault(how, "/ping"))  # type: ignore[arg-type]
    if how == "gone":
        pool.stop_worker(pool.worker_ids[-1])
        header = f"strict {pool.worker_ids[-1]}"
    with AuthenticatedClient(base_url=pool.url, token=token) as generated:
        if how == "too_large":
            raw = generated.get_httpx_client().request("GET", "/ping", content=b"x" * (31 << 20))
            return raw, RouterError.from_dict(raw.json())
        reply = ping.sync_detailed(client=generated, x_runpod_worker_id=header)
    raw = httpx.Response(int(reply.status_code), headers=reply.headers, content=reply.content)
    return raw, reply.parsed


@pytest.mark.parametrize("status", sorted(CASES))
def test_pool_generated_client_and_facade_agree(
    pools: dict[str, LocalLoadBalancer], status: str
) -> None:
    how, failure = CASES[status]
    raw, parsed = _produce(pools, how)
    assert raw.status_code == int(status)
    if status == "200":
        assert isinstance(parsed, PingBody) and parsed.status == "healthy"
        assert worker_id(raw) in pools["ready"].worker_ids
    elif status == "204":
        assert parsed is None and raw.content == b""
    else:
        assert isinstance(parsed, RouterError) and parsed.error
    has_worker = worker_id(raw) is not None
    assert classify(raw.status_code, raw.content, has_worker_id=has_worker) is failure
