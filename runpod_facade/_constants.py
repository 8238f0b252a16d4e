"""Defaults and API limits. Payload limits come from the spec's operation table; the others
mirror schema bounds of the OpenAPI spec, and tests/contract checks that they still agree."""

from __future__ import annotations

import httpx
from runpod_generated.operations import OPERATIONS

DEFAULT_BASE_URL = "https://api.runpod.ai/v2"

# Payload limits of the request body (x-runpod-max-payload-bytes).
MAX_RUN_PAYLOAD_BYTES: int = OPERATIONS["run"].max_payload_bytes or 0
MAX_RUNSYNC_PAYLOAD_BYTES: int = OPERATIONS["runsync"].max_payload_bytes or 0

# Server-side execution policy ranges (ExecutionPolicy schema), in milliseconds.
MIN_EXECUTION_TIMEOUT_MS = 5_000
MIN_TTL_MS = 10_000
MAX_POLICY_MS = 7 * 24 * 3600 * 1000

# Long-poll `wait` range in milliseconds (the `wait` parameter).
MIN_WAIT_MS = 1_000
MAX_WAIT_MS = 300_000
# We hold one long-poll for at most this long: the official SDKs stay at 90 s, below proxy
# idle timeouts, and a shorter hold lets a deadline or a cancellation act sooner.
LONG_POLL_WAIT_MS = 90_000
# Extra read time on top of a long-poll's `wait`, so the client never gives up first.
LONG_POLL_READ_MARGIN = 10.0

DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=5.0, pool=30.0)
DEFAULT_MAX_RETRIES = 3
DEFAULT_LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=20)

TERMINAL_RETENTION_NOTE = "results of /run are kept 30 min, of /runsync 1 min"
