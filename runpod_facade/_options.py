"""Request options: the server-side execution policy, S3 credentials for the worker, and the
``Input`` wrapper for an input that must be sent exactly as given."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from ._constants import MAX_POLICY_MS, MIN_EXECUTION_TIMEOUT_MS, MIN_TTL_MS
from ._exceptions import InvalidInputError

__all__ = ["Duration", "ExecutionPolicy", "Input", "S3Config", "is_request_body", "to_seconds"]

Duration = float | int | timedelta
"""Seconds as a number, or a :class:`datetime.timedelta`."""

# Seconds that need no conversion beyond float() (bool is an int, but not seconds).
_PLAIN_SECONDS = (int, float)


def to_seconds(value: Duration, name: str) -> float:
    """Normalise a duration to seconds, rejecting bools, NaN, infinities and negatives."""
    if value.__class__ in _PLAIN_SECONDS and 0 <= value < math.inf:
        return float(value)  # the usual case (NaN fails the comparison, bool its class)
    if isinstance(value, bool) or not isinstance(value, (int, float, timedelta)):
        raise InvalidInputError(
            f"{name} must be seconds (int or float) or a timedelta, got {type(value).__name__}"
        )
    seconds = value.total_seconds() if isinstance(value, timedelta) else float(value)
    if math.isnan(seconds) or math.isinf(seconds):
        raise InvalidInputError(f"{name} must be a finite number of seconds, got {value!r}")
    if seconds < 0:
        raise InvalidInputError(f"{name} must not be negative, got {value!r}")
    return seconds


def _policy_ms(value: Duration, name: str, minimum_ms: int) -> int:
    ms = round(to_seconds(value, name) * 1000)
    if not minimum_ms <= ms <= MAX_POLICY_MS:
        raise InvalidInputError(
            f"{name} must be between {minimum_ms // 1000} s and 7 days, got {value!r}"
        )
    return ms


@dataclass(frozen=True, slots=True)
class ExecutionPolicy:
    """How the platform runs one job. Durations are seconds or ``timedelta``; the API gets ms.

    Args:
        execution_timeout: longest run time once a worker picks the job up (5 s to 7 days);
            past it the job ends TIMED_OUT. ``None`` keeps the endpoint's setting.
        ttl: lifetime of the job from submission, queue time included (10 s to 7 days); when it
            expires the job is deleted, whatever its state. ``None`` keeps the default (24 h).
        low_priority: when true the job does not make the endpoint scale up workers.
    """

    execution_timeout: Duration | None = None
    ttl: Duration | None = None
    low_priority: bool | None = None

    def __post_init__(self) -> None:
        # Validate eagerly so a bad policy fails where it is written, not at submit time.
        self.to_wire()
        if self.low_priority is not None and not isinstance(self.low_priority, bool):
            raise InvalidInputError(
                f"low_priority must be a bool, got {type(self.low_priority).__name__}"
            )

    def to_wire(self) -> dict[str, int | bool]:
        """The ``policy`` object of the request body (camelCase, milliseconds)."""
        wire: dict[str, int | bool] = {}
        if self.execution_timeout is not None:
            wire["executionTimeout"] = _policy_ms(
                self.execution_timeout, "execution_timeout", MIN_EXECUTION_TIMEOUT_MS
            )
        if self.ttl is not None:
            wire["ttl"] = _policy_ms(self.ttl, "ttl", MIN_TTL_MS)
        if self.low_priority is not None:
            wire["lowPriority"] = self.low_priority
        return wire


@dataclass(frozen=True, slots=True)
class S3Config:
    """Bucket credentials passed through to the worker (the platform itself uploads nothing).

    ``access_secret`` never appears in ``repr``.
    """

    access_id: str
    access_secret: str
    bucket_name: str
    endpoint_url: str
    object_path: str | None = None

    def __post_init__(self) -> None:
        for name in ("access_id", "access_secret", "bucket_name", "endpoint_url"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value:
                raise InvalidInputError(f"S3Config.{name} must be a non-empty string")
        if self.object_path is not None and not isinstance(self.object_path, str):
            raise InvalidInputError("S3Config.object_path must be a string")

    def __repr__(self) -> str:
        return (
            f"S3Config(access_id={self.access_id!r}, access_secret='<redacted>', "
            f"bucket_name={self.bucket_name!r}, endpoint_url={self.endpoint_url!r}, "
            f"object_path={self.object_path!r})"
        )

    def to_wire(self) -> dict[str, str]:
        wire = {
            "accessId": self.access_id,
            "accessSecret": self.access_secret,
            "bucketName": self.bucket_name,
            "endpointUrl": self.endpoint_url,
        }
        if self.object_path is not None:
            wire["objectPath"] = self.object_path
        return wire


@dataclass(frozen=True, slots=True)
class Input:
    """A job input sent exactly as given.

    Only needed for an input whose single key is ``"input"``, which the SDK otherwise
    rejects because it is almost always a request body passed by mistake (the JS and Go SDKs
    take the whole body): ``ep.run(Input({"input": x}))`` makes the worker receive
    ``job["input"] == {"input": x}`` on purpose.
    """

    value: Any


def is_request_body(value: object) -> bool:
    """Whether ``value`` looks like a whole request body, ``{"input": ...}`` (what the JS and
    Go SDKs take), rather than the input itself: sent as it is only when wrapped in
    :class:`Input`, since the worker would otherwise receive ``{"input": {"input": ...}}``."""
    return isinstance(value, dict) and len(value) == 1 and "input" in value
