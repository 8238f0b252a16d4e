"""A closed client refuses to be used again, ``with`` block included (issue #16: "``with ep:``
on a closed ``Endpoint`` enters without error")."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from runpod_facade import (
    AsyncEndpoint,
    AsyncLoadBalancedEndpoint,
    ClientClosedError,
    Endpoint,
    LoadBalancedEndpoint,
)
from runpod_facade.local import LocalEndpoint

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


# ``ep.batches`` and ``map(via="batch-api")`` send through HTTP clients of their own: closing
# the endpoint must stop them too, before anything is sent.
BATCH_CALLS: list[tuple[str, Callable[[Any, str], Any]]] = [
    ("create", lambda ep, _: ep.batches.create([{"q": 1}])),
    ("get", lambda ep, _: ep.batches.get("batch-1")),
    ("list", lambda ep, _: ep.batches.list()),
    ("wait", lambda ep, _: ep.batches.wait("batch-1", timeout=5)),
    ("cancel", lambda ep, _: ep.batches.cancel("batch-1")),
    ("map", lambda ep, journal: ep.map([1], via="batch-api", journal=journal)),
]


async def _drained(value: Any) -> None:
    if inspect.isawaitable(value):
        await value
    elif hasattr(value, "__aiter__"):
        async for _ in value:
            pass


@pytest.mark.misuse("argument")
@pytest.mark.parametrize("name", [n for n, _ in BATCH_CALLS] + ["results"], ids=str)
def test_a_closed_endpoint_s_batches_send_nothing(name: str, tmp_path: Path) -> None:
    calls = dict(BATCH_CALLS, results=lambda ep, _: ep.batches.results("batch-1"))
    with LocalEndpoint(lambda job: job["input"]) as local:
        ep = Endpoint(local.endpoint_id, base_url=local.base_url, api_key=local.api_key)
        ep.close()
        with pytest.raises(ClientClosedError, match="this Endpoint is closed"):
            list(calls[name](ep, str(tmp_path / "j")) or ())
        assert local.requests == []


@pytest.mark.misuse("argument")
@pytest.mark.parametrize("name", [n for n, _ in BATCH_CALLS], ids=str)
def test_a_closed_async_endpoint_s_batches_send_nothing(name: str, tmp_path: Path) -> None:
    async def main(local: LocalEndpoint) -> None:
        ep = AsyncEndpoint(local.endpoint_id, base_url=local.base_url, api_key=local.api_key)
        await ep.aclose()
        with pytest.raises(ClientClosedError, match="this AsyncEndpoint is closed"):
            await _drained(dict(BATCH_CALLS)[name](ep, str(tmp_path / "j")))

    with LocalEndpoint(lambda job: job["input"]) as local:
        asyncio.run(main(local))
        assert local.requests == []
