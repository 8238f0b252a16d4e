"""The clients' loops over httpx.MockTransport with a fake clock and a fake sleep: the exact
requests sent, the backoff slept, and the deadline kept, with no socket and no real waiting."""

from __future__ import annotations

import copy
import inspect
import pickle
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import timedelta
from typing import Any, TypeVar

import httpx
import pytest

from runpod_facade import (
    Affinity,
    AffinityTimeoutError,
    AffinityWorkerGoneError,
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AsyncLoadBalancedEndpoint,
    AuthenticationError,
    LBRetryPolicy,
    LoadBalancedEndpoint,
    NotReadyError,
    NoWorkersAvailableError,
    PermissionDeniedError,
    PlatformError,
    ProcessingTimeoutError,
    WorkerUnreachableError,
)

URL = "https://abc123.api.runpod.ai"
KEY = "rpa_mocked_key_0123456789"
POLICY = LBRetryPolicy(max_retries=2, initial_delay=0.1, max_delay=1.0, jitter=0.0)

Reply = httpx.Response | type[Exception]


E = TypeVar("E", LoadBalancedEndpoint, AsyncLoadBalancedEndpoint)


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(round(seconds, 6))
        self.now += seconds

    async def asleep(self, seconds: float) -> None:
        self.sleep(seconds)

    def drive(self, ep: E) -> E:
        """``ep`` reading this clock and sleeping on it (a client's own test hooks)."""
        ep._clock = self.clock
        if isinstance(ep, AsyncLoadBalancedEndpoint):
            ep._sleep = self.asleep
        else:
            ep._sleep = self.sleep
        return ep


def no_workers() -> httpx.Response:
    return httpx.Response(400, json={"error": "no workers available"})


def ok(worker: str = "w1") -> httpx.Response:
    return httpx.Response(200, json={"ok": True}, headers={"X-Runpod-Worker-Id": worker})


class Script:
    """Answers requests from a list (the last answer repeats); records what was sent."""

    def __init__(self, replies: list[Reply]) -> None:
        self.replies = replies
        self.sent: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.sent.append(request)
        reply = self.replies[min(len(self.sent), len(self.replies)) - 1]
        if isinstance(reply, type):
            raise reply("scripted", request=request)  # type: ignore[call-arg]
        return reply


Make = Callable[[list[Reply]], tuple[LoadBalancedEndpoint, Script]]


@pytest.fixture
def fake() -> FakeTime:
    return FakeTime()


@pytest.fixture
def make(fake: FakeTime) -> Iterator[Make]:
    clients: list[LoadBalancedEndpoint] = []

    def build(replies: list[Reply]) -> tuple[LoadBalancedEndpoint, Script]:
        script = Script(replies)
        http = httpx.Client(base_url="http://elsewhere", transport=httpx.MockTransport(script))
        ep = fake.drive(
            LoadBalancedEndpoint(
                "abc123", api_key=KEY, timeout=10, retry_policy=POLICY, http_client=http
            )
        )
        clients.append(ep)
        return ep, script

    yield build
    for ep in clients:
        ep.close()


def test_cold_start_replies_are_resent_with_backoff(make: Make, fake: FakeTime) -> None:
    ep, script = make([no_workers(), no_workers(), httpx.Response(502, text="<html/>"), ok()])
    reply = ep.post("/generate", json={"p": 1})
    assert reply.status_code == 200
    assert len(script.sent) == 4 and fake.slept == [0.1, 0.2, 0.4]
    assert {r.content for r in script.sent} == {b'{"p":1}'}


def test_cold_start_gives_up_before_the_deadline(make: Make, fake: FakeTime) -> None:
    ep, script = make([no_workers()])
    with pytest.raises(NoWorkersAvailableError) as info:
        ep.post("/generate", json={}, timeout=2.0)
    # 0.1 + 0.2 + 0.4 + 0.8 = 1.5 s slept; the next backoff (1.0) would pass the deadline.
    assert fake.slept == [0.1, 0.2, 0.4, 0.8]
    assert info.value.attempts == len(script.sent) == 5
    ep2, _ = make([httpx.Response(502, text="bad gateway")])
    with pytest.raises(WorkerUnreachableError):
        ep2.get("/x", timeout=0.05)


def test_each_attempt_gets_what_is_left_of_the_deadline(make: Make, fake: FakeTime) -> None:
    ep, script = make([no_workers(), ok()])
    ep.post("/generate", json={}, timeout=5.0)
    first, second = (r.extensions["timeout"] for r in script.sent)
    assert first["read"] == 5.0 and second["read"] == pytest.approx(4.9)
    assert first["connect"] == 5.0


@pytest.mark.parametrize(
    ("method", "idempotent", "sends"),
    [("POST", None, 1), ("POST", True, 3), ("GET", None, 3), ("GET", False, 1)],
)
def test_a_lost_reply_is_resent_only_when_repeatable(
    make: Make, method: str, idempotent: bool | None, sends: int
) -> None:
    ep, script = make([httpx.ReadError])
    with pytest.raises(APIConnectionError) as info:
        ep.request(method, "/x", idempotent=idempotent)
    assert info.value.request_sent is True
    assert len(script.sent) == sends


def test_a_refused_connection_is_resent_for_a_post(make: Make) -> None:
    ep, script = make([httpx.ConnectError, ok()])
    assert ep.post("/x", json={}).status_code == 200
    assert len(script.sent) == 2


def test_a_read_timeout_of_a_post_is_the_timeout_error_sent_once(make: Make) -> None:
    ep, script = make([httpx.ReadTimeout])
    with pytest.raises(APITimeoutError) as info:
        ep.post("/x", json={})
    assert info.value.request_sent is True and len(script.sent) == 1


def test_worker_5xx_and_524(make: Make) -> None:
    gateway = httpx.Response(524, text="", headers={"X-Runpod-Worker-Id": "w7"})
    ep, script = make([gateway])
    with pytest.raises(ProcessingTimeoutError) as info:
        ep.post("/x", json={})
    assert info.value.worker_id == "w7" and len(script.sent) == 1
    ep, script = make([httpx.Response(503, text="busy")])
    assert ep.get("/x").status_code == 503 and len(script.sent) == 3


@pytest.mark.parametrize(
    ("affinity", "header"),
    [
        (Affinity.soft("pod-1"), "pod-1"),
        (Affinity.strict("pod-1"), "strict pod-1"),
        (Affinity.strict_resume("pod-1"), "strict-resume pod-1"),
        ("strict pod-2", "strict pod-2"),
        (None, None),
    ],
)
def test_headers_sent(make: Make, affinity: Affinity | str | None, header: str | None) -> None:
    ep, script = make([ok()])
    ep.get("/x", affinity=affinity)
    sent = script.sent[0]
    assert sent.headers.get("X-Runpod-Worker-Id") == header
    assert sent.headers["Authorization"] == f"Bearer {KEY}"
    assert sent.url == httpx.URL(f"{URL}/x")  # the endpoint URL, whatever the client's base
    assert KEY not in repr(ep)


@pytest.mark.parametrize(
    ("status", "error"),
    [(401, AuthenticationError), (403, PermissionDeniedError)],
    ids=["401", "403"],
)
def test_the_router_s_auth_refusals_raise_the_error_of_their_status(
    make: Make, status: int, error: type[APIStatusError]
) -> None:
    """The error tree of the queue API: 401 AuthenticationError, 403 PermissionDeniedError
    (which is not an AuthenticationError); neither is resent."""
    ep, script = make([httpx.Response(status, json={"error": "refused"})])
    with pytest.raises(APIStatusError) as info:
        ep.get("/x")
    assert type(info.value) is error and info.value.status_code == status
    assert len(script.sent) == 1 and KEY not in str(info.value)


def test_every_timeout_takes_a_timedelta(fake: FakeTime) -> None:
    """README: durations are seconds or a timedelta everywhere, this client's included."""
    script = Script([ok()])
    http = httpx.Client(base_url=URL, transport=httpx.MockTransport(script))
    with fake.drive(
        LoadBalancedEndpoint("abc123", api_key=KEY, timeout=timedelta(seconds=7), http_client=http)
    ) as ep:
        ep.get("/a")
        ep.get("/b", timeout=timedelta(milliseconds=1500))
        ep.wait_ready(timeout=timedelta(seconds=2))
    reads = [r.extensions["timeout"]["read"] for r in script.sent]
    assert reads == [7.0, 1.5, 2.0]
    late = Script([httpx.Response(204)])
    http = httpx.Client(base_url=URL, transport=httpx.MockTransport(late))
    ep = fake.drive(LoadBalancedEndpoint("abc123", api_key=KEY, http_client=http))
    with ep, pytest.raises(NotReadyError, match=r"within 0\.5s"):
        ep.wait_ready(timeout=timedelta(milliseconds=500))
    hints = [LoadBalancedEndpoint.__init__, LoadBalancedEndpoint.wait_ready,
             AsyncLoadBalancedEndpoint.__init__, AsyncLoadBalancedEndpoint.wait_ready]  # fmt: skip
    for method in hints:
        assert "timedelta" in str(inspect.signature(method).parameters["timeout"].annotation)


def test_ping_is_one_request_whatever_the_reply(make: Make) -> None:
    ep, script = make([no_workers()])
    reply = ep.ping()
    assert reply.status_code == 400 and len(script.sent) == 1
    ep, script = make([httpx.ConnectError])
    with pytest.raises(APIConnectionError) as info:
        ep.ping()
    assert info.value.request_sent is False and len(script.sent) == 1


def test_wait_ready_on_a_fake_clock(make: Make, fake: FakeTime) -> None:
    ep, script = make([no_workers(), httpx.Response(204), httpx.Response(204), ok("w3")])
    reply = ep.wait_ready(timeout=5)
    assert ep.worker_id(reply) == "w3" and len(script.sent) == 4
    assert fake.slept == [0.1, POLICY.ready_interval, POLICY.ready_interval]
    ep, _ = make([httpx.Response(204)])
    with pytest.raises(NotReadyError) as info:
        ep.wait_ready(timeout=1)
    assert fake.now == pytest.approx(1.0 + 0.105, abs=0.2)  # stopped at the deadline
    assert info.value.last_status == 204


async def test_async_client_follows_the_same_rules(fake: FakeTime) -> None:
    script = Script([no_workers(), httpx.ReadError])
    async with fake.drive(
        AsyncLoadBalancedEndpoint(
            "abc123",
            api_key=KEY,
            retry_policy=POLICY,
            http_client=httpx.AsyncClient(base_url=URL, transport=httpx.MockTransport(script)),
        )
    ) as ep:
        with pytest.raises(APIConnectionError):
            await ep.post("/x", json={})
        assert len(script.sent) == 2 and fake.slept == [0.1]


async def _body() -> AsyncIterator[bytes]:
    yield b"one;"
    yield b"two"


@pytest.mark.parametrize("leave", ["read to the end", "closed early", "after a cold start"])
async def test_a_streamed_body_counts_in_flight_until_it_ends(fake: FakeTime, leave: str) -> None:
    """While a streamed body is open the loop waits on it as on a reply: the client counts
    it in flight (what keeps the waker armed, ``_transports.wakeup``) until httpx closes it
    at its end or the caller does, whichever comes first; a discarded reply ends too."""
    replies = [no_workers] if leave == "after a cold start" else []

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/gone":
            raise httpx.ConnectError("refused", request=request)
        return replies.pop(0)() if replies else httpx.Response(200, content=_body())

    http = httpx.AsyncClient(base_url=URL, transport=httpx.MockTransport(answer))
    async with fake.drive(
        AsyncLoadBalancedEndpoint("abc123", api_key=KEY, retry_policy=POLICY, http_client=http)
    ) as ep:
        async with ep.stream("POST", "/gen", json={}) as reply:
            assert ep._in_flight.count == 1
            chunks = reply.aiter_raw()
            assert await anext(chunks) == b"one;"
            assert ep._in_flight.count == 1
            if leave == "read to the end":
                assert [chunk async for chunk in chunks] == [b"two"]
                assert ep._in_flight.count == 0  # before the block ends
        assert ep._in_flight.count == 0
        await reply.aclose()  # closed already: counted once
        assert ep._in_flight.count == 0
        with pytest.raises(APIConnectionError):
            async with ep.stream("GET", "/gone"):
                pass
        assert ep._in_flight.count == 0


def test_resends_are_logged_without_secrets(make: Make, caplog: pytest.LogCaptureFixture) -> None:
    ep, _ = make([no_workers(), ok()])
    with caplog.at_level("DEBUG", logger="runpod_facade"):
        ep.post("/generate", json={"secret_prompt": KEY})
    lines = [r.getMessage() for r in caplog.records]
    assert lines == [
        "load-balancing POST /generate: attempt 1 got HTTP 400; sending again in 0.100 s"
    ]
    assert all(KEY not in line for line in lines)


def test_public_names_live_in_runpod_facade() -> None:
    import runpod_facade

    names = [
        "Affinity",
        "AffinityTimeoutError",
        "AffinityWorkerGoneError",
        "AsyncLoadBalancedEndpoint",
        "AsyncPinnedSession",
        "LBRetryPolicy",
        "LoadBalancedEndpoint",
        "NoWorkersAvailableError",
        "NotReadyError",
        "PinnedSession",
        "PlatformError",
        "ProcessingTimeoutError",
        "RequestTooLargeError",
        "WorkerUnreachableError",
    ]
    for name in names:
        assert name in runpod_facade.__all__, name
        assert getattr(runpod_facade, name).__module__ == "runpod_facade", name


@pytest.mark.parametrize(
    "cls",
    [
        AffinityTimeoutError,
        AffinityWorkerGoneError,
        NoWorkersAvailableError,
        ProcessingTimeoutError,
        WorkerUnreachableError,
    ],
)
def test_a_platform_error_keeps_every_field_and_pickles_whole(cls: type[PlatformError]) -> None:
    """The reply's fields and the router's worker and attempts all reach the error, and a
    pickled copy (a worker process handing it back) carries every one of them."""
    error = cls(
        "router said no",
        status_code=502,
        body='{"error": "x"}',
        headers={"X-Runpod-Worker-Id": "w-1"},
        operation="POST /generate",
        job_id="j-1",
        worker_id="w-1",
        attempts=3,
    )
    fields = {
        "status_code": 502,
        "body": '{"error": "x"}',
        "headers": {"X-Runpod-Worker-Id": "w-1"},
        "operation": "POST /generate",
        "job_id": "j-1",
        "worker_id": "w-1",
        "attempts": 3,
    }
    copy = pickle.loads(pickle.dumps(error))
    for found in (error, copy):
        assert type(found) is type(error)
        assert {name: getattr(found, name) for name in fields} == fields
        assert str(found) == str(error)
    assert str(error).endswith("router said no [worker w-1] after 3 attempts")


@pytest.mark.misuse("key")
@pytest.mark.parametrize(
    "make", [LoadBalancedEndpoint, AsyncLoadBalancedEndpoint], ids=["sync", "async"]
)
def test_the_key_is_in_no_repr_of_the_client_s_state(make: Any) -> None:
    """A traceback that shows locals (pytest -l, rich, Sentry) prints the client's
    attributes: the settings showed the Authorization header whole, while ``Endpoint``'s
    settings mask the key."""
    ep = make("abc123", api_key=KEY)
    shown = [repr(ep), repr(ep._settings), *(repr(value) for value in vars(ep).values())]
    assert not [text for text in shown if KEY in text]
    assert ep._settings.headers["Authorization"] == f"Bearer {KEY}"  # still sent


@pytest.mark.parametrize(
    "make", [LoadBalancedEndpoint, AsyncLoadBalancedEndpoint], ids=["sync", "async"]
)
@pytest.mark.parametrize(
    "copier", [pickle.dumps, copy.copy, copy.deepcopy], ids=lambda f: f.__name__
)
def test_a_client_refuses_to_be_pickled_or_copied_as_endpoint_does(
    make: Any, copier: Callable[[object], object]
) -> None:
    """README: clients refuse to be pickled. This one failed on an internal lock ("cannot
    pickle '_thread.RLock' object"), and a shallow copy shared its connection pool."""
    ep = make("abc123", api_key=KEY)
    with pytest.raises(TypeError, match=f"^{make.__name__} cannot be pickled") as info:
        copier(ep)
    assert KEY not in str(info.value)
