"""Checking request bodies and query parameters against ``openapi/runpod-serverless.yaml``.

Every check raises :class:`BadRequest` with a message meant for the client; nothing here
touches the job store, so a rejected request changes no state.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from . import _limits

__all__ = ["BadRequest", "JobSpec", "parse_job_request", "parse_ms_query"]

_INT_RE = re.compile(r"-?[0-9]+")


class BadRequest(Exception):
    """A request the contract rejects; ``status`` is the HTTP code to reply with."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


@dataclass(frozen=True)
class JobSpec:
    """A validated ``JobRequest``; times in seconds."""

    input: Any
    webhook: str | None
    s3_config: dict[str, Any] | None
    execution_timeout_s: float | None
    ttl_s: float | None
    low_priority: bool


def _reject_constant(name: str) -> Any:
    # json.loads accepts NaN/Infinity, which are not JSON.
    raise ValueError(f"{name} is not valid JSON")


def parse_json(body: bytes) -> Any:
    """Decode a JSON document strictly (UTF-8, no NaN/Infinity)."""
    try:
        return json.loads(body.decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError) as exc:
        raise BadRequest(f"request body is not valid JSON: {exc}") from None


def _ms_field(policy: Mapping[str, Any], key: str, low: int, high: int) -> float | None:
    if key not in policy:
        return None
    value = policy[key]
    # JSON Schema integers: bool is not one, 5000.0 is.
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadRequest(f"policy.{key} must be an integer number of milliseconds")
    if not low <= value <= high:
        raise BadRequest(f"policy.{key} must be between {low} and {high} ms, got {value}")
    return value / 1000.0


def _parse_s3_config(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise BadRequest("s3Config must be an object")
    for key in ("accessId", "accessSecret", "bucketName", "endpointUrl"):
        if key not in value:
            raise BadRequest(f"s3Config.{key} is required")
    for key in ("accessId", "accessSecret", "bucketName", "endpointUrl", "objectPath"):
        if key in value and not isinstance(value[key], str):
            raise BadRequest(f"s3Config.{key} must be a string")
    return value


def parse_job_request(body: bytes) -> JobSpec:
    """Validate the body of ``/run`` or ``/runsync``."""
    document = parse_json(body)
    if not isinstance(document, dict):
        raise BadRequest("request body must be a JSON object")
    if "input" not in document:
        raise BadRequest("request body must contain 'input'")
    # Present-but-null optional fields are rejected: the spec types them, null included.
    webhook = document.get("webhook")
    if "webhook" in document and (not isinstance(webhook, str) or not urlsplit(webhook).scheme):
        raise BadRequest("webhook must be an absolute URL")
    if "webhookV2" in document and not isinstance(document["webhookV2"], str):
        raise BadRequest("webhookV2 must be a string")
    s3_config = _parse_s3_config(document["s3Config"]) if "s3Config" in document else None
    policy = document.get("policy", {})
    if not isinstance(policy, dict):
        raise BadRequest("policy must be an object")
    execution_timeout = _ms_field(
        policy,
        "executionTimeout",
        _limits.EXECUTION_TIMEOUT_MIN_MS,
        _limits.EXECUTION_TIMEOUT_MAX_MS,
    )
    ttl = _ms_field(policy, "ttl", _limits.TTL_MIN_MS, _limits.TTL_MAX_MS)
    low_priority = policy.get("lowPriority", False)
    if not isinstance(low_priority, bool):
        raise BadRequest("policy.lowPriority must be a boolean")
    return JobSpec(
        input=document["input"],
        webhook=webhook,
        s3_config=s3_config,
        execution_timeout_s=execution_timeout,
        ttl_s=ttl,
        low_priority=low_priority,
    )


def parse_ms_query(
    query: Mapping[str, str], name: str, default: int | None, low: int, high: int | None
) -> int | None:
    """Read an integer millisecond query parameter, enforcing ``[low, high]``."""
    raw = query.get(name)
    if raw is None:
        return default
    if not _INT_RE.fullmatch(raw):
        raise BadRequest(f"query parameter {name!r} must be an integer (milliseconds)")
    value = int(raw)
    if value < low or (high is not None and value > high):
        bound = f"between {low} and {high}" if high is not None else f">= {low}"
        raise BadRequest(f"query parameter {name!r} must be {bound}, got {value}")
    return value
