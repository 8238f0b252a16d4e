"""A closed client refuses to be used again, ``with`` block included (issue #16: "``with ep:``
on a closed ``Endpoint`` enters without error")."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from runpod_facade import (
    AsyncEndpoint,
    AsyncLoadBalancedEndpoint,
    ClientClosedError,
    Endpoint,
    LoadBalancedEndpoint,
)

URL = "http://127.0.0.1:9/v2"


@pytest.mark.misuse("argument")
@pytest.mark.parametrize("make", [Endpoint, LoadBalancedEndpoint], ids=["queue", "lb"])
def test_with_on_a_closed_client_raises(make: Any) -> None:
    ep = make("ep-1", api_key="key-123456", base_url=URL)
    ep.close()
    with pytest.raises(ClientClosedError, match="closed"), ep:
        pytest.fail("entered a closed client")


@pytest.mark.misuse("argument")
@pytest.mark.parametrize("make", [AsyncEndpoint, AsyncLoadBalancedEndpoint], ids=["queue", "lb"])
def test_async_with_on_a_closed_client_raises(make: Any) -> None:
    async def main() -> None:
        ep = make("ep-1", api_key="key-123456", base_url=URL)
        await ep.aclose()
        with pytest.raises(ClientClosedError, match="closed"):
            async with ep:
                pytest.fail("entered a closed client")

    asyncio.run(main())


def test_a_block_closes_and_a_second_block_is_refused() -> None:
    ep = Endpoint("ep-1", api_key="key-123456", base_url=URL)
    with ep:
        pass
    with pytest.raises(ClientClosedError), ep:
        pass
