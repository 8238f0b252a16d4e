"""Schemathesis against the in-process local endpoint: no reply may violate openapi/.

Disabled checks, and why:
* ``unsupported_method``: status, status-sync and stream accept POST on purpose (the official
  Go SDK sends POST; the spec records it as ``x-runpod-also-accepts``), so a POST there is not
  a 405.
* ``allow_header_conformance``: for the same reason the 405 replies there advertise
  ``Allow: GET, POST``, which the check reads as an undocumented method.

Known spec gap (reported to the lead, patched in memory here and nowhere else): status,
status-sync and stream take ``ttl``/``wait`` query parameters with bounds, and the local
endpoint rejects out-of-range values with 400 (as run/runsync do), but the spec documents no
400 reply for those three operations. ``SPEC_GAPS`` adds it before loading.

* ``positive_data_acceptance`` only for a 400 from ``retry``: the contract rejects retrying a
  job that is not FAILED/TIMED_OUT with 400, which depends on state, not on the request's shape.
Everything else runs, including ``ignored_auth`` (auth is on) and ``negative_data_rejection``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
import yaml
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import (
    allow_header_conformance,
    positive_data_acceptance,
    unsupported_method,
)

from runpod_facade.local import create_app, sample_handlers

SPEC = Path(__file__).resolve().parents[2] / "openapi" / "runpod-serverless.yaml"
API_KEY = "contract-test-key"
AUTH = {"Authorization": f"Bearer {API_KEY}"}

# One app for the module; closed by the fixture below.
APP = create_app(sample_handlers.echo, api_key=API_KEY, workers=4, webhook_retries=0)
SPEC_GAPS = {
    "/{endpointId}/status/{jobId}": "get",
    "/{endpointId}/status-sync/{jobId}": "get",
    "/{endpointId}/stream/{jobId}": "get",
}


def _load_spec() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(SPEC.read_text(encoding="utf-8"))
    for path, method in SPEC_GAPS.items():
        responses = document["paths"][path][method]["responses"]
        responses.setdefault("400", {"$ref": "#/components/responses/Error"})
    return document


schema = schemathesis.openapi.from_dict(_load_spec())
schema.app = APP
# The Authorization header is added to every call below, so it is not generated (a generated
# "missing header" negative case would otherwise be sent with the header). Unknown query
# parameters are ignored, as by most HTTP APIs (RunPod's handling is undocumented), so they
# are not generated as "invalid" either.
schema.config.generation.update(allow_extra_parameters=False, with_security_parameters=False)

EXCLUDED = [unsupported_method, allow_header_conformance]


def _excluded(case: Any, response: Any) -> list[Any]:
    if case.operation.path.endswith("/retry/{jobId}") and response.status_code == 400:
        return [*EXCLUDED, positive_data_acceptance]
    return EXCLUDED


@pytest.fixture(scope="module", autouse=True)
def _close_app() -> Iterator[None]:
    yield
    APP.close()


@schema.parametrize()
@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_every_operation_conforms(case: Any) -> None:
    response = case.call(headers=AUTH)
    case.validate_response(response, excluded_checks=_excluded(case, response))


class _StateMachine(schema.as_state_machine()):  # type: ignore[misc]
    def get_call_kwargs(self, case: Any) -> dict[str, Any]:
        return {"headers": AUTH}

    def validate_response(
        self, response: Any, case: Any, additional_checks: Any = None, **kwargs: Any
    ) -> None:
        case.validate_response(
            response,
            additional_checks=additional_checks,
            excluded_checks=_excluded(case, response),
            transport_kwargs=kwargs or None,
            recorder=self.recorder,
        )


TestStateful = _StateMachine.TestCase
TestStateful.settings = settings(
    max_examples=15,
    stateful_step_count=6,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
