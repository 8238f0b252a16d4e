"""The pytest plugin as a user meets it: test files that use its fixtures, run by ``pytester``.

Each test writes a user's test module into a fresh directory and runs pytest on it — in this
process where possible, in a subprocess when the test is about what gets imported.
"""

from __future__ import annotations

import re
import sys

import pytest

INI = """\
[pytest]
asyncio_default_fixture_loop_scope = function
"""


@pytest.fixture
def user_project(pytester: pytest.Pytester) -> pytest.Pytester:
    """A project with pytest-asyncio in its default (strict) mode, as most users have it."""
    pytester.makeini(INI)
    return pytester


def test_application_code_runs_against_the_users_handler(user_project: pytest.Pytester) -> None:
    user_project.makepyfile(
        test_app="""
        import time

        import pytest

        from runpod_facade import Endpoint, JobStatus
        from runpod_facade.local import Fault
        from runpod_facade.testing import EndpointFactory, ServedEndpoint


        def summarise(ep: Endpoint, text: str) -> str:  # the user's application code
            return ep.run_sync({"text": text}, timeout=30).output["summary"]


        def test_app_code_gets_the_handler_output(runpod_endpoint: EndpointFactory) -> None:
            ep = runpod_endpoint(lambda job: {"summary": job["input"]["text"][:5]})
            assert isinstance(ep, Endpoint) and isinstance(ep, ServedEndpoint)
            assert summarise(ep, "hello world") == "hello"
            assert [r.operation for r in ep.requests] == ["runsync"]


        def test_injected_faults_are_retried_fast(runpod_endpoint: EndpointFactory) -> None:
            ep = runpod_endpoint(lambda job: job["input"], workers=2)
            job = ep.run({"n": 1})
            ep.clear_requests()
            ep.faults.add(Fault("status", "http_error", status=503, times=2))
            assert ep.status(job.id).id == job.id
            assert [r.status_code for r in ep.requests] == [503, 503, 200]


        def test_local_options_reach_the_server(runpod_endpoint: EndpointFactory) -> None:
            ep = runpod_endpoint(lambda job: job["input"], api_key=None, endpoint_id="my-ep")
            assert ep.endpoint_id == "my-ep" and ep.local.api_key is None
            assert ep.run_sync({"x": 1}).status is JobStatus.COMPLETED


        def test_webhook_deliveries_are_logged(runpod_endpoint: EndpointFactory) -> None:
            ep = runpod_endpoint(lambda job: "done")
            # Nothing listens on the discard port: every delivery fails and is retried.
            job = ep.run({}, webhook="http://127.0.0.1:9/hook")
            job.wait(timeout=30)
            deadline = time.monotonic() + 30
            while len(ep.webhook_attempts) < 3:
                assert time.monotonic() < deadline, ep.webhook_attempts
                time.sleep(0.02)
            attempts = ep.webhook_attempts
            assert [a.attempt for a in attempts] == [1, 2, 3]
            assert all(a.job_id == job.id and not a.ok and a.error for a in attempts)
        """
    )
    result = user_project.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=4)


def test_a_failing_handler_reaches_the_users_assertions(user_project: pytest.Pytester) -> None:
    user_project.makepyfile(
        test_failure="""
        import pytest

        from runpod_facade import JobFailed


        def broken(job):
            raise RuntimeError("model weights not found")


        def test_expects_the_failure(runpod_endpoint):
            ep = runpod_endpoint(broken)
            with pytest.raises(JobFailed, match="model weights not found") as info:
                ep.run_sync({"prompt": "x"}, timeout=30)
            assert info.value.error_details["error_type"] == "RuntimeError"
            assert info.value.job_id == info.value.state.id


        def test_does_not_expect_it(runpod_endpoint):
            runpod_endpoint(broken).run({"prompt": "x"}).wait(timeout=30)
        """
    )
    result = user_project.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        ["*JobFailed: job * FAILED: RuntimeError: model weights not found*"]
    )


TEARDOWN_CHECK = """
import asyncio
import socket
import threading

import pytest

from runpod_facade import ClientClosedError

STARTED = []


def server_threads():
    return [t.name for t in threading.enumerate() if t.name.startswith("runpod-local")]


def check_all_stopped(count):
    assert len(STARTED) == count
    assert server_threads() == []
    for ep in STARTED:
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection((ep.local.host, ep.local.port), timeout=5).close()
"""


def test_endpoints_are_stopped_and_clients_closed_after_each_test(
    user_project: pytest.Pytester,
) -> None:
    user_project.makepyfile(
        test_teardown=TEARDOWN_CHECK
        + """

def test_starts_endpoints(runpod_endpoint):
    assert server_threads() == []
    for workers in (1, 3):
        ep = runpod_endpoint(lambda job: job["input"], workers=workers)
        assert ep.run_sync({"w": workers}).output == {"w": workers}
        STARTED.append(ep)
    assert "runpod-local-server" in server_threads()


def test_a_later_test_finds_nothing_left():
    check_all_stopped(2)
    for ep in STARTED:
        with pytest.raises(ClientClosedError):
            ep.health()


def test_a_failing_test_is_cleaned_up_too(runpod_endpoint):
    STARTED.append(runpod_endpoint(lambda job: job["input"]))
    raise AssertionError("the user's test fails")


def test_after_the_failure():
    check_all_stopped(3)
"""
    )
    result = user_project.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=3, failed=1)


def test_async_fixture_under_pytest_asyncio(user_project: pytest.Pytester) -> None:
    user_project.makepyfile(
        test_async=TEARDOWN_CHECK
        + """

from runpod_facade import AsyncEndpoint, JobFailed
from runpod_facade.testing import AsyncEndpointFactory, AsyncServedEndpoint


async def words(job):
    for word in job["input"]["text"].split():
        await asyncio.sleep(0.01)
        yield word


async def boom(job):
    raise ValueError("bad input")


@pytest.mark.asyncio
async def test_stream_and_many_jobs(async_runpod_endpoint: AsyncEndpointFactory) -> None:
    ep = await async_runpod_endpoint(words, workers=4, return_aggregate_stream=True)
    assert isinstance(ep, AsyncEndpoint) and isinstance(ep, AsyncServedEndpoint)
    job = await ep.run({"text": "a b c"})
    assert [chunk async for chunk in job.stream(timeout=30)] == ["a", "b", "c"]
    jobs = await asyncio.gather(*(ep.run({"text": f"x{i}"}) for i in range(8)))
    states = await asyncio.gather(*(j.wait(timeout=30) for j in jobs))
    assert [s.output for s in states] == [[f"x{i}"] for i in range(8)]
    STARTED.append(ep)


@pytest.mark.asyncio
async def test_failure(async_runpod_endpoint: AsyncEndpointFactory) -> None:
    ep = await async_runpod_endpoint(boom)
    with pytest.raises(JobFailed, match="bad input"):
        await ep.run_sync({"x": 1}, timeout=30)
    STARTED.append(ep)


def test_nothing_left():
    check_all_stopped(2)
    with pytest.raises(ClientClosedError):
        asyncio.run(STARTED[0].health())
"""
    )
    result = user_project.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=3)


def test_fixtures_are_listed_with_their_docs(user_project: pytest.Pytester) -> None:
    result = user_project.runpytest("--fixtures", "-p", "no:cacheprovider")
    result.stdout.fnmatch_lines(
        [
            "*fixtures defined from _runpod_facade_pytest*",
            "runpod_endpoint -- *_runpod_facade_pytest.py:*",
            "*Start RunPod endpoints that run a handler of yours, on loopback, for this test.",
            "async_runpod_endpoint -- *_runpod_facade_pytest.py:*",
            "*The asyncio twin of runpod_endpoint: endpoints for async tests (pytest-asyncio).",
        ]
    )


def test_the_distribution_registers_the_plugin_module() -> None:
    from importlib.metadata import distribution

    (entry,) = [e for e in distribution("runpod-facade").entry_points if e.group == "pytest11"]
    assert (entry.name, entry.value) == ("runpod_facade", "_runpod_facade_pytest")
    module = entry.load()
    assert module.__name__ == "_runpod_facade_pytest"  # not inside the runpod_facade package
    assert callable(module.runpod_endpoint) and callable(module.async_runpod_endpoint)


# --- what loading the plugin imports ----------------------------------------------------------

LAZY_CHECK = """
import sys

HEAVY = ("runpod_facade", "httpx", "starlette", "uvicorn")


def test_registering_the_plugin_imported_none_of_it(request):
    assert request.config.pluginmanager.has_plugin("runpod_facade")
    assert [m for m in HEAVY if m in sys.modules] == []


def test_a_fixture_loads_it(runpod_endpoint):
    ep = runpod_endpoint(lambda job: job["input"])
    assert ep.run_sync(7).output == 7
    assert [m for m in HEAVY if m not in sys.modules] == []
"""


def test_registering_the_plugin_imports_only_pytest(
    user_project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Only this plugin, loaded by its entry-point name: other plugins (respx, schemathesis)
    # import httpx or Starlette themselves and would hide what this one imports.
    user_project.makepyfile(test_lazy=LAZY_CHECK)
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    result = user_project.runpytest_subprocess("-p", "runpod_facade", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)


SHADOW = 'raise ModuleNotFoundError(f"No module named {__name__!r}", name=__name__)\n'


def run_without(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, blocked: list[str], *args: str
) -> pytest.RunResult:
    """Run pytest in a subprocess as if the ``blocked`` packages were not installed.

    Each is shadowed by a module, first on ``sys.path``, whose import fails the way a missing
    package's does; an import hook would not do, as pytest's assertion rewriter finds plugin
    packages ahead of any hook installed before it.
    """
    shadows = pytester.path / "not_installed"
    shadows.mkdir()
    for name in blocked:
        (shadows / f"{name}.py").write_text(SHADOW)
    monkeypatch.setenv("PYTHONPATH", str(shadows))
    return pytester.run(sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args)


def test_without_the_local_extra_the_plugin_loads_and_explains(
    user_project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    user_project.makepyfile(
        test_without_extra="""
        def test_users_other_tests_run(request):
            assert request.config.pluginmanager.has_plugin("runpod_facade")


        def test_sync_fixture(runpod_endpoint):
            raise AssertionError("not reached: the fixture cannot be set up")


        def test_async_fixture(async_runpod_endpoint):
            raise AssertionError("not reached: the fixture cannot be set up")
        """
    )
    # Plugins are found through entry points, as a user gets them, minus schemathesis, which
    # needs Starlette itself.
    result = run_without(
        user_project, monkeypatch, ["starlette", "uvicorn"], "-p", "no:schemathesis", "-rE"
    )
    result.assert_outcomes(passed=1, errors=2)
    explanation = (
        "runpod_facade.testing runs your handler on a local endpoint, which needs the "
        "'local' extra (starlette is not installed): pip install 'runpod-facade[local]'"
    )
    # Each failing setup shows the explanation alone: no traceback, no exception chain.
    result.stdout.re_match_lines(
        [
            "_+ ERROR at setup of test_sync_fixture _+$",
            f"^{re.escape(explanation)}$",
            "_+ ERROR at setup of test_async_fixture _+$",
            f"^{re.escape(explanation)}$",
            "^=+ short test summary info =+$",
        ],
        consecutive=True,
    )


def test_without_pytest_asyncio_the_async_fixture_says_so(
    user_project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    user_project.makepyfile(
        test_no_asyncio="""
        def test_async_fixture(async_runpod_endpoint):
            raise AssertionError("not reached")


        def test_sync_fixture_still_works(runpod_endpoint):
            assert runpod_endpoint(lambda job: job["input"]).run_sync(3).output == 3
        """
    )
    result = run_without(user_project, monkeypatch, ["pytest_asyncio"], "-p", "no:asyncio", "-rE")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*ERROR at setup of test_async_fixture*",
            "the async_runpod_endpoint fixture needs pytest-asyncio: pip install pytest-asyncio",
        ]
    )
