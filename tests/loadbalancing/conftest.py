"""Fixtures: a local load-balancing pool on a loopback port, and clients pointed at it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from runpod_facade import AsyncLoadBalancedEndpoint, LBRetryPolicy, LoadBalancedEndpoint
from runpod_facade.local import LocalLoadBalancer

from .apps import make_app

# Short backoffs: the rules are what is tested, not the waiting.
FAST = LBRetryPolicy(initial_delay=0.01, max_delay=0.05, ready_interval=0.01)


@pytest.fixture
def lb() -> Iterator[LocalLoadBalancer]:
    with LocalLoadBalancer(make_app(), workers=2) as pool:
        yield pool


def client(pool: LocalLoadBalancer, **kwargs: Any) -> LoadBalancedEndpoint:
    options: dict[str, Any] = {"timeout": 10, "retry_policy": FAST, "api_key": pool.api_key}
    return LoadBalancedEndpoint("lb-endpoint", base_url=pool.url, **{**options, **kwargs})


def aclient(pool: LocalLoadBalancer, **kwargs: Any) -> AsyncLoadBalancedEndpoint:
    options: dict[str, Any] = {"timeout": 10, "retry_policy": FAST, "api_key": pool.api_key}
    return AsyncLoadBalancedEndpoint("lb-endpoint", base_url=pool.url, **{**options, **kwargs})


@pytest.fixture
def ep(lb: LocalLoadBalancer) -> Iterator[LoadBalancedEndpoint]:
    with client(lb) as endpoint:
        yield endpoint


@pytest.fixture
async def aep(lb: LocalLoadBalancer) -> AsyncIterator[AsyncLoadBalancedEndpoint]:
    async with aclient(lb) as endpoint:
        yield endpoint
