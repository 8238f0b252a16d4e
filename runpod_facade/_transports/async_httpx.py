"""The asyncio transport over httpx: ``httpx.AsyncClient``, gated (``gate``).

Our own client sends through :class:`~.pool.LifoPool`, which reuses connections without
httpcore's per-event pool scans and never closes one it will need again a moment later — unless
the environment names a proxy for the API's scheme (``HTTPS_PROXY`` …): then it keeps httpx's
own transport, which knows proxies and ``NO_PROXY``, with a pool sized to the gate.
"""

from __future__ import annotations

import urllib.request
from collections.abc import Mapping

import httpx

from .._constants import KEEPALIVE_EXPIRY, SHORT_CALL_RESERVE
from .base import ApiRequest, ApiResponse, Timeouts, TransportFailure
from .gate import GatedTransport
from .httpx import HttpxRequests, classify
from .pool import LifoPool

__all__ = ["AsyncHttpxTransport"]


class AsyncHttpxTransport(GatedTransport[httpx.AsyncClient]):
    """Requests through an ``httpx.AsyncClient`` on the running event loop.

    Its own client is made on first use and renewed on a new loop (a second
    ``asyncio.run()``); a client passed in by the caller works on one loop only, so using it
    on another is an error raised before anything is sent.
    """

    _what = "http_client (an httpx.AsyncClient)"

    def __init__(
        self,
        base_url: str,
        headers: Mapping[str, str],
        client: httpx.AsyncClient | None = None,
        *,
        max_in_flight: int | None = None,
        reserve: int = SHORT_CALL_RESERVE,
    ) -> None:
        super().__init__(client, max_in_flight=max_in_flight, reserve=reserve)
        self._requests = HttpxRequests(base_url, headers)

    def _new_client(self) -> httpx.AsyncClient:
        # A proxy the environment names for the API's scheme: httpx's own transport uses it.
        proxies = urllib.request.getproxies()
        if httpx.URL(self._requests.base_url).scheme in proxies or "all" in proxies:
            limits = httpx.Limits(
                max_connections=self.max_in_flight,
                max_keepalive_connections=self.max_in_flight,
                keepalive_expiry=KEEPALIVE_EXPIRY,
            )
            return httpx.AsyncClient(limits=limits, follow_redirects=False)
        pool = LifoPool(keepalive_expiry=KEEPALIVE_EXPIRY)
        return httpx.AsyncClient(transport=pool, follow_redirects=False)

    async def _close_client(self, client: httpx.AsyncClient) -> None:
        await client.aclose()

    async def _exchange(
        self, client: httpx.AsyncClient, request: ApiRequest, timeouts: Timeouts
    ) -> ApiResponse | TransportFailure:
        try:
            response = await client.send(self._requests.build(client, request, timeouts))
        except httpx.TransportError as exc:
            return classify(exc)
        return ApiResponse(response.status_code, response.headers, response.content)
