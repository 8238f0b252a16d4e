"""runpod_facade.testing without pytest's fixtures: served endpoints, factories, the extra check."""

from __future__ import annotations

import itertools
import socket
import subprocess
import sys
import threading
import time
from typing import Any

import pytest

from runpod_facade import ClientClosedError, InvalidInputError, JobStatus, PollPolicy, RetryPolicy
from runpod_facade.local import sample_handlers
from runpod_facade.testing import (
    FAST_POLL_POLICY,
    FAST_RETRY_POLICY,
    FAST_WEBHOOK_RETRY_DELAY_S,
    AsyncEndpointFactory,
    AsyncServedEndpoint,
    EndpointFactory,
    MissingExtraError,
    ServedEndpoint,
    _extra,
)


def echo(job: dict[str, Any]) -> Any:
    return job["input"]


def server_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name.startswith("runpod-local")}


def assert_stopped(ep: ServedEndpoint | AsyncServedEndpoint) -> None:
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((ep.local.host, ep.local.port), timeout=5).close()


def test_served_endpoint_is_a_context_manager_that_stops_its_server() -> None:
    before = server_threads()
    with ServedEndpoint(echo, workers=2) as ep:
        assert ep.run_sync({"a": 1}).output == {"a": 1}
        assert server_threads() - before
    assert server_threads() == before
    assert_stopped(ep)
    with pytest.raises(ClientClosedError):
        ep.health()
    ep.close()  # idempotent


def test_fast_policies_are_the_default_and_can_be_replaced() -> None:
    # White-box: the policies are not observable without timing the calls.
    with ServedEndpoint(echo) as ep:
        assert ep._settings.retry == FAST_RETRY_POLICY
        assert ep._settings.poll == FAST_POLL_POLICY
    with ServedEndpoint(echo, retry_policy=RetryPolicy(), poll_policy=PollPolicy()) as ep:
        assert ep._settings.retry == RetryPolicy()
        assert ep._settings.poll == PollPolicy()


def test_a_client_that_cannot_be_built_does_not_leave_its_server_running() -> None:
    before = server_threads()
    with pytest.raises(InvalidInputError, match="retry_policy"):
        ServedEndpoint(echo, retry_policy="fast")  # type: ignore[arg-type]
    assert server_threads() == before


def test_auth_off_still_works_and_keeps_the_environments_key_home(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RUNPOD_API_KEY", "rp_real_key_that_must_stay_home")
    with ServedEndpoint(echo, api_key=None) as ep:
        assert ep.local.api_key is None
        assert ep.run_sync("x").status is JobStatus.COMPLETED
        key = ep._settings.api_key  # white-box: what the client sends as its bearer token
        assert key is not None and "rp_real_key" not in key.reveal()


def test_factory_closes_every_endpoint_even_when_one_fails(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    factory = EndpointFactory()
    first, second, third = (factory(echo) for _ in range(3))
    assert factory.started == (first, second, third)

    def broken_close() -> None:
        raise RuntimeError("close failed")

    original_close = second.close
    monkeypatch.setattr(second, "close", broken_close)
    with pytest.raises(RuntimeError, match="close failed"):
        factory.close()
    assert_stopped(first)
    assert_stopped(third)
    original_close()
    assert factory.started == ()
    with pytest.raises(RuntimeError, match="closed"):
        factory(echo)
    factory.close()  # idempotent


async def test_async_served_endpoint_without_the_fixture() -> None:
    before = server_threads()
    async with await AsyncServedEndpoint.start(echo) as ep:
        job = await ep.run({"n": 1})
        assert (await job.wait(timeout=30)).output == {"n": 1}
    assert server_threads() == before
    assert_stopped(ep)


def test_missing_extra_modules_name_the_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    def missing(name: str) -> None:
        raise ModuleNotFoundError(f"No module named {name!r}", name="uvicorn.config")

    monkeypatch.setattr(_extra.importlib, "import_module", missing)
    with pytest.raises(MissingExtraError) as info:
        _extra.require_local()
    assert "pip install 'runpod-facade[local]'" in str(info.value)
    assert "uvicorn is not installed" in str(info.value)
    assert isinstance(info.value, ImportError)
    with pytest.raises(MissingExtraError):
        EndpointFactory()
    with pytest.raises(MissingExtraError):
        AsyncEndpointFactory()  # "Constructing one checks the local extra"


def test_other_missing_modules_are_not_blamed_on_the_extra(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken(name: str) -> None:
        raise ModuleNotFoundError("No module named 'numpy'", name="numpy")

    monkeypatch.setattr(_extra.importlib, "import_module", broken)
    with pytest.raises(ModuleNotFoundError) as info:
        _extra.require_local()
    assert not isinstance(info.value, MissingExtraError)


def test_importing_the_package_does_not_import_the_local_endpoint() -> None:
    code = (
        "import sys, runpod_facade.testing as t\n"
        "assert callable(t.EndpointFactory)\n"
        "print(sorted(m for m in ('runpod_facade.local', 'starlette', 'uvicorn') "
        "if m in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "[]"


def test_unknown_attribute_of_the_package() -> None:
    import runpod_facade.testing as testing

    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        testing.nothing  # noqa: B018


#: failing endpoints (by start order) -> what closing the factory raises: the error, or a group.
CLOSE_FAILURES: dict[str, tuple[tuple[int, ...], type[BaseException] | None]] = {
    "none fail": ((), None),
    "one fails": ((1,), RuntimeError),
    "two fail": ((0, 2), BaseExceptionGroup),
}


@pytest.mark.parametrize("failures", list(CLOSE_FAILURES))
@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_factories_close_newest_first_and_raise_a_group_when_several_fail(
    monkeypatch: pytest.MonkeyPatch, kind: str, failures: str
) -> None:
    # As EndpointFactory.close and AsyncEndpointFactory.aclose document: newest first, every
    # endpoint closed even if some fail, then the one error raised or a group of them.
    failing, raised = CLOSE_FAILURES[failures]
    closed: list[int] = []
    sync_factory = EndpointFactory() if kind == "sync" else None
    async_factory = AsyncEndpointFactory() if kind == "async" else None
    started: list[ServedEndpoint | AsyncServedEndpoint] = []
    for index in range(3):
        if sync_factory is not None:
            ep: ServedEndpoint | AsyncServedEndpoint = sync_factory(echo)
            real_close = ep.close

            def close(index: int = index, real: Any = real_close) -> None:
                closed.append(index)
                real()
                if index in failing:
                    raise RuntimeError(f"close {index} failed")

            monkeypatch.setattr(ep, "close", close)
        else:
            assert async_factory is not None
            ep = await async_factory(echo)
            real_aclose = ep.aclose

            async def aclose(index: int = index, real: Any = real_aclose) -> None:
                closed.append(index)
                await real()
                if index in failing:
                    raise RuntimeError(f"close {index} failed")

            monkeypatch.setattr(ep, "aclose", aclose)
        started.append(ep)

    async def close_factory() -> None:
        if sync_factory is not None:
            sync_factory.close()
        else:
            assert async_factory is not None
            await async_factory.aclose()

    if raised is None:
        await close_factory()
    else:
        with pytest.raises(raised) as info:
            await close_factory()
        if isinstance(info.value, BaseExceptionGroup):
            assert [str(e) for e in info.value.exceptions] == ["close 2 failed", "close 0 failed"]
        else:
            assert str(info.value) == "close 1 failed"
    assert closed == [2, 1, 0]
    for ep in started:
        assert_stopped(ep)
    await close_factory()  # idempotent: nothing is closed twice, nothing raised
    assert closed == [2, 1, 0]
    with pytest.raises(RuntimeError, match="closed"):
        if sync_factory is not None:
            sync_factory(echo)
        else:
            assert async_factory is not None
            await async_factory(echo)


@pytest.mark.parametrize(
    ("options", "gap"),
    [({}, FAST_WEBHOOK_RETRY_DELAY_S), ({"webhook_retry_delay_s": 0.3}, 0.3)],
    ids=["default", "passed"],
)
def test_webhook_retries_come_fast_by_default_or_as_passed(
    options: dict[str, float], gap: float
) -> None:
    # ServedEndpoint: "``webhook_retry_delay_s`` defaults to FAST_WEBHOOK_RETRY_DELAY_S".
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]  # bound, not listening: every delivery is refused
        with ServedEndpoint(echo, **options) as ep:
            ep.run_sync({"n": 1}, webhook=f"http://127.0.0.1:{port}/hook")
            deadline = time.monotonic() + 10
            while len(ep.webhook_attempts) < 3 and time.monotonic() < deadline:
                time.sleep(0.01)
            attempts = ep.webhook_attempts
    assert [a.attempt for a in attempts] == [1, 2, 3]
    gaps = [later.timestamp - earlier.timestamp for earlier, later in itertools.pairwise(attempts)]
    assert all(gap * 0.9 <= seen < gap + 1.0 for seen in gaps), gaps


async def _doubled(job: dict[str, Any]) -> int:
    return int(job["input"]) * 2


def _counted(job: dict[str, Any]) -> Any:
    yield from range(int(job["input"]))


#: ServedEndpoint's documented handler forms -> (input, the job's output).
HANDLER_FORMS: dict[str, tuple[Any, Any, Any]] = {
    "sync callable": (echo, {"a": 1}, {"a": 1}),
    "async callable": (_doubled, 4, 8),
    "generator": (_counted, 3, [0, 1, 2]),
    "async generator": (
        sample_handlers.stream_aggregate,
        {"count": 2},
        [{"index": 0}, {"index": 1}],
    ),
    "module:function": ("runpod_facade.local.sample_handlers:echo", [1, "x"], [1, "x"]),
}


@pytest.mark.parametrize("form", list(HANDLER_FORMS))
def test_each_documented_handler_form_is_served(form: str) -> None:
    handler, given, output = HANDLER_FORMS[form]
    with ServedEndpoint(handler, return_aggregate_stream=True) as ep:
        assert ep.run_sync(given, timeout=30).output == output


PROXY_VARIABLES = ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy")


@pytest.fixture
def dead_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """A proxy in the environment, as in many company CI runners, that answers nothing."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: connections to it are refused
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    for name in PROXY_VARIABLES:
        monkeypatch.setenv(name, f"http://127.0.0.1:{port}")


def test_a_proxy_in_the_environment_is_not_used_for_the_served_loopback_server(
    dead_proxy: None,
) -> None:
    # The client sent its requests for the server it owns on 127.0.0.1 to the environment's
    # proxy: every test of a suite run behind a proxy failed with APIConnectionError.
    with ServedEndpoint(echo) as ep:
        assert ep.run_sync({"a": 1}).output == {"a": 1}
        assert len(ep.requests) == 1


async def test_the_async_served_endpoint_ignores_the_environments_proxy_too(
    dead_proxy: None,
) -> None:
    async with await AsyncServedEndpoint.start(echo) as ep:
        assert (await ep.run_sync({"a": 1})).output == {"a": 1}
        assert len(ep.requests) == 1
