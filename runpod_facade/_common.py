"""What ``Endpoint`` and ``AsyncEndpoint`` share: settings, argument checks, the core."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx

from ._config import Settings, resolve_settings
from ._constants import DEFAULT_MAX_RETRIES, DEFAULT_TIMEOUT
from ._core import EndpointCore, PollPolicy
from ._deadline import Deadline
from ._effects import Operation
from ._errors import InvalidInputError
from ._policy import ExecutionPolicy, S3Config, to_seconds
from ._retry import RetryPolicy
from ._types import JobState
from ._validation import check_id
from ._wire import ApiRequest, build_job_body

__all__ = ["Batch", "EndpointBase", "check_retry_failed", "optional_seconds"]


@dataclass(frozen=True)
class Batch:
    """A validated ``run_many``: the encoded requests and one deadline shared by every wait."""

    requests: list[ApiRequest]
    concurrency: int
    deadline: Deadline
    core: EndpointCore
    retry_failed: int

    def wait(self, job_id: str) -> Operation[JobState]:
        return self.core.wait(
            job_id,
            timeout=self.deadline.remaining(),
            cancel_on_timeout=False,
            retry_failed=self.retry_failed,
        )


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

    def _batch(
        self,
        inputs: Iterable[Any],
        concurrency: int,
        timeout: float | timedelta | None,
        policy: ExecutionPolicy | None,
        webhook: str | None,
        s3_config: S3Config | None,
        retry_failed: int,
    ) -> Batch:
        if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
            raise InvalidInputError(f"concurrency must be a positive int, got {concurrency!r}")
        if isinstance(inputs, (str, bytes, dict)):
            raise InvalidInputError("inputs must be an iterable of inputs, one per job")
        seconds = optional_seconds(timeout, "timeout")
        # Encode and check every input before the first is sent: a bad batch sends nothing.
        requests = [
            self._core.run_request(self._job_body(item, policy, webhook, s3_config))
            for item in inputs
        ]
        return Batch(
            requests=requests,
            concurrency=concurrency,
            deadline=self._core.deadline(seconds),
            core=self._core,
            retry_failed=check_retry_failed(retry_failed),
        )

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
