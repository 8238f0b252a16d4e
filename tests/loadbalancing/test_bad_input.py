"""Bad input is refused with a clear error before any request is sent (the pool records none)."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from runpod_facade import (
    Affinity,
    AsyncLoadBalancedEndpoint,
    ClientClosedError,
    InvalidInputError,
    LBRetryPolicy,
    LoadBalancedEndpoint,
    RequestTooLargeError,
)
from runpod_facade._loadbalancing.core import MAX_PAYLOAD_BYTES
from runpod_facade.local import LocalLoadBalancer

from .conftest import aclient, client


@pytest.mark.misuse("argument")
@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        (("GET", "https://evil.example/steal"), {}, "must start with a single '/'"),
        (("GET", "//evil.example/x"), {}, "must start with a single '/'"),
        (("GET", "echo"), {}, "must start with a single '/'"),
        (("GET", "/a b"), {}, "whitespace"),
        (("GET", 5), {}, "path must be a string"),
        (("G T", "/x"), {}, "method must be an HTTP method"),
        (("POST", "/x"), {"json": {"a": 1}, "content": b"x"}, "not both"),
        (("POST", "/x"), {"json": {"a": float("nan")}}, "JSON-serializable"),
        (("POST", "/x"), {"content": 12}, "content must be bytes or str"),
        (("GET", "/x"), {"headers": {"Authorization": "Bearer k"}}, "pass api_key="),
        (("GET", "/x"), {"headers": {"X-Runpod-Worker-Id": "w"}}, "pass affinity="),
        (("GET", "/x"), {"headers": {"X-A": "a\r\nb"}}, "CR, LF"),
        (("GET", "/x"), {"headers": ["x"]}, "headers must be a mapping"),
        (("GET", "/x"), {"timeout": 0}, "positive"),
        (("GET", "/x"), {"timeout": "5"}, "seconds, a timedelta or None"),
        (("GET", "/x"), {"affinity": "sticky w1"}, "must be '<worker-id>'"),
        (("GET", "/x"), {"affinity": 3}, "affinity must be"),
        (("GET", "/x"), {"idempotent": "yes"}, "idempotent must be"),
        (("GET", "/x"), {"params": 5}, "params must be"),
    ],
)
def test_bad_request_arguments_send_nothing(
    lb: LocalLoadBalancer, args: tuple[Any, ...], kwargs: dict[str, Any], message: str
) -> None:
    with client(lb) as ep, pytest.raises(InvalidInputError, match=message):
        ep.request(*args, **kwargs)
    assert lb.requests == []


@pytest.mark.misuse("argument")
def test_a_body_over_30_mb_is_refused_before_sending(lb: LocalLoadBalancer) -> None:
    with client(lb) as ep:
        with pytest.raises(RequestTooLargeError, match="at most 31,457,280 bytes") as info:
            ep.post("/echo", content=b"x" * (MAX_PAYLOAD_BYTES + 1))
        assert info.value.size == MAX_PAYLOAD_BYTES + 1
    assert lb.requests == []


@pytest.mark.misuse("argument")
@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("", "1-256 visible ASCII"),
        ("a b", "1-256 visible ASCII"),
        ("strict", "mode word"),
        (None, "worker id must be a string"),
    ],
)
def test_bad_worker_ids(value: Any, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        Affinity(value)


@pytest.mark.misuse("argument")
@pytest.mark.parametrize("reply", ["w1", None, {"X-Runpod-Worker-Id": "w1"}])
def test_worker_id_takes_a_reply(reply: Any) -> None:
    with pytest.raises(
        InvalidInputError, match=r"takes the reply of a request \(an httpx.Response\)"
    ):
        LoadBalancedEndpoint.worker_id(reply)


@pytest.mark.misuse("argument")
def test_bad_affinity_mode() -> None:
    with pytest.raises(InvalidInputError, match="affinity mode"):
        Affinity("w1", "sticky")  # type: ignore[arg-type]


@pytest.mark.misuse("argument")
@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_retries": -1}, "max_retries"),
        ({"timeout": -1}, "positive"),
        ({"base_url": "ftp://x"}, "http"),
        ({"base_url": "http://example.com"}, "plain http"),
        ({"retry_policy": object()}, "LBRetryPolicy"),
    ],
)
def test_bad_client_settings(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        LoadBalancedEndpoint("ep", api_key="k" * 12, **kwargs)


@pytest.mark.misuse("key")
def test_no_key_for_a_remote_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RUNPOD_API_KEY", raising=False)
    monkeypatch.delenv("RUNPOD_LB_BASE_URL", raising=False)
    with pytest.raises(InvalidInputError, match="no API key"):
        LoadBalancedEndpoint("ep")


@pytest.mark.misuse("argument")
def test_bad_policy_values() -> None:
    with pytest.raises(InvalidInputError, match="ready_interval"):
        LBRetryPolicy(ready_interval=0)
    with pytest.raises(InvalidInputError, match="jitter"):
        LBRetryPolicy(jitter=1.5)


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUNPOD_ENDPOINT_ID", "abc123")
    monkeypatch.setenv("RUNPOD_API_KEY", "rpa_secret_value_1234")
    monkeypatch.delenv("RUNPOD_LB_BASE_URL", raising=False)
    with LoadBalancedEndpoint() as ep:
        assert ep.url == "https://abc123.api.runpod.ai"
        assert ep.openai_base_url == "https://abc123.api.runpod.ai/v1"
        assert "rpa_secret_value_1234" not in repr(ep)
    monkeypatch.setenv("RUNPOD_LB_BASE_URL", "https://{endpoint_id}.proxy.example/lb")
    with LoadBalancedEndpoint("other") as ep:
        assert ep.url == "https://other.proxy.example/lb"


@pytest.mark.misuse("argument")
@pytest.mark.parametrize(
    "call",
    [
        lambda ep: ep.request("POST", "/echo", jsn={"a": 1}),
        lambda ep: ep.post("/echo", jsn={"a": 1}),
        lambda ep: ep.stream("POST", "/echo", jsn={"a": 1}).__enter__(),
        lambda ep: ep.pinned().__enter__().post("/echo", jsn={"a": 1}),
    ],
    ids=["request", "post", "stream", "pinned.post"],
)
def test_an_unknown_keyword_is_refused_before_sending(
    lb: LocalLoadBalancer, call: Callable[[LoadBalancedEndpoint], object]
) -> None:
    with (
        client(lb) as ep,
        pytest.raises(
            TypeError, match=r"unexpected keyword argument 'jsn' \(a request takes json, content, "
        ),
    ):
        call(ep)
    assert lb.requests == []


@pytest.mark.parametrize("cls", [LoadBalancedEndpoint, AsyncLoadBalancedEndpoint])
@pytest.mark.parametrize("name", ["request", "stream"])
def test_request_signatures_name_each_option_with_its_default(cls: type, name: str) -> None:
    parameters = inspect.signature(getattr(cls, name)).parameters
    options = {p.name: p.default for p in parameters.values() if p.kind is p.KEYWORD_ONLY}
    assert list(parameters)[:3] == ["self", "method", "path"]
    assert options == {
        "json": None,
        "content": None,
        "params": None,
        "headers": None,
        "timeout": ...,
        "affinity": None,
        "idempotent": None,
    }


@pytest.mark.parametrize("cls", [LoadBalancedEndpoint, AsyncLoadBalancedEndpoint])
def test_the_default_deadline_covers_the_routers_wait_and_the_processing_limit(
    cls: type,
) -> None:
    # "default 480 s: the router may wait 2 min for a worker, which may then process for
    # 5.5 min" — and None means no limit.
    for options, timeout in (({}, 480.0), ({"timeout": None}, None)):
        ep = cls("abc123", api_key="rpa_secret_value_1234", **options)
        assert ep.timeout == timeout
        if isinstance(ep, LoadBalancedEndpoint):
            ep.close()
        else:
            asyncio.run(ep.aclose())


@pytest.mark.misuse("argument")
@pytest.mark.parametrize(
    ("make", "wrong", "message"),
    [
        (LoadBalancedEndpoint, httpx.AsyncClient, r"http_client must be an httpx\.Client \(use "
         r"AsyncLoadBalancedEndpoint for httpx\.AsyncClient\)"),
        (AsyncLoadBalancedEndpoint, httpx.Client, r"http_client must be an httpx\.AsyncClient "
         r"\(use LoadBalancedEndpoint for httpx\.Client\)"),
        (LoadBalancedEndpoint, dict, r"http_client must be an httpx\.Client"),
    ],
    ids=["sync-given-async", "async-given-sync", "sync-given-dict"],
)  # fmt: skip
def test_an_http_client_of_the_other_kind_is_refused_when_made(
    make: Any, wrong: type, message: str
) -> None:
    """As Endpoint refuses one: a sync client handed an AsyncClient failed at its first call
    with "'coroutine' object has no attribute 'status_code'", and an async one handed a
    blocking Client blocked its event loop on every request."""
    with pytest.raises(InvalidInputError, match=message):
        make("abc123", api_key="rpa_key_0123456789", http_client=wrong())


@pytest.mark.misuse("argument")
def test_a_pinned_session_outside_its_with_block_sends_nothing(lb: LocalLoadBalancer) -> None:
    """Its docstring: "Outside its with block it refuses". Before the block it sent, pinned
    with no end, which is what the block is for: the worker could never go idle."""
    with client(lb) as ep:
        session = ep.pinned()
        with pytest.raises(ClientClosedError, match=r"with ep\.pinned\(\) as session"):
            session.post("/echo", json={})
        with session:
            assert session.post("/echo", json={}).status_code == 200
        with pytest.raises(ClientClosedError, match="has ended"):
            session.post("/echo", json={})
    assert len(lb.requests) == 1


@pytest.mark.misuse("argument")
def test_an_async_pinned_session_outside_its_block_sends_nothing(lb: LocalLoadBalancer) -> None:
    async def main() -> None:
        async with aclient(lb) as ep:
            session = ep.pinned()
            with pytest.raises(ClientClosedError, match=r"async with ep\.pinned\(\) as session"):
                await session.post("/echo", json={})
            async with session:
                assert (await session.post("/echo", json={})).status_code == 200

    asyncio.run(main())
    assert len(lb.requests) == 1
