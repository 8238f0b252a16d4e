"""Malformed input to the façade: each case fails with InvalidInputError (a ValueError) and a
message naming the problem, before any request is sent."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest

from runpod_facade import (
    AsyncEndpoint,
    CreatedBatch,
    Endpoint,
    ExecutionPolicy,
    InvalidInputError,
    JobState,
    LoadBalancedEndpoint,
    S3Config,
)
from tests._support.fakeapi import API_KEY, FakeApi, job

Case = tuple[str, Callable[[Endpoint], Any], str]

_cycle: dict[str, Any] = {}
_cycle["self"] = _cycle
_deep: Any = []
for _ in range(100_000):
    _deep = [_deep]

ONE_MIB = 1024 * 1024

CALLS: list[Case] = [
    # ids
    ("empty job id", lambda ep: ep.status(""), "job_id must not be empty"),
    ("blank job id", lambda ep: ep.status("   "), "job_id must not be empty"),
    ("job id None", lambda ep: ep.status(None), "job_id must be a string"),  # type: ignore[arg-type]
    ("job id int", lambda ep: ep.cancel(123), "job_id must be a string"),  # type: ignore[arg-type]
    ("job id with newline", lambda ep: ep.status("a\nb"), "whitespace or control"),
    ("job id with space", lambda ep: ep.retry("a b"), "whitespace or control"),
    ("job id with NUL", lambda ep: ep.status("a\x00b"), "whitespace or control"),
    ("job id dot-dot", lambda ep: ep.status(".."), "must not be '..'"),
    ("job id too long", lambda ep: ep.status("x" * 600), "too long"),
    ("job handle empty", lambda ep: ep.job(""), "job_id must not be empty"),
    ("stream empty id", lambda ep: ep.stream(""), "job_id must not be empty"),
    ("wait empty id", lambda ep: ep.wait(""), "job_id must not be empty"),
    # inputs
    ("input with a set", lambda ep: ep.run({"a": {1, 2}}), "JSON-serializable"),
    ("input with bytes", lambda ep: ep.run({"a": b"raw"}), "JSON-serializable"),
    ("input with object", lambda ep: ep.run(object()), "JSON-serializable"),
    ("input with NaN", lambda ep: ep.run({"x": math.nan}), "JSON-serializable"),
    ("input with inf", lambda ep: ep.run({"x": math.inf}), "JSON-serializable"),
    ("input with cycle", lambda ep: ep.run(_cycle), "JSON-serializable"),
    ("input nested too deep", lambda ep: ep.run(_deep), "nested too deeply"),
    ("input with non-str key", lambda ep: ep.run({("a",): 1}), "JSON-serializable"),
    ("run payload over 10 MiB", lambda ep: ep.run("x" * (10 * ONE_MIB)), "at most 10,485,760"),
    (
        "runsync payload over 20 MiB",
        lambda ep: ep.run_sync("x" * (20 * ONE_MIB)),
        "at most 20,971,520",
    ),
    (
        "run_sync payload over 10 MiB, submitted with /run (cancel_on_interrupt)",
        lambda ep: ep.run_sync("x" * (10 * ONE_MIB), cancel_on_interrupt=True),
        "run payload is 10,485,772 bytes; the API accepts at most 10,485,760",
    ),
    (
        "run_sync payload over 10 MiB, submitted with /run (deadline under the minimum hold)",
        lambda ep: ep.run_sync("x" * (10 * ONE_MIB), timeout=1.2),
        "run payload is 10,485,772 bytes; the API accepts at most 10,485,760",
    ),
    # policies
    (
        "execution_timeout too small",
        lambda ep: ep.run({}, policy=ExecutionPolicy(execution_timeout=1)),
        "between 5 s and 7 days",
    ),
    (
        "execution_timeout too large",
        lambda ep: ep.run({}, policy=ExecutionPolicy(execution_timeout=timedelta(days=8))),
        "between 5 s and 7 days",
    ),
    (
        "ttl too small",
        lambda ep: ep.run({}, policy=ExecutionPolicy(ttl=5)),
        "between 10 s and 7 days",
    ),
    (
        "ttl negative",
        lambda ep: ep.run({}, policy=ExecutionPolicy(ttl=-10)),
        "must not be negative",
    ),
    ("ttl NaN", lambda ep: ep.run({}, policy=ExecutionPolicy(ttl=math.nan)), "finite"),
    ("ttl as string", lambda ep: ep.run({}, policy=ExecutionPolicy(ttl="60")), "seconds"),  # type: ignore[arg-type]
    ("ttl as bool", lambda ep: ep.run({}, policy=ExecutionPolicy(ttl=True)), "seconds"),
    (
        "low_priority not bool",
        lambda ep: ep.run({}, policy=ExecutionPolicy(low_priority="yes")),
        "low_priority must be a bool",
    ),  # type: ignore[arg-type]
    (
        "policy as dict",
        lambda ep: ep.run({}, policy={"ttl": 60}),
        "policy must be an ExecutionPolicy",
    ),  # type: ignore[arg-type]
    (
        "s3 config as dict",
        lambda ep: ep.run({}, s3_config={"accessId": "a"}),
        "s3_config must be an S3Config",
    ),  # type: ignore[arg-type]
    (
        "s3 config empty secret",
        lambda ep: ep.run({}, s3_config=S3Config("a", "", "b", "https://s3")),
        "access_secret",
    ),
    # webhooks
    ("webhook empty", lambda ep: ep.run({}, webhook=""), "webhook must be a non-empty URL"),
    ("webhook relative", lambda ep: ep.run({}, webhook="/hook"), "absolute http(s) URL"),
    ("webhook ftp", lambda ep: ep.run({}, webhook="ftp://example.com/x"), "absolute http(s) URL"),
    ("webhook with space", lambda ep: ep.run({}, webhook="https://example.com/a b"), "whitespace"),
    ("webhook not str", lambda ep: ep.run({}, webhook=42), "webhook must be a non-empty URL"),  # type: ignore[arg-type]
    # timeouts
    ("wait timeout negative", lambda ep: ep.job("j").wait(timeout=-1), "must not be negative"),
    ("wait timeout NaN", lambda ep: ep.job("j").wait(timeout=math.nan), "finite"),
    ("wait timeout string", lambda ep: ep.job("j").wait(timeout="10"), "seconds"),  # type: ignore[arg-type]
    ("wait timeout inf", lambda ep: ep.job("j").wait(timeout=math.inf), "finite"),
    ("wait timeout bool", lambda ep: ep.job("j").wait(timeout=True), "seconds"),
    ("run_sync timeout inf", lambda ep: ep.run_sync({}, timeout=math.inf), "finite"),
    (
        "stream idle timeout negative",
        lambda ep: ep.stream("j", idle_timeout=-5),
        "must not be negative",
    ),
    ("status ttl zero", lambda ep: ep.status("j", ttl=0), "at least 1 ms"),
]

CONSTRUCTORS: list[tuple[str, Callable[[], Any], str]] = [
    ("no endpoint id", lambda: Endpoint(api_key=API_KEY), "no endpoint id"),
    ("empty endpoint id", lambda: Endpoint("", api_key=API_KEY), "endpoint_id must not be empty"),
    ("endpoint id with slash space", lambda: Endpoint("a b", api_key=API_KEY), "whitespace"),
    ("no api key for the real API", lambda: Endpoint("ep"), "no API key"),
    ("empty api key", lambda: Endpoint("ep", api_key=""), "api_key must not be empty"),
    ("api key with newline", lambda: Endpoint("ep", api_key="k\nX: y"), "whitespace or control"),
    (
        "base url without scheme",
        lambda: Endpoint("ep", api_key=API_KEY, base_url="api.runpod.ai/v2"),
        "http(s) URL",
    ),
    (
        "base url ftp",
        lambda: Endpoint("ep", api_key=API_KEY, base_url="ftp://api.runpod.ai"),
        "http(s) URL",
    ),
    (
        "base url with credentials",
        lambda: Endpoint("ep", api_key=API_KEY, base_url="https://u:p@api.runpod.ai/v2"),
        "credentials",
    ),
    (
        "base url with query",
        lambda: Endpoint("ep", api_key=API_KEY, base_url="https://api.runpod.ai/v2?x=1"),
        "query",
    ),
    (
        "plain http to remote",
        lambda: Endpoint("ep", api_key=API_KEY, base_url="http://10.1.2.3/v2"),
        "unencrypted",
    ),
    (
        "negative max_retries",
        lambda: Endpoint("ep", api_key=API_KEY, max_retries=-1),
        "max_retries",
    ),
    (
        "timeout zero",
        lambda: Endpoint("ep", api_key=API_KEY, timeout=0),
        "timeout must be positive",
    ),
    ("timeout string", lambda: Endpoint("ep", api_key=API_KEY, timeout="5"), "timeout must be"),  # type: ignore[arg-type]
    (
        "wrong http client type",
        lambda: Endpoint("ep", api_key=API_KEY, http_client=httpx.AsyncClient()),
        "httpx.Client",
    ),  # type: ignore[arg-type]
]


@pytest.mark.parametrize(("name", "call", "message"), CALLS, ids=[c[0] for c in CALLS])
def test_bad_call_fails_before_any_request(
    name: str, call: Callable[[Endpoint], Any], message: str
) -> None:
    api = FakeApi().on("run", job("IN_QUEUE")).on("runsync", job("COMPLETED"))
    api.on("status", job("COMPLETED")).on("status-sync", job("COMPLETED"))
    ep = api.endpoint()
    with pytest.raises(InvalidInputError) as info:
        result = call(ep)
        if hasattr(result, "__next__"):
            next(result)
    assert message in str(info.value)
    assert isinstance(info.value, ValueError)
    assert api.requests == [], f"{name}: a request was sent"


@pytest.mark.parametrize(
    ("name", "make", "message"), CONSTRUCTORS, ids=[c[0] for c in CONSTRUCTORS]
)
def test_bad_configuration(
    name: str, make: Callable[[], Any], message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for var in ("RUNPOD_API_KEY", "RUNPOD_ENDPOINT_ID", "RUNPOD_BASE_URL"):
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(InvalidInputError) as info:
        make()
    assert message in str(info.value)
    assert API_KEY not in str(info.value)


def test_counts() -> None:
    assert len(CALLS) + len(CONSTRUCTORS) >= 40


# --- a flag that is not a bool ---------------------------------------------------------------
# A truthy string read as True turned ``return_exceptions="no"`` into yes, and
# ``allow_insecure_http="false"`` into sending the key over plain http to a remote host.

FLAGS: list[tuple[str, Callable[[Any], Any], str]] = [
    ("wait cancel_on_timeout", lambda ep: ep.wait("j", cancel_on_timeout="yes"), "cancel_on_timeout"),
    ("job.wait cancel_on_interrupt", lambda ep: ep.job("j").wait(cancel_on_interrupt=1), "cancel_on_interrupt"),
    ("run_sync cancel_on_timeout", lambda ep: ep.run_sync(1, cancel_on_timeout="no"), "cancel_on_timeout"),
    ("run_sync cancel_on_interrupt", lambda ep: ep.run_sync(1, cancel_on_interrupt=None), "cancel_on_interrupt"),
    ("stream raw", lambda ep: ep.stream("j", raw="yes"), "raw"),
    ("job.stream raw", lambda ep: ep.job("j").stream(raw=0), "raw"),
    ("run_many return_exceptions", lambda ep: ep.run_many([1], return_exceptions="no"), "return_exceptions"),
]  # fmt: skip


async def _settled(value: Any) -> None:
    if hasattr(value, "__await__"):
        await value
    elif hasattr(value, "__anext__"):
        await value.__anext__()


@pytest.mark.misuse("argument")
@pytest.mark.parametrize(("name", "call", "flag"), FLAGS, ids=[c[0] for c in FLAGS])
def test_a_flag_that_is_not_a_bool_is_refused_before_any_request(
    name: str, call: Callable[[Any], Any], flag: str
) -> None:
    api = FakeApi().on("runsync", job("COMPLETED")).on("status-sync", job("COMPLETED"))
    with pytest.raises(InvalidInputError, match=f"^{flag} must be True or False, got "):
        result = call(api.endpoint())
        if hasattr(result, "__next__"):
            next(result)

    async def main() -> None:
        async with api.async_endpoint() as ep:
            with pytest.raises(InvalidInputError, match=f"^{flag} must be True or False, got "):
                await _settled(call(ep))

    asyncio.run(main())
    assert api.requests == [], f"{name}: a request was sent"


@pytest.mark.misuse("argument")
@pytest.mark.parametrize(
    ("make", "flag"),
    [
        (Endpoint, "allow_insecure_http"),
        (AsyncEndpoint, "allow_insecure_http"),
        (LoadBalancedEndpoint, "allow_insecure_http"),
        (Endpoint, "long_poll"),
        (AsyncEndpoint, "long_poll"),
    ],
    ids=lambda v: v if isinstance(v, str) else v.__name__,
)
def test_a_client_flag_that_is_not_a_bool_is_refused(make: Any, flag: str) -> None:
    with pytest.raises(InvalidInputError, match=f"^{flag} must be True or False, got 'false'"):
        make("ep", api_key=API_KEY, base_url="http://10.1.2.3/v2", **{flag: "false"})


# --- an object where its id belongs ----------------------------------------------------------

_STATE = JobState(id="job-1", status="COMPLETED")
HANDLES: list[tuple[str, Callable[[Any], Any], str]] = [
    ("status(job)", lambda ep: ep.status(ep.job("job-1")), "job_id must be a string, got Job"),
    ("wait(state)", lambda ep: ep.wait(_STATE), "job_id must be a string, got JobState"),
    ("cancel(job)", lambda ep: ep.cancel(ep.job("job-1")), "job_id must be a string, got Job"),
    ("retry(state)", lambda ep: ep.retry(_STATE), "job_id must be a string, got JobState"),
    ("job(job)", lambda ep: ep.job(ep.job("job-1")), "job_id must be a string, got Job"),
    ("stream(job)", lambda ep: ep.stream(ep.job("job-1")), "job_id must be a string, got Job"),
    (
        "batches.get(batch)",
        lambda ep: ep.batches.get(CreatedBatch("batch-1", "DRAFT", {})),
        "batch_id must be a string, got CreatedBatch",
    ),
]


@pytest.mark.misuse("argument")
@pytest.mark.parametrize(("name", "call", "message"), HANDLES, ids=[c[0] for c in HANDLES])
def test_a_handle_or_snapshot_given_for_its_id_is_told_to_pass_its_id(
    name: str, call: Callable[[Any], Any], message: str
) -> None:
    """The message names the fix: a handle or a snapshot is not its id."""
    api = FakeApi()
    with pytest.raises(InvalidInputError) as info:
        call(api.endpoint())
    assert str(info.value) == f"{message} (pass its .id)"
    assert api.requests == []
