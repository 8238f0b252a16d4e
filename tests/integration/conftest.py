from __future__ import annotations

from collections.abc import Iterator

import pytest

from runpod_facade import Endpoint, PollPolicy, RetryPolicy
from runpod_facade.local import LocalEndpoint
from tests._support.handlers import dispatch

FAST_RETRY = RetryPolicy(max_retries=3, initial_delay=0.01, max_delay=0.05)
FAST_POLL = PollPolicy(initial=0.02, maximum=0.1)


@pytest.fixture(scope="module")
def local() -> Iterator[LocalEndpoint]:
    with LocalEndpoint(dispatch, workers=4) as ep:
        yield ep


def connect(local: LocalEndpoint, **kwargs: object) -> Endpoint:
    kwargs.setdefault("retry_policy", FAST_RETRY)
    kwargs.setdefault("poll_policy", FAST_POLL)
    return Endpoint(local.endpoint_id, base_url=local.base_url, api_key=local.api_key, **kwargs)  # type: ignore[arg-type]


@pytest.fixture
def ep(local: LocalEndpoint) -> Iterator[Endpoint]:
    local.faults.clear()
    with connect(local) as endpoint:
        yield endpoint
    local.faults.clear()
