"""The local servers keep an idle connection open longer than the clients' pools keep it.

A server that closes an idle keep-alive connection at the moment a client takes it from its
pool fails the request the client then sends (connection reset, "server disconnected"). Both
clocks start with a response: the server's when it sends it, the client's later, when it has
read it and parked the connection. So the server must wait longer than any client's pool
expiry, by more than that lag, for the client always to drop the connection first. Under
uvicorn's default of 5 s — equal to the façade's and httpx's 5 s, below aiohttp's 15 s — the
race reset requests (``benchmarks/local_resets.py --waves 10 --pause 5 --keep-alive 5``).
"""

from __future__ import annotations

import aiohttp
import httpx
import uvicorn

from runpod_facade._constants import KEEPALIVE_EXPIRY
from runpod_facade.local import LocalEndpoint, LocalLoadBalancer, create_app, sample_handlers
from runpod_facade.local._server import _uvicorn_config

#: Seconds between the server's clock and the client's, at the least, that the server's
#: timeout must also cover (a loaded machine delays reading a reply by seconds).
MARGIN_S = 10.0


async def _client_expiries() -> dict[str, float]:
    """The idle expiry of each client pool the project talks to the local servers with."""
    connector = aiohttp.TCPConnector()  # runpod-python's and a plain ClientSession's pool
    try:
        aiohttp_default = connector._keepalive_timeout
    finally:
        await connector.close()
    assert aiohttp_default is not None
    return {
        "façade (httpx and aiohttp backends)": KEEPALIVE_EXPIRY,
        "httpx default": float(httpx.Limits(max_connections=None).keepalive_expiry or 0),
        "aiohttp default": float(aiohttp_default),
    }


def _server_timeouts() -> dict[str, float]:
    """``timeout_keep_alive`` of the config each local server runs uvicorn with."""
    timeouts: dict[str, float] = {}
    with LocalEndpoint(sample_handlers.noop) as endpoint:
        server = endpoint._server
        assert isinstance(server, uvicorn.Server)
        timeouts["LocalEndpoint"] = server.config.timeout_keep_alive
    app = create_app(sample_handlers.noop)
    try:
        config = _uvicorn_config(app, host="127.0.0.1", port=0, log_level="info", quiet=False)
        timeouts["serve (the CLI)"] = config.timeout_keep_alive
    finally:
        app.close()

    async def asgi_app(scope: object, receive: object, send: object) -> None:
        raise AssertionError("not served in this test")

    balancer = LocalLoadBalancer(asgi_app, workers=1)
    timeouts["LocalLoadBalancer"] = balancer._config().timeout_keep_alive
    return timeouts


async def test_servers_outlast_every_client_pool_expiry() -> None:
    longest = max((await _client_expiries()).values())
    assert longest >= 15.0  # aiohttp's default; a smaller value means the lookup broke
    too_short = {
        server: timeout
        for server, timeout in _server_timeouts().items()
        if timeout < longest + MARGIN_S
    }
    assert not too_short, f"keep-alive below {longest + MARGIN_S} s: {too_short}"
