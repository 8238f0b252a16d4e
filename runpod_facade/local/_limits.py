"""Numbers the local endpoint enforces, each from ``openapi/runpod-serverless.yaml``.

Those the generated operation table carries (payload and chunk limits, result retention) are
read from it; schema bounds and the webhook facts are not in the table, so they are written
here and ``tests/local/test_local_limits.py`` asserts that each still equals the spec.
"""

from __future__ import annotations

from typing import Final

from runpod_generated.operations import OPERATIONS, RESULT_RETENTION_SECONDS


def _required(value: int | None, what: str) -> int:
    if value is None:  # pragma: no cover - only if the spec loses the extension
        raise RuntimeError(f"openapi/runpod-serverless.yaml no longer gives {what}")
    return value


#: ``x-runpod-max-payload-bytes`` of ``POST /{endpointId}/run`` (10 MiB).
MAX_RUN_PAYLOAD_BYTES: Final = _required(OPERATIONS["run"].max_payload_bytes, "run's payload limit")
#: ``x-runpod-max-payload-bytes`` of ``POST /{endpointId}/runsync`` (20 MiB).
MAX_RUNSYNC_PAYLOAD_BYTES: Final = _required(
    OPERATIONS["runsync"].max_payload_bytes, "runsync's payload limit"
)
#: ``x-runpod-max-chunk-bytes`` of ``/stream``: one streamed chunk (1 MiB).
MAX_STREAM_CHUNK_BYTES: Final = _required(
    OPERATIONS["stream"].max_chunk_bytes, "stream's chunk limit"
)

#: Bounds of the ``wait`` query parameter (ms).
WAIT_MIN_MS: Final = 1_000
WAIT_MAX_MS: Final = 300_000
#: Server default hold of ``/runsync`` and ``/status-sync`` (ms).
DEFAULT_RUNSYNC_WAIT_MS: Final = 90_000
#: Server default hold of an empty ``/stream`` (ms).
DEFAULT_STREAM_WAIT_MS: Final = 10_000

#: Bounds of ``policy.executionTimeout`` (ms) and its default.
EXECUTION_TIMEOUT_MIN_MS: Final = 5_000
EXECUTION_TIMEOUT_MAX_MS: Final = 604_800_000
DEFAULT_EXECUTION_TIMEOUT_MS: Final = 600_000
#: Bounds of ``policy.ttl`` (ms) and its default.
TTL_MIN_MS: Final = 10_000
TTL_MAX_MS: Final = 604_800_000
DEFAULT_TTL_MS: Final = 86_400_000
#: Lower bound of the ``ttl`` query parameter of ``/status`` (ms).
STATUS_TTL_MIN_MS: Final = 1

#: ``x-runpod-result-retention-seconds``: how long results stay readable after completion.
RUN_RESULT_RETENTION_S: Final = float(RESULT_RETENTION_SECONDS["run"])
RUNSYNC_RESULT_RETENTION_S: Final = float(RESULT_RETENTION_SECONDS["runsync"])

#: The ``jobFinished`` webhook's ``x-runpod-webhook-retries`` and
#: ``x-runpod-webhook-retry-delay-seconds``: 2 re-deliveries, 10 s apart.
WEBHOOK_RETRIES: Final = 2
WEBHOOK_RETRY_DELAY_S: Final = 10.0
#: How long one delivery waits for the receiver's reply before it counts as failed (not
#: documented by RunPod).
WEBHOOK_TIMEOUT_S: Final = 10.0
