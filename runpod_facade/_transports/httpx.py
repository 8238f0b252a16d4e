"""The httpx transports: one request in, one fully read reply (or a classified failure) out.

The failure classification is what keeps submits from being duplicated: only a failure that
provably happened before the request left this process (no connection, no pooled
connection free) is ``NOT_SENT``; everything else may have reached the server.

This module is the blocking client's and imports no asyncio; the asyncio transport over
httpx is ``async_httpx``.
"""

from __future__ import annotations

from collections.abc import Mapping

import httpx

from .._constants import KEEPALIVE_EXPIRY, MAX_IN_FLIGHT
from .base import ApiRequest, ApiResponse, Delivery, Timeouts, TransportFailure

__all__ = ["DEFAULT_LIMITS", "NEVER_SENT", "HttpxRequests", "HttpxTransport", "classify"]

_JSON = {"Content-Type": "application/json"}
#: The failures that prove the request never left this process: no connection could be
#: made, or no pooled connection came free (also for the load-balancing and batch clients).
NEVER_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
#: The pool of the clients we make (also the load-balancing clients'). Every connection may
#: stay pooled while idle: with fewer keep-alive slots than connections, httpcore closes each
#: connection that becomes idle while more are open (counting busy ones), so a steady load
#: opened a new connection for almost every request.
DEFAULT_LIMITS = httpx.Limits(
    max_connections=MAX_IN_FLIGHT,
    max_keepalive_connections=MAX_IN_FLIGHT,
    keepalive_expiry=KEEPALIVE_EXPIRY,
)


def classify(exc: httpx.TransportError) -> TransportFailure:
    """A transport exception as a failure the core's retry rules understand."""
    not_sent = isinstance(exc, NEVER_SENT)
    detail = str(exc) or "no detail"
    return TransportFailure(
        delivery=Delivery.NOT_SENT if not_sent else Delivery.MAYBE_SENT,
        timeout=isinstance(exc, httpx.TimeoutException),
        message=f"{type(exc).__name__}: {detail}",
    )


class HttpxRequests:
    """Builds the ``httpx.Request`` of an ``ApiRequest`` for one client."""

    def __init__(self, base_url: str, headers: Mapping[str, str]) -> None:
        self.base_url = base_url
        self.headers = dict(headers)
        self._json_headers = {**self.headers, **_JSON}

    def build(
        self, client: httpx.Client | httpx.AsyncClient, request: ApiRequest, timeouts: Timeouts
    ) -> httpx.Request:
        built = client.build_request(
            request.method,
            self.base_url + request.path,
            params=request.params or None,
            content=request.content,
            headers=self._json_headers if request.content is not None else self.headers,
        )
        # The per-request timeouts, as httpx's transports read them (what ``timeout=`` on
        # ``build_request`` sets, without building an ``httpx.Timeout`` per request).
        built.extensions["timeout"] = {
            "connect": timeouts.connect,
            "read": timeouts.read,
            "write": timeouts.write,
            "pool": timeouts.pool,
        }
        return built


class HttpxTransport:
    """Blocking requests through an ``httpx.Client`` (the caller's, or one of our own)."""

    def __init__(
        self, base_url: str, headers: Mapping[str, str], client: httpx.Client | None = None
    ) -> None:
        self._requests = HttpxRequests(base_url, headers)
        self.owns_client = client is None
        self.client = client or httpx.Client(limits=DEFAULT_LIMITS, follow_redirects=False)

    def send(self, request: ApiRequest, timeouts: Timeouts) -> ApiResponse | TransportFailure:
        try:
            response = self.client.send(self._requests.build(self.client, request, timeouts))
        except httpx.TransportError as exc:
            return classify(exc)
        return ApiResponse(response.status_code, response.headers, response.content)

    def close(self) -> None:
        if self.owns_client:
            self.client.close()
