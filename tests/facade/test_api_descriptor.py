"""The ``@api`` descriptor: one definition, a blocking method on ``Endpoint``/``Job`` and an
awaitable one on ``AsyncEndpoint``/``AsyncJob``, each looking like the definition."""

from __future__ import annotations

import inspect

import pytest

from runpod_facade import AsyncEndpoint, Endpoint
from runpod_facade._clients.base import EndpointBase
from runpod_facade._drivers.api import api
from tests._support.fakeapi import API_KEY, FakeApi, job


def test_bound_methods_keep_the_definitions_name_doc_and_signature() -> None:
    sync_ep = Endpoint("ep", api_key=API_KEY)
    async_ep = AsyncEndpoint("ep", api_key=API_KEY)
    for owner, method in ((sync_ep, sync_ep.status), (async_ep, async_ep.status)):
        assert method.__name__ == "status"
        assert method.__doc__ == EndpointBase.__dict__["status"].__doc__
        assert list(inspect.signature(method).parameters) == ["job_id", "ttl"]
        assert method.__self__ is owner
    assert inspect.iscoroutinefunction(async_ep.status)
    assert not inspect.iscoroutinefunction(sync_ep.status)
    assert isinstance(EndpointBase.__dict__["status"], api)
    assert isinstance(Endpoint.status, api)  # class access: the descriptor itself
    sync_ep.close()


def test_each_access_binds_its_own_instance() -> None:
    first = Endpoint("ep", api_key=API_KEY)
    second = Endpoint("ep", api_key=API_KEY)
    assert first.health.__self__ is first and second.health.__self__ is second
    assert first.health == first.health  # equal bound methods, as for plain methods
    first.close()
    second.close()


async def test_calls_run_the_operation_with_their_arguments() -> None:
    async_api = FakeApi().on("status", lambda r: job("COMPLETED", "j-9", output=3))
    async with async_api.async_endpoint() as ep:
        assert (await ep.status("j-9", ttl=2)).output == 3
    sync_api = FakeApi().on("status", lambda r: job("COMPLETED", "j-9", output=4))
    with sync_api.endpoint() as sync_ep:
        assert sync_ep.status("j-9").output == 4
    (sent,) = async_api.requests
    assert sent.url.path.endswith("/status/j-9") and sent.url.params["ttl"] == "2000"
    assert [r.url.path for r in sync_api.requests] == [sent.url.path]


def test_a_class_that_is_no_runner_is_refused() -> None:
    class Neither(EndpointBase):
        pass

    with pytest.raises(TypeError, match="neither a SyncRunner nor an AsyncRunner"):
        Neither().health  # noqa: B018
