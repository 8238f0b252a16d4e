"""The local endpoint's hard-coded limits equal the values in openapi/runpod-serverless.yaml."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from runpod_facade.local import MAX_RUN_PAYLOAD_BYTES, MAX_RUNSYNC_PAYLOAD_BYTES, _limits

SPEC: dict[str, Any] = yaml.safe_load(
    (Path(__file__).resolve().parents[2] / "openapi" / "runpod-serverless.yaml").read_text()
)


def test_payload_limits_match_spec_extensions() -> None:
    paths = SPEC["paths"]
    assert paths["/{endpointId}/run"]["post"]["x-runpod-max-payload-bytes"] == MAX_RUN_PAYLOAD_BYTES
    assert (
        paths["/{endpointId}/runsync"]["post"]["x-runpod-max-payload-bytes"]
        == MAX_RUNSYNC_PAYLOAD_BYTES
    )
    assert (MAX_RUN_PAYLOAD_BYTES, MAX_RUNSYNC_PAYLOAD_BYTES) == (10_485_760, 20_971_520)


def test_bounds_and_retention_match_spec() -> None:
    wait = SPEC["components"]["parameters"]["wait"]["schema"]
    assert (wait["minimum"], wait["maximum"]) == (_limits.WAIT_MIN_MS, _limits.WAIT_MAX_MS)
    policy = SPEC["components"]["schemas"]["ExecutionPolicy"]["properties"]
    timeout, ttl = policy["executionTimeout"], policy["ttl"]
    assert (timeout["minimum"], timeout["maximum"]) == (
        _limits.EXECUTION_TIMEOUT_MIN_MS,
        _limits.EXECUTION_TIMEOUT_MAX_MS,
    )
    assert (ttl["minimum"], ttl["maximum"]) == (_limits.TTL_MIN_MS, _limits.TTL_MAX_MS)
    retention = SPEC["x-runpod-result-retention-seconds"]
    assert retention == {
        "run": _limits.RUN_RESULT_RETENTION_S,
        "runsync": _limits.RUNSYNC_RESULT_RETENTION_S,
    }


def test_webhook_facts_match_the_spec() -> None:
    from runpod_facade.local._webhooks import DELIVERED_STATUSES

    hook = SPEC["webhooks"]["jobFinished"]["post"]
    assert hook["x-runpod-webhook-retries"] == _limits.WEBHOOK_RETRIES == 2
    assert hook["x-runpod-webhook-retry-delay-seconds"] == _limits.WEBHOOK_RETRY_DELAY_S == 10
    assert set(hook["x-runpod-webhook-statuses"]) == DELIVERED_STATUSES
    assert set(SPEC["x-runpod-terminal-statuses"]) > DELIVERED_STATUSES


def test_stream_chunk_limit_matches_spec() -> None:
    stream = SPEC["paths"]["/{endpointId}/stream/{jobId}"]["get"]
    assert stream["x-runpod-max-chunk-bytes"] == _limits.MAX_STREAM_CHUNK_BYTES == 1_048_576
