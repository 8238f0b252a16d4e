"""How a Batch Jobs API call goes out: as one ``httpx.Request``, whichever client sends it.

The request is built the way the endpoint's own transport builds a job request
(:class:`~runpod_facade._transports.httpx.HttpxRequests`): the full URL, the endpoint's
headers (its API key) and its per-phase timeouts are set on each request, not on the client.
So a client the caller passed to the endpoint (``http_client=``, with its proxies, TLS, pool)
sends batch calls exactly as it sends the endpoint's job calls, and is never reconfigured.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import httpx

from .._config import Settings
from .._exceptions import InvalidInputError
from .._transports.base import ApiRequest, Safety
from .._transports.httpx import HttpxRequests
from ._plan import Call

__all__ = ["BatchRequests", "Send", "client_send", "loop_send"]

#: Sends one call and returns its reply, read in full (a transport error is raised).
Send = Callable[[Call], httpx.Response]


class BatchRequests:
    """The ``httpx.Request`` of each call of one endpoint's Batch Jobs API."""

    def __init__(self, settings: Settings) -> None:
        self._requests = HttpxRequests(settings.base_url, settings.headers())
        self._timeouts = settings.timeout

    def __repr__(self) -> str:  # the headers hold the API key
        return f"{type(self).__name__}(base_url={self._requests.base_url!r})"

    def build(self, client: httpx.Client | httpx.AsyncClient, call: Call) -> httpx.Request:
        """``call`` as a request of ``client`` (its own headers and cookies merged in)."""
        safety = Safety.REPEATABLE if call.repeatable else Safety.SUBMIT
        request = ApiRequest(
            call.operation, call.method, call.path, safety, call.operation,
            params=call.params, content=call.body, job_id=call.batch_id,
        )  # fmt: skip
        return self._requests.build(client, request, self._timeouts)


def client_send(client: httpx.Client, requests: BatchRequests) -> Send:
    """Each call sent through the blocking ``client``."""

    def send(call: Call) -> httpx.Response:
        return client.send(requests.build(client, call))

    return send


def loop_send(client: httpx.AsyncClient, requests: BatchRequests) -> Send:
    """Each call sent from a worker thread through ``client``, an ``httpx.AsyncClient``
    that works on the running loop only: the exchange runs on that loop while the thread
    waits for it (the asyncio ``map(via="batch-api")`` steps on a thread while the loop
    awaits them, so the loop is free to send). Raises InvalidInputError outside a loop."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        raise InvalidInputError(
            'AsyncEndpoint.map(via="batch-api") with an http_client must be called inside '
            "the event loop that client works on"
        ) from None

    async def exchange(call: Call) -> httpx.Response:
        return await client.send(requests.build(client, call))

    def send(call: Call) -> httpx.Response:
        return asyncio.run_coroutine_threadsafe(exchange(call), loop).result()

    return send
