"""Numbers the local endpoint enforces, each taken from ``openapi/runpod-serverless.yaml``.

They are hard-coded rather than read from the spec at import time because the spec is not
shipped inside the wheel; ``tests/local/test_limits.py`` asserts that each value still equals
the spec's schema bound or ``x-runpod-*`` extension.
"""

from __future__ import annotations

from typing import Final

#: ``x-runpod-max-payload-bytes`` of ``POST /{endpointId}/run`` (10 MiB).
MAX_RUN_PAYLOAD_BYTES: Final = 10_485_760
#: ``x-runpod-max-payload-bytes`` of ``POST /{endpointId}/runsync`` (20 MiB).
MAX_RUNSYNC_PAYLOAD_BYTES: Final = 20_971_520

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
RUN_RESULT_RETENTION_S: Final = 1800.0
RUNSYNC_RESULT_RETENTION_S: Final = 60.0

#: ``x-runpod-terminal-statuses``.
TERMINAL_STATUSES: Final = frozenset({"COMPLETED", "FAILED", "CANCELLED", "TIMED_OUT"})

#: RunPod retries a failed webhook delivery twice, 10 s apart.
WEBHOOK_RETRIES: Final = 2
WEBHOOK_RETRY_DELAY_S: Final = 10.0
