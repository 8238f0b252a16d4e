"""What the sync and async load-balancing clients share: settings, addresses, request checks."""

from __future__ import annotations

import time
from collections.abc import Callable
from types import EllipsisType

import httpx

from .._exceptions import ClientClosedError
from . import affinity as _affinity
from .core import LBRetryPolicy
from .prepare import Prepared, prepare
from .settings import LBSettings, resolve

__all__ = ["EndpointBase"]


class EndpointBase:
    """Settings and addresses of one load-balancing endpoint (no I/O)."""

    _settings: LBSettings
    _closed: bool

    def _setup(
        self,
        endpoint_id: str | None,
        *,
        api_key: str | None,
        base_url: str | None,
        timeout: float | None,
        max_retries: int | None,
        retry_policy: LBRetryPolicy | None,
        allow_insecure_http: bool,
        clock: Callable[[], float] | None,
    ) -> None:
        self._settings = resolve(
            endpoint_id,
            api_key=api_key,
            base_url=base_url,
            timeout=timeout,
            max_retries=max_retries,
            retry_policy=retry_policy,
            allow_insecure_http=allow_insecure_http,
        )
        self._clock = clock or time.monotonic
        self._closed = False

    @property
    def endpoint_id(self) -> str:
        return self._settings.endpoint_id

    @property
    def url(self) -> str:
        """The endpoint's root, ``https://{endpoint_id}.api.runpod.ai`` on RunPod; the worker's
        routes are under it."""
        return self._settings.base_url

    @property
    def openai_base_url(self) -> str:
        """``{url}/v1``: the ``base_url`` for ``openai.OpenAI`` when the worker serves the
        OpenAI routes (the vLLM load-balancing worker); pass the same API key."""
        return f"{self.url}/v1"

    @property
    def timeout(self) -> float | None:
        """The default deadline of one call, in seconds (``None``: no limit)."""
        return self._settings.timeout

    @staticmethod
    def worker_id(response: httpx.Response) -> str | None:
        """The worker that served ``response`` (its ``X-Runpod-Worker-Id``), or ``None``."""
        return _affinity.worker_id(response)

    def _check_not_closed(self) -> None:
        """ClientClosedError once closed: no request, and no re-entry of a ``with`` block."""
        if self._closed:
            raise ClientClosedError("this load-balancing client is closed; create a new one")

    def _prepare_ping(self, timeout: float | EllipsisType | None) -> Prepared:
        """``GET /ping``: no body, no affinity, never resent."""
        return self._prepare(
            "GET",
            "/ping",
            json=None,
            content=None,
            params=None,
            headers=None,
            timeout=timeout,
            affinity=None,
            idempotent=False,
        )

    def _prepare(
        self,
        method: object,
        path: object,
        *,
        json: object,
        content: object,
        params: object,
        headers: object,
        timeout: float | EllipsisType | None,
        affinity: object,
        idempotent: object,
    ) -> Prepared:
        self._check_not_closed()
        return prepare(
            method,
            path,
            json=json,
            content=content,
            params=params,
            headers=headers,
            timeout=timeout,
            default_timeout=self._settings.timeout,
            affinity=affinity,
            idempotent=idempotent,
            base_headers=self._settings.headers,
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.endpoint_id!r}, url={self.url!r})"
