"""Clients that own the local endpoint they talk to: :class:`ServedEndpoint` and
:class:`AsyncServedEndpoint`. Importing this module imports the local endpoint (the
``local`` extra); ``runpod_facade.testing`` loads it on first use."""

from __future__ import annotations

import asyncio
import urllib.request
from collections.abc import Callable
from typing import Any

import httpx

from .._clients.aio import AsyncEndpoint, HttpBackend
from .._clients.sync import Endpoint
from .._core.retry import PollPolicy, RetryPolicy
from .._timeout import DEFAULT_TIMEOUT, Timeout
from .._transports.httpx import DEFAULT_LIMITS
from ..local import FaultSet, LocalEndpoint, RequestRecord, WebhookAttempt
from ._defaults import FAST_POLL_POLICY, FAST_RETRY_POLICY, FAST_WEBHOOK_RETRY_DELAY_S, Handler

__all__ = ["AsyncServedEndpoint", "ServedEndpoint"]

# With auth off (`api_key=None`) the client still needs a key: an explicit dummy keeps a
# RUNPOD_API_KEY from the environment from being sent anywhere.
_NO_AUTH_KEY = "local-endpoint-without-auth"


def _environment_names_a_proxy(local: LocalEndpoint) -> bool:
    """Whether the environment (``HTTP_PROXY``, ``ALL_PROXY`` ...) would route requests to
    ``local`` through a proxy: never right for a server this process owns on loopback, and
    fatal in a CI runner whose proxy cannot reach the runner's own 127.0.0.1."""
    proxies = urllib.request.getproxies()
    return bool({"http", "all"} & proxies.keys()) and not urllib.request.proxy_bypass(local.host)


def _direct_sync_client() -> httpx.Client:
    return httpx.Client(limits=DEFAULT_LIMITS, follow_redirects=False, trust_env=False)


def _direct_async_client() -> httpx.AsyncClient:
    return httpx.AsyncClient(limits=DEFAULT_LIMITS, follow_redirects=False, trust_env=False)


class _Served:
    """What both served clients add to their endpoint class: the server and its records."""

    local: LocalEndpoint
    # Our own HTTP client, made only when the environment names a proxy (see _serve).
    _direct_client: httpx.Client | httpx.AsyncClient | None = None

    def _serve(
        self,
        client_init: Callable[..., None],
        handler: Handler | str,
        workers: int,
        local_options: dict[str, Any],
        direct_client: Callable[[], httpx.Client | httpx.AsyncClient] | None,
        **client_options: Any,
    ) -> None:
        """Start the server, then the client on it; a client that fails stops the server.

        When the environment names a proxy, the client gets ``direct_client()``, which
        ignores it (the SDK's own clients honour ``HTTP_PROXY`` and the like)."""
        local_options.setdefault("webhook_retry_delay_s", FAST_WEBHOOK_RETRY_DELAY_S)
        local = LocalEndpoint(handler, workers=workers, **local_options).start()
        try:
            if direct_client is not None and _environment_names_a_proxy(local):
                self._direct_client = client_options["http_client"] = direct_client()
            client_init(
                local.endpoint_id,
                base_url=local.base_url,
                api_key=local.api_key or _NO_AUTH_KEY,
                **client_options,
            )
        except BaseException:
            local.stop()
            raise
        self.local = local

    @property
    def faults(self) -> FaultSet:
        """Faults to inject into the server's replies: ``ep.faults.add(Fault("status",
        "http_error", status=503, times=2))``; ``ep.faults.clear()``."""
        return self.local.faults

    @property
    def requests(self) -> list[RequestRecord]:
        """Every HTTP request the server received so far, oldest first (a copy)."""
        return self.local.requests

    def clear_requests(self) -> None:
        """Forget the requests recorded so far (e.g. after a test's setup calls)."""
        self.local.clear_requests()

    @property
    def webhook_attempts(self) -> list[WebhookAttempt]:
        """Every webhook POST the server made so far, oldest first (a copy)."""
        return self.local.webhook_attempts


class ServedEndpoint(_Served, Endpoint):
    """An :class:`~runpod_facade.Endpoint` connected to a local endpoint that runs ``handler``
    and that it owns: the server starts in the constructor and stops in :meth:`close` (or at
    the end of a ``with`` block).

    Args:
        handler: the handler the server runs — a callable taking the job dict
            ``{"id": ..., "input": ...}`` (sync, async, generator or async generator), or
            ``"module:function"``.
        workers: how many jobs run at once.
        timeout: as for :class:`~runpod_facade.Endpoint`.
        long_poll: as for :class:`~runpod_facade.Endpoint`.
        retry_policy: defaults to :data:`FAST_RETRY_POLICY` (milliseconds, not seconds); pass
            ``RetryPolicy()`` for the SDK's own.
        poll_policy: defaults to :data:`FAST_POLL_POLICY` (milliseconds, not seconds); pass
            ``PollPolicy()`` for the SDK's own.
        local_options: passed to :class:`runpod_facade.local.LocalEndpoint` (``api_key``,
            ``endpoint_id``, ``faults``, ``execution_timeout_s``, ``run_retention_s`` ...).
            ``webhook_retry_delay_s`` defaults to :data:`FAST_WEBHOOK_RETRY_DELAY_S`.

    :attr:`local` is the server; :attr:`~runpod_facade.testing.ServedEndpoint.faults`,
    :attr:`~runpod_facade.testing.ServedEndpoint.requests` and
    :attr:`~runpod_facade.testing.ServedEndpoint.webhook_attempts` are its fault set, request
    log and webhook log.
    """

    def __init__(
        self,
        handler: Handler | str,
        *,
        workers: int = 1,
        timeout: float | Timeout | httpx.Timeout | None = DEFAULT_TIMEOUT,
        retry_policy: RetryPolicy = FAST_RETRY_POLICY,
        poll_policy: PollPolicy = FAST_POLL_POLICY,
        long_poll: bool = True,
        **local_options: Any,
    ) -> None:
        self._serve(
            super().__init__,
            handler,
            workers,
            local_options,
            _direct_sync_client,
            timeout=timeout,
            retry_policy=retry_policy,
            poll_policy=poll_policy,
            long_poll=long_poll,
        )

    def close(self) -> None:
        """Close the client, then stop the server (its workers, and any running job)."""
        try:
            super().close()
            if isinstance(self._direct_client, httpx.Client):
                self._direct_client.close()
        finally:
            self.local.stop()


class AsyncServedEndpoint(_Served, AsyncEndpoint):
    """An :class:`~runpod_facade.AsyncEndpoint` that owns a local endpoint running
    ``handler``; arguments as for :class:`ServedEndpoint`.

    The constructor blocks while the server starts (well under a second); from a coroutine,
    ``await AsyncServedEndpoint.start(handler, ...)`` starts it in a thread instead.
    ``http_backend`` picks the client's HTTP library, as for ``AsyncEndpoint``.
    :meth:`aclose` (or the end of ``async with``) closes the client and stops the server.
    """

    def __init__(
        self,
        handler: Handler | str,
        *,
        workers: int = 1,
        timeout: float | Timeout | httpx.Timeout | None = DEFAULT_TIMEOUT,
        retry_policy: RetryPolicy = FAST_RETRY_POLICY,
        poll_policy: PollPolicy = FAST_POLL_POLICY,
        long_poll: bool = True,
        http_backend: HttpBackend = "httpx",
        **local_options: Any,
    ) -> None:
        # With aiohttp a proxy is still used: its session can only be made on a running loop.
        direct = _direct_async_client if http_backend == "httpx" else None
        self._serve(
            super().__init__,
            handler,
            workers,
            local_options,
            direct,
            timeout=timeout,
            retry_policy=retry_policy,
            poll_policy=poll_policy,
            long_poll=long_poll,
            http_backend=http_backend,
        )

    @classmethod
    async def start(
        cls,
        handler: Handler | str,
        *,
        workers: int = 1,
        timeout: float | Timeout | httpx.Timeout | None = DEFAULT_TIMEOUT,
        retry_policy: RetryPolicy = FAST_RETRY_POLICY,
        poll_policy: PollPolicy = FAST_POLL_POLICY,
        long_poll: bool = True,
        http_backend: HttpBackend = "httpx",
        **local_options: Any,
    ) -> AsyncServedEndpoint:
        """Construct one without blocking the event loop while the server starts."""
        # The client binds to a loop on its first request, not here: building it in a
        # worker thread is safe.
        return await asyncio.to_thread(
            lambda: cls(
                handler,
                workers=workers,
                timeout=timeout,
                retry_policy=retry_policy,
                poll_policy=poll_policy,
                long_poll=long_poll,
                http_backend=http_backend,
                **local_options,
            )
        )

    async def aclose(self) -> None:
        """Close the client, then stop the server (in a thread: stopping joins threads)."""
        try:
            await super().aclose()
            if isinstance(self._direct_client, httpx.AsyncClient):
                await self._direct_client.aclose()
        finally:
            await asyncio.to_thread(self.local.stop)
