"""Factories that start served endpoints and stop them all at once: what the pytest fixtures
``runpod_endpoint`` and ``async_runpod_endpoint`` hand to a test, usable without pytest too."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

import httpx

from .._core.retry import PollPolicy, RetryPolicy
from .._deferred import deferred_module
from .._timeout import DEFAULT_TIMEOUT, Timeout
from ._defaults import FAST_POLL_POLICY, FAST_RETRY_POLICY, Handler
from ._extra import require_local

# The served endpoints (the local server's stack) and the asyncio client: imported on first
# use, or when something evaluates the annotations that name them (hence those name the module).
if TYPE_CHECKING:
    from .._clients import aio as aio_client
    from . import _served as served
else:
    aio_client = deferred_module("runpod_facade._clients.aio")
    served = deferred_module("runpod_facade.testing._served")

__all__ = ["AsyncEndpointFactory", "EndpointFactory"]


def _raise_all(errors: list[BaseException]) -> None:
    if len(errors) == 1:
        raise errors[0]
    if errors:
        raise BaseExceptionGroup("closing served endpoints failed", errors)


class EndpointFactory:
    """``factory(handler, ...)`` starts a :class:`ServedEndpoint` (arguments as for it);
    ``factory.close()`` closes every one it started, newest first.

    Constructing a factory checks that the ``local`` extra is installed (ImportError naming
    ``pip install 'runpod-facade[local]'`` otherwise). Outside pytest::

        endpoints = EndpointFactory()
        self.addCleanup(endpoints.close)          # unittest
        ep = endpoints(lambda job: job["input"])
    """

    def __init__(self) -> None:
        require_local()
        self._lock = threading.Lock()
        self._started: list[served.ServedEndpoint] = []
        self._closed = False

    def __call__(
        self,
        handler: Handler | str,
        /,
        *,
        workers: int = 1,
        timeout: float | Timeout | httpx.Timeout | None = DEFAULT_TIMEOUT,
        retry_policy: RetryPolicy = FAST_RETRY_POLICY,
        poll_policy: PollPolicy = FAST_POLL_POLICY,
        long_poll: bool = True,
        **local_options: Any,
    ) -> served.ServedEndpoint:
        """A started :class:`ServedEndpoint` running ``handler``, closed by :meth:`close`."""
        from ._served import ServedEndpoint

        if self._closed:
            raise RuntimeError("this EndpointFactory is closed")
        endpoint = ServedEndpoint(
            handler,
            workers=workers,
            timeout=timeout,
            retry_policy=retry_policy,
            poll_policy=poll_policy,
            long_poll=long_poll,
            **local_options,
        )
        with self._lock:
            self._started.append(endpoint)
        return endpoint

    @property
    def started(self) -> tuple[served.ServedEndpoint, ...]:
        """The endpoints started so far, oldest first."""
        with self._lock:
            return tuple(self._started)

    def close(self) -> None:
        """Close every endpoint started (client and server), newest first; idempotent. Every
        one is closed even if some fail; then the failure is raised (a group if several)."""
        with self._lock:
            self._closed = True
            started, self._started = self._started, []
        errors: list[BaseException] = []
        for endpoint in reversed(started):
            try:
                endpoint.close()
            except BaseException as exc:  # the others must still be closed
                errors.append(exc)
        _raise_all(errors)


class AsyncEndpointFactory:
    """``await factory(handler, ...)`` starts an :class:`AsyncServedEndpoint` (arguments as
    for it) without blocking the event loop; ``await factory.aclose()`` closes every one it
    started, newest first. Constructing one checks the ``local`` extra, as for
    :class:`EndpointFactory`."""

    def __init__(self) -> None:
        require_local()
        self._started: list[served.AsyncServedEndpoint] = []
        self._closed = False

    async def __call__(
        self,
        handler: Handler | str,
        /,
        *,
        workers: int = 1,
        timeout: float | Timeout | httpx.Timeout | None = DEFAULT_TIMEOUT,
        retry_policy: RetryPolicy = FAST_RETRY_POLICY,
        poll_policy: PollPolicy = FAST_POLL_POLICY,
        long_poll: bool = True,
        http_backend: aio_client.HttpBackend = "httpx",
        **local_options: Any,
    ) -> served.AsyncServedEndpoint:
        """A started :class:`AsyncServedEndpoint` running ``handler``, closed by
        :meth:`aclose`."""
        from ._served import AsyncServedEndpoint

        if self._closed:
            raise RuntimeError("this AsyncEndpointFactory is closed")
        endpoint = await AsyncServedEndpoint.start(
            handler,
            workers=workers,
            timeout=timeout,
            retry_policy=retry_policy,
            poll_policy=poll_policy,
            long_poll=long_poll,
            http_backend=http_backend,
            **local_options,
        )
        self._started.append(endpoint)
        return endpoint

    @property
    def started(self) -> tuple[served.AsyncServedEndpoint, ...]:
        """The endpoints started so far, oldest first."""
        return tuple(self._started)

    async def aclose(self) -> None:
        """Close every endpoint started, newest first; idempotent (see
        :meth:`EndpointFactory.close`)."""
        self._closed = True
        started, self._started = self._started, []
        errors: list[BaseException] = []
        for endpoint in reversed(started):
            try:
                await endpoint.aclose()
            except BaseException as exc:  # the others must still be closed
                errors.append(exc)
        _raise_all(errors)
