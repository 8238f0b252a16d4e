"""Client settings, resolved once from arguments and the environment, and validated."""

from __future__ import annotations

import dataclasses
import os
import sys
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, NoReturn, TypeGuard
from urllib.parse import urlsplit

from ._constants import DEFAULT_BASE_URL
from ._core.retry import PollPolicy, RetryPolicy
from ._deferred import deferred_module
from ._exceptions import InvalidInputError
from ._logging import register_secret
from ._options import to_seconds
from ._timeout import DEFAULT_TIMEOUT, Timeout
from ._transports.base import Timeouts
from ._validation import check_base_url, check_flag, check_id, is_loopback_host
from ._version import __version__

if TYPE_CHECKING:  # imported by the clients that send with it, not by this module
    import httpx
else:  # (or by what evaluates the annotations that name it)
    httpx = deferred_module("httpx")

__all__ = [
    "ENV_API_KEY",
    "ENV_BASE_URL",
    "ENV_ENDPOINT_ID",
    "ApiKey",
    "Settings",
    "resolve_settings",
]

ENV_API_KEY = "RUNPOD_API_KEY"
ENV_ENDPOINT_ID = "RUNPOD_ENDPOINT_ID"
ENV_BASE_URL = "RUNPOD_BASE_URL"


class ApiKey:
    """The API key. Its ``repr``/``str`` never show it, and the logger masks it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value
        register_secret(value)

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "ApiKey('<redacted>')"

    __str__ = __repr__

    def __reduce__(self) -> NoReturn:
        raise TypeError("the API key is not picklable: read it from the environment instead")


@dataclass(frozen=True)
class Settings:
    endpoint_id: str
    base_url: str
    api_key: ApiKey | None
    timeout: Timeouts
    retry: RetryPolicy
    poll: PollPolicy
    long_poll: bool

    def headers(self) -> dict[str, str]:
        headers = {
            "Accept": "application/json",
            "User-Agent": f"runpod-facade/{__version__}",
        }
        if self.api_key is not None:
            headers["Authorization"] = f"Bearer {self.api_key.reveal()}"
        return headers


def _check_api_key(value: object) -> str:
    if not isinstance(value, str):
        raise InvalidInputError(f"api_key must be a string, got {type(value).__name__}")
    if not value.strip():
        raise InvalidInputError("api_key must not be empty")
    if value != value.strip() or any(ord(ch) < 33 or ord(ch) == 127 for ch in value):
        # Never echo the key itself: it is a secret even when malformed.
        raise InvalidInputError("api_key must not contain whitespace or control characters")
    return value


def _is_httpx_timeout(value: object) -> TypeGuard[httpx.Timeout]:
    """Whether ``value`` is an ``httpx.Timeout``, without importing httpx: no such object
    exists before something has imported httpx."""
    module = sys.modules.get("httpx")
    return module is not None and isinstance(value, module.Timeout)


def _check_timeout(value: object) -> Timeouts:
    """A client's ``timeout=`` as the core's per-phase seconds. Seconds cap connecting at the
    default's 5 s too; an ``httpx.Timeout`` (what ``Endpoint`` took before ``Timeout``) is
    read phase by phase."""
    if isinstance(value, Timeout) or _is_httpx_timeout(value):
        return Timeouts(connect=value.connect, read=value.read, write=value.write, pool=value.pool)
    if value is None:
        return Timeouts(connect=None, read=None, write=None, pool=None)
    if isinstance(value, (int, float, timedelta)) and not isinstance(value, bool):
        seconds = to_seconds(value, "timeout")
        if seconds == 0:
            raise InvalidInputError("timeout must be positive (or None for no timeout)")
        return _check_timeout(
            Timeout(seconds, connect=min(seconds, DEFAULT_TIMEOUT.connect or seconds))
        )
    raise InvalidInputError(
        "timeout must be seconds, a timedelta, a runpod_facade.Timeout or None, got "
        f"{type(value).__name__}"
    )


def resolve_settings(
    endpoint_id: str | None,
    *,
    api_key: str | None,
    base_url: str | None,
    timeout: float | timedelta | Timeout | httpx.Timeout | None,
    max_retries: int | None,
    retry_policy: RetryPolicy | None,
    poll_policy: PollPolicy | None,
    long_poll: bool,
    allow_insecure_http: bool,
) -> Settings:
    """Arguments win over ``RUNPOD_ENDPOINT_ID``, ``RUNPOD_API_KEY`` and ``RUNPOD_BASE_URL``;
    ``max_retries`` applies only without a ``retry_policy``."""
    long_poll = check_flag(long_poll, "long_poll")
    allow_insecure_http = check_flag(allow_insecure_http, "allow_insecure_http")
    if endpoint_id is None:
        endpoint_id = os.environ.get(ENV_ENDPOINT_ID)
        if not endpoint_id:
            raise InvalidInputError(
                f"no endpoint id: pass it as Endpoint('ENDPOINT_ID') or set {ENV_ENDPOINT_ID}"
            )
    endpoint_id = check_id(endpoint_id, "endpoint_id")
    url = check_base_url(
        base_url if base_url is not None else os.environ.get(ENV_BASE_URL) or DEFAULT_BASE_URL,
        allow_insecure_http=allow_insecure_http,
    )
    key = api_key if api_key is not None else os.environ.get(ENV_API_KEY) or None
    if key is not None:
        key = _check_api_key(key)
    elif not is_loopback_host(urlsplit(url).hostname or ""):
        raise InvalidInputError(f"no API key: pass api_key= or set {ENV_API_KEY}")
    if retry_policy is not None and not isinstance(retry_policy, RetryPolicy):
        raise InvalidInputError("retry_policy must be a RetryPolicy")
    retry = retry_policy or RetryPolicy()
    if max_retries is not None and retry_policy is None:
        if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
            raise InvalidInputError(f"max_retries must be a non-negative int, got {max_retries!r}")
        retry = dataclasses.replace(retry, max_retries=max_retries)
    if poll_policy is not None and not isinstance(poll_policy, PollPolicy):
        raise InvalidInputError("poll_policy must be a PollPolicy")
    return Settings(
        endpoint_id=endpoint_id,
        base_url=url,
        api_key=None if key is None else ApiKey(key),
        timeout=_check_timeout(timeout),
        retry=retry,
        poll=poll_policy or PollPolicy(),
        long_poll=long_poll,
    )
