"""Defaults and API limits. The limits mirror the OpenAPI spec (payload limits its operation
table, the others schema bounds), and tests/contract checks that they still agree."""

from __future__ import annotations

DEFAULT_BASE_URL = "https://api.runpod.ai/v2"

# Payload limits of the request body (the spec's x-runpod-max-payload-bytes; tests/contract
# checks they match it). Literals, so that importing the package leaves the generated client
# unimported until the first request is built.
MAX_RUN_PAYLOAD_BYTES: int = 10 * 1024 * 1024
MAX_RUNSYNC_PAYLOAD_BYTES: int = 20 * 1024 * 1024

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
# The shortest timeout any phase of a request gets, however little remains of its deadline:
# 0 means "fail at once" to the HTTP clients, and the core decides expiry.
MIN_REQUEST_TIMEOUT = 0.05

DEFAULT_MAX_RETRIES = 3

# Long requests (long-polls, ``/runsync`` holds, streams) one client runs at once, and so the
# most jobs a batch runs at once: ``map``'s and ``run_many``'s ``concurrency`` cap.
MAX_CONCURRENCY = 100
# Slots beyond those that only short calls (status, run, cancel ...) may take, so that they
# always find one free however many waits are pending.
SHORT_CALL_RESERVE = 10
# Requests one client sends at once, the size of the pool it makes; an AsyncEndpoint queues
# the others itself (``_transports.gate``).
MAX_IN_FLIGHT = MAX_CONCURRENCY + SHORT_CALL_RESERVE
# The same through a caller's http_client, whose pool is most likely httpx's and aiohttp's
# default of 100 connections: no more in flight than it holds, so the library never queues
# (and so at most 90 long requests).
CALLER_CLIENT_IN_FLIGHT = 100
# An idle pooled connection is closed after this long (httpx's default).
KEEPALIVE_EXPIRY = 5.0
# The HTTP libraries an AsyncEndpoint can send with (``http_backend=``).
HTTP_BACKENDS = ("httpx", "aiohttp")
