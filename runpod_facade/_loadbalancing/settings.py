"""Settings of a load-balancing client, resolved from arguments and the same environment as
:class:`~runpod_facade.Endpoint` (``RUNPOD_ENDPOINT_ID``, ``RUNPOD_API_KEY``), plus
``RUNPOD_LB_BASE_URL`` for the address (``RUNPOD_BASE_URL`` is the queue API's)."""

from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass
from datetime import timedelta

from .._config import ENV_ENDPOINT_ID, resolve_settings
from .._exceptions import InvalidInputError
from .._validation import check_id
from .core import LBRetryPolicy

__all__ = ["DEFAULT_LB_BASE_URL", "DEFAULT_LB_TIMEOUT", "ENV_LB_BASE_URL", "LBSettings", "resolve"]

ENV_LB_BASE_URL = "RUNPOD_LB_BASE_URL"
#: ``{endpoint_id}`` is replaced by the endpoint id (overview.mdx: one host per endpoint).
DEFAULT_LB_BASE_URL = "https://{endpoint_id}.api.runpod.ai"
#: A call's default deadline: the router waits up to 2 min for a worker, and a worker may
#: process for 5.5 min (overview.mdx), so anything shorter would give up on valid calls.
DEFAULT_LB_TIMEOUT = 480.0
#: Connecting to the router never needs long, whatever is left of a deadline.
CONNECT_TIMEOUT = 5.0


@dataclass(frozen=True)
class LBSettings:
    endpoint_id: str
    base_url: str
    timeout: float | None
    policy: LBRetryPolicy
    headers: dict[str, str] = dataclasses.field(repr=False)  # Authorization: the key, whole


def check_timeout(value: object) -> float | None:
    """A deadline in seconds: a positive finite number, or ``None`` for no limit."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, timedelta)):
        raise InvalidInputError(
            f"timeout must be seconds, a timedelta or None, got {type(value).__name__}"
        )
    seconds = value.total_seconds() if isinstance(value, timedelta) else value
    if not math.isfinite(seconds) or seconds <= 0:
        raise InvalidInputError(f"timeout must be a positive number of seconds, got {value!r}")
    return float(seconds)


def resolve(
    endpoint_id: str | None,
    *,
    api_key: str | None,
    base_url: str | None,
    timeout: float | timedelta | None,
    max_retries: int | None,
    retry_policy: LBRetryPolicy | None,
    allow_insecure_http: bool,
) -> LBSettings:
    """Arguments win over the environment; every value is checked before any request."""
    url_template = base_url if base_url is not None else os.environ.get(ENV_LB_BASE_URL)
    if url_template is not None and not isinstance(url_template, str):
        raise InvalidInputError(f"base_url must be a string, got {type(url_template).__name__}")
    # The endpoint id names the host of the default URL; the queue settings then check the
    # id, the key (required unless the host is loopback) and the URL, as Endpoint does.
    wanted = endpoint_id if endpoint_id is not None else os.environ.get(ENV_ENDPOINT_ID)
    eid = check_id(wanted, "endpoint_id") if wanted else None
    settings = resolve_settings(
        eid,
        api_key=api_key,
        base_url=(url_template or DEFAULT_LB_BASE_URL).replace("{endpoint_id}", eid or "x"),
        timeout=None,
        max_retries=None,
        retry_policy=None,
        poll_policy=None,
        long_poll=False,
        allow_insecure_http=allow_insecure_http,
    )
    if retry_policy is not None and not isinstance(retry_policy, LBRetryPolicy):
        raise InvalidInputError("retry_policy must be an LBRetryPolicy")
    policy = retry_policy or LBRetryPolicy()
    if max_retries is not None:
        policy = dataclasses.replace(policy, max_retries=max_retries)  # checked on creation
    headers = settings.headers()
    # A worker's routes answer anything (SSE, images ...): do not ask for JSON only.
    headers["Accept"] = "*/*"
    return LBSettings(
        endpoint_id=settings.endpoint_id,
        base_url=settings.base_url,
        timeout=check_timeout(timeout),
        policy=policy,
        headers=headers,
    )
