"""LoadBalancedEndpoint against the local pool through real loopback sockets."""

from __future__ import annotations

import threading
import time

import httpx
import pytest

from runpod_facade import (
    Affinity,
    AffinityTimeoutError,
    AffinityWorkerGoneError,
    APIConnectionError,
    APITimeoutError,
    AuthenticationError,
    ClientClosedError,
    InvalidInputError,
    LoadBalancedEndpoint,
    NotReadyError,
    NoWorkersAvailableError,
    PayloadTooLargeError,
    ProcessingTimeoutError,
    WorkerUnreachableError,
)
from runpod_facade.local import LBFault, LocalLoadBalancer

from .apps import make_app
from .conftest import client

# The deadline of the calls that count resends of refusals: long enough that a first refusal
# of up to ~0.85 s (a loaded host) still leaves room for a resend (see REFUSAL_HEADROOM).
REFUSALS_TIMEOUT = 2.0


def test_reply_is_the_workers_httpx_response(ep: LoadBalancedEndpoint) -> None:
    reply = ep.post("/echo", json={"prompt": "hi"}, params={"q": "1"}, headers={"X-Trace": "t"})
    assert reply.status_code == 200
    assert reply.json() == {"echo": {"prompt": "hi"}, "query": {"q": "1"}}
    assert ep.worker_id(reply) in {"local-worker-0", "local-worker-1"}
    assert reply.headers["X-Runpod-Worker-Id"] == ep.worker_id(reply)


def test_lifespan_runs_once_and_its_state_reaches_every_request(ep: LoadBalancedEndpoint) -> None:
    for _ in range(4):
        assert ep.get("/state").json() == {"model": "loaded", "lifespans": 1}


@pytest.mark.parametrize("status", [400, 404, 422, 500])
def test_a_workers_error_reply_is_returned_not_raised(
    lb: LocalLoadBalancer, ep: LoadBalancedEndpoint, status: int
) -> None:
    reply = ep.post(f"/status/{status}")
    assert reply.status_code == status and reply.json() == {"worker_says": status}
    assert lb.count("POST", f"/status/{status}") == 1  # a POST is never sent twice


def test_a_get_answered_5xx_by_the_worker_is_retried_then_returned(
    lb: LocalLoadBalancer, ep: LoadBalancedEndpoint
) -> None:
    reply = ep.get("/status/503")
    assert reply.status_code == 503
    assert lb.count("GET", "/status/503") == 4  # max_retries=3


def test_wait_ready_and_ping(lb: LocalLoadBalancer, ep: LoadBalancedEndpoint) -> None:
    assert ep.ping().status_code == 200
    reply = ep.wait_ready(timeout=5)
    assert reply.status_code == 200 and ep.worker_id(reply) in lb.worker_ids


def test_stream_passes_sse_through(ep: LoadBalancedEndpoint) -> None:
    with ep.stream("POST", "/sse", json={}) as reply:
        assert reply.headers["content-type"].startswith("text/event-stream")
        assert ep.worker_id(reply) is not None
        events = [line for line in reply.iter_lines() if line]
    assert events == ["data: 0", "data: 1", "data: 2"]


def test_large_reply_is_passed_byte_for_byte(ep: LoadBalancedEndpoint) -> None:
    reply = ep.get("/big", params={"n": 3_000_000})
    assert reply.content == b"x" * 3_000_000


def test_strict_affinity_pins_100_calls_then_gone_is_typed(
    lb: LocalLoadBalancer, ep: LoadBalancedEndpoint
) -> None:
    first = ep.post("/echo", json={})
    pinned = ep.worker_id(first)
    assert pinned is not None
    served = {
        ep.worker_id(ep.post("/echo", json={"i": i}, affinity=Affinity.strict(pinned)))
        for i in range(100)
    }
    assert served == {pinned}
    assert lb.workers[pinned].served == 101
    lb.stop_worker(pinned)
    with pytest.raises(AffinityWorkerGoneError) as info:
        ep.post("/echo", json={}, affinity=f"strict {pinned}")
    assert info.value.worker_id == pinned and info.value.status_code == 404
    # Soft affinity to the gone worker falls back to another one, without an error.
    reply = ep.post("/echo", json={}, affinity=Affinity.soft(pinned))
    assert reply.status_code == 200 and ep.worker_id(reply) not in (None, pinned)


def test_pinned_session_follows_the_first_worker_and_unpins_on_exit(
    lb: LocalLoadBalancer, ep: LoadBalancedEndpoint
) -> None:
    with ep.pinned() as session:
        assert session.affinity is None
        first = ep.worker_id(session.post("/echo", json={}))
        assert session.affinity == Affinity(first or "", "strict")
        assert {ep.worker_id(session.get("/state")) for _ in range(10)} == {first}
        with session.stream("GET", "/sse") as reply:
            assert ep.worker_id(reply) == first
    assert session.worker_id is None
    with pytest.raises(ClientClosedError):
        session.get("/state")
    assert lb.requests[-1].affinity == f"strict {first}"
    ep.get("/state")
    assert lb.requests[-1].affinity is None  # nothing pinned after the block


@pytest.mark.parametrize("mode", ["strict", "soft", "strict-resume"])
def test_pinned_session_given_a_worker_id_sends_its_first_call_there(
    lb: LocalLoadBalancer, ep: LoadBalancedEndpoint, mode: str
) -> None:
    # "the first goes anywhere (or to ``worker_id``)", with ``mode`` affinity.
    target = lb.worker_ids[1]
    with ep.pinned(mode, worker_id=target) as session:  # type: ignore[arg-type]
        assert session.affinity == Affinity(target, mode)  # type: ignore[arg-type]
        assert {ep.worker_id(session.get("/state")) for _ in range(4)} == {target}
    expected = Affinity(target, mode).header_value()  # type: ignore[arg-type]
    assert [r.affinity for r in lb.requests] == [expected] * 4


def test_pinned_session_refuses_an_affinity_of_its_own(ep: LoadBalancedEndpoint) -> None:
    with ep.pinned() as session, pytest.raises(InvalidInputError, match="pinned session"):
        session.get("/state", affinity="w1")


def test_strict_resume_brings_back_a_scaled_down_worker(
    lb: LocalLoadBalancer, ep: LoadBalancedEndpoint
) -> None:
    target = lb.worker_ids[0]
    lb.scale_down(target)
    with pytest.raises(AffinityWorkerGoneError):
        ep.get("/state", affinity=Affinity.strict(target))
    reply = ep.get("/state", affinity=Affinity.strict_resume(target))
    assert ep.worker_id(reply) == target


def test_strict_affinity_to_a_busy_worker_times_out_typed() -> None:
    with LocalLoadBalancer(make_app(), workers=2, capacity=1, affinity_wait=0.2) as lb:
        target = lb.worker_ids[0]
        with client(lb) as ep, client(lb) as other:
            busy = threading.Thread(
                target=other.get, args=("/slow",), kwargs={"params": {"s": 1.0}, "affinity": target}
            )
            busy.start()
            try:
                while lb.workers[target].in_flight == 0:
                    time.sleep(0.005)
                with pytest.raises(AffinityTimeoutError) as info:
                    ep.get("/state", affinity=Affinity.strict(target))
                assert info.value.worker_id == target
                # Soft affinity to the busy worker goes elsewhere at once.
                soft = ep.get("/state", affinity=Affinity.soft(target))
                assert ep.worker_id(soft) != target
            finally:
                busy.join()


def test_capacity_per_worker_then_no_workers_available() -> None:
    with LocalLoadBalancer(make_app(), workers=1, capacity=1, no_worker_wait=0.1) as lb:
        (worker,) = lb.worker_ids
        with client(lb) as ep, client(lb, timeout=0.3) as impatient:
            busy = threading.Thread(target=ep.get, args=("/slow",), kwargs={"params": {"s": 1}})
            busy.start()
            try:
                while lb.workers[worker].in_flight == 0:
                    time.sleep(0.005)
                # The one slot is taken: the router waits no_worker_wait, then refuses; the
                # client resends within its deadline, and its error says no worker was ready
                # (the refusal itself, or the timeout of the attempt that crossed the deadline).
                with pytest.raises((NoWorkersAvailableError, APITimeoutError)) as info:
                    impatient.post("/echo", json={})
                assert "no worker" in str(info.value)
            finally:
                busy.join()
            assert ep.post("/echo", json={}).status_code == 200
        assert lb.count("POST", "/echo") == 1


def test_a_lost_post_reply_is_not_sent_twice_unless_idempotent(
    lb: LocalLoadBalancer, ep: LoadBalancedEndpoint
) -> None:
    lb.faults.add(LBFault("drop_after", "/count", "POST"))
    with pytest.raises(APIConnectionError) as info:
        ep.post("/count", json={})
    assert info.value.request_sent is True
    assert lb.count("POST", "/count") == 1
    lb.faults.add(LBFault("drop_after", "/count", "POST"))
    reply = ep.post("/count", json={}, idempotent=True)
    assert reply.json() == {"count": 3}  # processed twice: the lost attempt and the resend
    assert lb.count("POST", "/count") == 3
    lb.faults.add(LBFault("drop_after", "/count", "GET"))
    assert ep.get("/count").json() == {"count": 2}


@pytest.mark.parametrize(
    ("kind", "error"),
    [("no_workers", NoWorkersAvailableError), ("bad_gateway", WorkerUnreachableError)],
)
def test_replies_no_worker_saw_are_retried_for_a_post(
    lb: LocalLoadBalancer, ep: LoadBalancedEndpoint, kind: str, error: type[Exception]
) -> None:
    lb.faults.add(LBFault(kind, "/count", times=2))  # type: ignore[arg-type]
    assert ep.post("/count", json={}).json() == {"count": 1}
    refused = 400 if kind == "no_workers" else 502
    assert [r.status_code for r in lb.requests] == [refused, refused, 200]
    lb.faults.add(LBFault(kind, "/count", times=None))  # type: ignore[arg-type]
    # A resend needs room for a refusal slower than the slowest so far (REFUSAL_HEADROOM):
    # at 0.5 s a first refusal of 0.2 s, common on a loaded host, allowed none at all.
    with client(lb, timeout=REFUSALS_TIMEOUT) as short, pytest.raises(error) as info:
        short.post("/count", json={})
    assert info.value.attempts > 2  # type: ignore[attr-defined]
    assert lb.count("POST", "/count") == 1


def test_no_workers_available_after_the_routers_wait() -> None:
    with LocalLoadBalancer(make_app(), workers=0, no_worker_wait=0.05) as lb:
        with (
            client(lb, timeout=REFUSALS_TIMEOUT) as ep,
            pytest.raises(NoWorkersAvailableError) as info,
        ):
            ep.post("/echo", json={})
        assert info.value.status_code == 400 and info.value.worker_id is None
        assert info.value.attempts >= 2
        # A worker arrives: the same call now succeeds.
        lb.add_worker(cold_start=0)
        with client(lb, timeout=2) as ep:
            assert ep.post("/echo", json={"a": 1}).status_code == 200


def test_processing_timeout_is_typed_and_a_post_is_not_resent() -> None:
    with LocalLoadBalancer(make_app(), processing_limit=0.1) as lb, client(lb) as ep:
        with pytest.raises(ProcessingTimeoutError) as info:
            ep.post("/slow", params={"s": 1})
        assert info.value.status_code == 524 and info.value.worker_id == "local-worker-0"
        assert lb.count("POST", "/slow") == 1


def test_the_routers_request_limit_is_typed() -> None:
    with (
        LocalLoadBalancer(make_app(), max_request_bytes=1000) as lb,
        client(lb) as ep,
        pytest.raises(PayloadTooLargeError),
    ):
        ep.post("/echo", content=b"x" * 2000)


def test_a_reply_over_the_response_limit_is_cut() -> None:
    with LocalLoadBalancer(make_app(), max_response_bytes=1000) as lb, client(lb) as ep:
        with pytest.raises(APIConnectionError):
            ep.request("GET", "/big", params={"n": 5000}, idempotent=False)
        assert ep.get("/big", params={"n": 500}).content == b"x" * 500


@pytest.mark.misuse("key")
def test_a_wrong_key_is_an_authentication_error_without_the_key(lb: LocalLoadBalancer) -> None:
    secret = "rpa_wrong_key_0123456789"
    with client(lb, api_key=secret) as ep:
        with pytest.raises(AuthenticationError) as info:
            ep.get("/state")
        assert secret not in str(info.value) and secret not in repr(info.value)
        with pytest.raises(AuthenticationError):
            ep.wait_ready(timeout=2)
    assert all(r.worker_id is None for r in lb.requests)


def test_wait_ready_times_out_with_the_sdks_timeout_error() -> None:
    with LocalLoadBalancer(make_app(), cold_start=30) as lb, client(lb) as ep:
        with pytest.raises(NotReadyError) as info:
            ep.wait_ready(timeout=0.3)
        assert isinstance(info.value, TimeoutError)
        assert info.value.last_status == 204 and info.value.polls > 3


def test_connection_refused_is_retried_then_raised() -> None:
    with LocalLoadBalancer(make_app()) as lb:
        url, key = lb.url, lb.api_key
    with LoadBalancedEndpoint("x", base_url=url, api_key=key, timeout=2, max_retries=1) as ep:
        with pytest.raises(APIConnectionError) as info:
            ep.post("/echo", json={})
        assert info.value.request_sent is False
        assert "2 attempts" in str(info.value)


def test_openai_client_on_the_endpoint(lb: LocalLoadBalancer, ep: LoadBalancedEndpoint) -> None:
    import openai

    with openai.OpenAI(base_url=ep.openai_base_url, api_key=lb.api_key, max_retries=0) as oa:
        reply = oa.chat.completions.create(
            model="local-model", messages=[{"role": "user", "content": "hello"}]
        )
    assert reply.choices[0].message.content == "echo: hello"
    assert lb.requests[-1].path == "/v1/chat/completions" and lb.requests[-1].worker_id


def test_closed_client_refuses(lb: LocalLoadBalancer) -> None:
    ep = client(lb)
    ep.close()
    with pytest.raises(ClientClosedError):
        ep.get("/state")


#: LBFault (path, method) -> which of REQUESTS it spoils, as its docstring says: ``"*"`` any,
#: a path ending in ``*`` by prefix, anything else exactly.
REQUESTS = [("GET", "/count"), ("POST", "/count"), ("POST", "/echo"), ("GET", "/state")]
FAULT_MATCHES: dict[tuple[str, str], list[bool]] = {
    ("*", "*"): [True, True, True, True],
    ("/co*", "*"): [True, True, False, False],
    ("/count", "*"): [True, True, False, False],
    ("/count", "POST"): [False, True, False, False],
    ("*", "GET"): [True, False, False, True],
    ("/cou", "*"): [False, False, False, False],
}


@pytest.mark.parametrize(("path", "method"), list(FAULT_MATCHES))
def test_a_fault_spoils_the_requests_its_path_and_method_match(
    lb: LocalLoadBalancer, path: str, method: str
) -> None:
    lb.faults.add(LBFault("bad_gateway", path, method, times=None))
    with httpx.Client(base_url=lb.url, headers={"Authorization": f"Bearer {lb.api_key}"}) as raw:
        for verb, route in REQUESTS:
            raw.request(verb, route, json={} if verb == "POST" else None)
    assert [r.fault == "bad_gateway" for r in lb.requests] == FAULT_MATCHES[path, method]
    assert [r.status_code == 502 for r in lb.requests] == FAULT_MATCHES[path, method]


@pytest.mark.parametrize(("rate", "fewest", "most"), [(0.0, 0, 0), (0.5, 1, 39), (1.0, 40, 40)])
def test_a_faults_rate_is_the_chance_it_fires(
    lb: LocalLoadBalancer, rate: float, fewest: int, most: int
) -> None:
    lb.faults.add(LBFault("bad_gateway", "/count", times=None, rate=rate))
    with httpx.Client(base_url=lb.url, headers={"Authorization": f"Bearer {lb.api_key}"}) as raw:
        spoiled = [raw.get("/count").status_code for _ in range(40)].count(502)
    assert fewest <= spoiled <= most  # the pool's faults are seeded (fault_seed=0): stable


@pytest.mark.parametrize(("timeout", "ok"), [("default", False), (None, True), (5.0, True)])
def test_a_calls_timeout_defaults_to_the_clients_and_none_means_no_limit(
    lb: LocalLoadBalancer, timeout: float | str | None, ok: bool
) -> None:
    options = {} if timeout == "default" else {"timeout": timeout}
    with client(lb, timeout=0.2) as ep:
        if ok:
            assert ep.get("/slow", params={"s": "0.5"}, **options).json() == {"slept": True}
        else:
            with pytest.raises(APITimeoutError):
                ep.get("/slow", params={"s": "0.5"}, **options)


@pytest.mark.parametrize("pool", ["own", "passed in"])
def test_close_is_idempotent_and_leaves_a_passed_in_client_open(
    lb: LocalLoadBalancer, pool: str
) -> None:
    http = httpx.Client() if pool == "passed in" else None
    ep = client(lb, **({} if http is None else {"http_client": http}))
    assert ep.get("/state").status_code == 200
    ep.close()
    ep.close()  # idempotent
    with pytest.raises(ClientClosedError):
        ep.get("/state")
    if http is not None:
        assert not http.is_closed and http.get(f"{lb.url}/ping").status_code in (200, 401)
        http.close()
    else:
        assert ep._http.is_closed  # white-box: the pool it made itself is closed


def test_a_request_is_counted_served_once_its_reply_is_in(
    lb: LocalLoadBalancer, ep: LoadBalancedEndpoint
) -> None:
    # LocalLoadBalancer.workers: "``served`` counts the requests each finished" — so a
    # client holding the whole reply sees it counted, with no wait.
    target = lb.worker_ids[0]
    for count in range(1, 51):
        ep.post("/echo", json={"i": count}, affinity=Affinity.strict(target))
        assert lb.workers[target].served == count
