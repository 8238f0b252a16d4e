"""What ``Endpoint`` and ``AsyncEndpoint`` share: settings, argument checks, the core."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx

from ._config import Settings, resolve_settings
from ._constants import DEFAULT_MAX_RETRIES, DEFAULT_TIMEOUT
from ._core import EndpointCore, PollPolicy
from ._errors import InvalidInputError
from ._policy import ExecutionPolicy, S3Config, to_seconds
from ._retry import RetryPolicy
from ._validation import check_id
from ._wire import build_job_body

__all__ = ["EndpointBase", "check_retry_failed", "optional_seconds"]


def check_retry_failed(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidInputError(f"retry_failed must be a non-negative int, got {value!r}")
    return value


def optional_seconds(value: float | timedelta | None, name: str) -> float | None:
    return None if value is None else to_seconds(value, name)


class EndpointBase:
    """Settings and argument checks common to the sync and async endpoints."""

    _settings: Settings
    _core: EndpointCore

    def _configure(
        self,
        endpoint_id: str | None,
        *,
        api_key: str | None,
        base_url: str | None,
        timeout: float | httpx.Timeout | None = DEFAULT_TIMEOUT,
        max_retries: int | None = DEFAULT_MAX_RETRIES,
        retry_policy: RetryPolicy | None = None,
        poll_policy: PollPolicy | None = None,
        long_poll: bool = True,
        allow_insecure_http: bool = False,
    ) -> None:
        self._settings = resolve_settings(
            endpoint_id,
            api_key=api_key,
            base_url=base_url,
            timeout=timeout,
            max_retries=max_retries if retry_policy is None else None,
            retry_policy=retry_policy,
            poll_policy=poll_policy,
            long_poll=long_poll,
            allow_insecure_http=allow_insecure_http,
        )
        self._core = EndpointCore(
            self._settings.endpoint_id,
            retry=self._settings.retry,
            poll=self._settings.poll,
            long_poll=self._settings.long_poll,
        )

    @property
    def endpoint_id(self) -> str:
        return self._settings.endpoint_id

    @property
    def base_url(self) -> str:
        return self._settings.base_url

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(endpoint_id={self.endpoint_id!r}, base_url={self.base_url!r})"
        )

    @staticmethod
    def _job_body(
        input: Any,
        policy: ExecutionPolicy | None,
        webhook: str | None,
        s3_config: S3Config | None,
    ) -> Any:
        return build_job_body(input, policy=policy, webhook=webhook, s3_config=s3_config)

    @staticmethod
    def _job_id(job_id: object) -> str:
        return check_id(job_id, "job_id")

    @staticmethod
    def _ttl_ms(ttl: float | timedelta | None) -> int | None:
        seconds = optional_seconds(ttl, "ttl")
        if seconds is None:
            return None
        ms = round(seconds * 1000)
        if ms < 1:
            raise InvalidInputError("ttl must be at least 1 ms")
        return ms
