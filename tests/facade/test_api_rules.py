"""The rules of the public API (docs/api.md), on a mocked transport: what each method returns,
which arguments are keyword-only, what a cancel keeps, the module public names report, and
the backend-neutral ``Timeout``."""

from __future__ import annotations

import inspect
import pickle
import re
import subprocess
import sys
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

import runpod_facade
from runpod_facade import (
    AsyncEndpoint,
    AsyncJob,
    Endpoint,
    InvalidInputError,
    Job,
    JobState,
    JobStatus,
    Timeout,
)
from tests._support.fakeapi import FakeApi, job

DONE = {"answer": 42}

# --- what each method returns ----------------------------------------------------------------


def test_wait_and_run_sync_both_return_the_final_state() -> None:
    api = FakeApi().on("status-sync", job("COMPLETED", output=DONE, executionTime=12))
    api.on("runsync", job("COMPLETED", "job-2", output=DONE, executionTime=7))
    ep = api.endpoint()
    for state in (ep.job("job-1").wait(timeout=5), ep.wait("job-1", timeout=5)):
        assert isinstance(state, JobState)
        assert (state.id, state.status, state.output) == ("job-1", JobStatus.COMPLETED, DONE)
        assert state.execution_time == timedelta(milliseconds=12)
    state = ep.run_sync({"q": 1}, timeout=5)
    assert isinstance(state, JobState)
    assert (state.id, state.status, state.output) == ("job-2", JobStatus.COMPLETED, DONE)


async def test_the_asyncio_client_returns_the_same_types() -> None:
    api = FakeApi().on("status-sync", job("COMPLETED", output=DONE))
    api.on("runsync", job("COMPLETED", "job-2", output=DONE))
    api.on("retry", job("IN_QUEUE"))
    async with api.async_endpoint() as ep:
        handle = ep.job("job-1")
        assert (await handle.wait(timeout=5)).output == DONE
        assert (await ep.wait("job-1", timeout=5)).output == DONE
        assert (await ep.run_sync({"q": 1}, timeout=5)).output == DONE
        requeued = await handle.retry()
        assert isinstance(requeued, JobState) and requeued.status is JobStatus.IN_QUEUE
        again = await ep.retry("job-1")
        assert isinstance(again, AsyncJob) and again.id == "job-1"
        assert again.last_state is not None and again.last_state.status is JobStatus.IN_QUEUE


def test_a_handle_s_retry_returns_the_state_and_the_endpoint_s_a_handle() -> None:
    api = FakeApi().on("retry", job("IN_QUEUE"))
    ep = api.endpoint()
    handle = ep.job("job-1")
    requeued = handle.retry()
    assert isinstance(requeued, JobState)
    assert (requeued.id, requeued.status) == ("job-1", JobStatus.IN_QUEUE)
    assert handle.last_state == requeued
    again = ep.retry("job-1")
    assert isinstance(again, Job) and again.id == "job-1"
    assert again.last_state == requeued
    assert api.ops() == ["retry", "retry"]


# --- a cancel keeps the richest state --------------------------------------------------------


def test_cancelling_a_finished_job_keeps_its_output() -> None:
    api = FakeApi().on("status-sync", job("COMPLETED", output=DONE))
    api.on("cancel", job("COMPLETED"))  # a finished job's cancel reply: bare id and status
    handle = api.endpoint().job("job-1")
    finished = handle.wait(timeout=5)
    assert handle.cancel() is finished
    assert handle.last_state is finished
    assert handle.last_state.output == DONE
    assert api.ops() == ["status-sync", "cancel"]


async def test_cancelling_a_finished_job_keeps_its_output_async() -> None:
    api = FakeApi().on("status-sync", job("FAILED", error="boom"))
    api.on("cancel", job("FAILED"))
    async with api.async_endpoint() as ep:
        handle = ep.job("job-1")
        with pytest.raises(runpod_facade.JobFailed):
            await handle.wait(timeout=5)
        kept = await handle.cancel()
        assert kept.error == "boom" and handle.last_state is kept


def test_a_cancel_that_changes_the_status_replaces_the_state() -> None:
    api = FakeApi().on("status", job("IN_PROGRESS", output={"step": 1}))
    api.on("cancel", job("CANCELLED"))
    handle = api.endpoint().job("job-1")
    assert handle.status().status is JobStatus.IN_PROGRESS
    cancelled = handle.cancel()
    assert cancelled.status is JobStatus.CANCELLED and handle.last_state is cancelled


def test_a_cancel_by_id_reports_the_reply_as_it_came() -> None:
    api = FakeApi().on("cancel", job("COMPLETED"))
    state = api.endpoint().cancel("job-1")
    assert (state.status, state.output) == (JobStatus.COMPLETED, None)


# --- keyword-only arguments ------------------------------------------------------------------

#: Every public class whose methods a caller calls: each one's timeouts are keyword-only too.
CALLED_CLASSES = (
    "Endpoint", "AsyncEndpoint", "Job", "AsyncJob", "JobStream", "AsyncJobStream",
    "BatchResults", "AsyncBatchResults", "Batches", "AsyncBatches", "BatchApiResults",
    "AsyncBatchApiResults", "LoadBalancedEndpoint", "AsyncLoadBalancedEndpoint",
    "PinnedSession", "AsyncPinnedSession",
)  # fmt: skip

#: What a public call may take positionally (besides ``self``): what it acts on (docs/api.md,
#: rule 4). Every other argument is keyword-only.
POSITIONAL = {
    ("endpoint_id",), ("input",), ("inputs",), ("items",), ("job_id",), ("batch_id",),
    ("batch_id", "inputs"), ("batch_id", "items"), ("batch_id", "request_id"),
    ("path",), ("method", "path"), ("response",), ("mode",),
}  # fmt: skip
#: The classes a caller constructs; the others are made by the package (ep.run, ep.job …).
CONSTRUCTED = ("Endpoint", "AsyncEndpoint", "LoadBalancedEndpoint", "AsyncLoadBalancedEndpoint")


def _methods() -> list[tuple[str, Callable[..., Any]]]:
    found = []
    for cls_name in CALLED_CLASSES:
        cls = getattr(runpod_facade, cls_name)
        for name, member in inspect.getmembers(cls):
            constructor = name == "__init__" and cls_name in CONSTRUCTED
            if name.startswith("_") and not constructor:
                continue
            if callable(member) and not isinstance(member, type):
                found.append((f"{cls_name}.{name}", member))
    return found


@pytest.mark.parametrize(("name", "method"), _methods(), ids=[n for n, _ in _methods()])
def test_only_what_the_call_acts_on_is_positional(name: str, method: Any) -> None:
    try:
        parameters = list(inspect.signature(method).parameters.values())
    except ValueError:  # a builtin without a signature (object's own methods)
        return
    positional = tuple(
        p.name
        for p in parameters
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.name != "self"
    )
    assert not positional or positional in POSITIONAL, (name, positional)


def _timeouts() -> list[tuple[str, inspect.Parameter]]:
    found = []
    for cls in (getattr(runpod_facade, name) for name in CALLED_CLASSES):
        for name, member in inspect.getmembers(cls, callable):
            if name.startswith("_") or isinstance(member, type):
                continue
            for p in inspect.signature(member).parameters.values():
                if p.name == "timeout" or p.name.endswith("_timeout") or p.name == "interval":
                    found.append((f"{cls.__name__}.{name}({p.name})", p))
    return found


@pytest.mark.parametrize(("name", "parameter"), _timeouts(), ids=[n for n, _ in _timeouts()])
def test_every_timeout_of_every_public_method_is_keyword_only(
    name: str, parameter: inspect.Parameter
) -> None:
    """docs/api.md: "Everything else — ``timeout`` included — is keyword-only"."""
    assert parameter.kind is inspect.Parameter.KEYWORD_ONLY, name


def _endpoint() -> Endpoint:
    return FakeApi().endpoint()


@pytest.mark.misuse("argument")
@pytest.mark.parametrize(
    ("call", "what"),
    [
        (lambda ep: ep.job("job-1").wait(5), "wait() takes 1 positional argument"),
        (lambda ep: ep.job("job-1").stream(5), "stream() takes 1 positional argument"),
        (lambda ep: ep.wait("job-1", 5), "wait() takes 2 positional arguments"),
        (lambda ep: ep.run_sync({"q": 1}, 5), "run_sync() takes 2 positional arguments"),
        (lambda ep: ep.status("job-1", 60), "status() takes 2 positional arguments"),
        (lambda ep: ep.run({"q": 1}, None), "run() takes 2 positional arguments"),
    ],
    ids=["job.wait", "job.stream", "ep.wait", "ep.run_sync", "ep.status", "ep.run"],
)
def test_a_positional_timeout_or_option_is_refused_before_sending(
    call: Callable[[Endpoint], object], what: str
) -> None:
    api = FakeApi()
    ep = api.endpoint()
    with pytest.raises(TypeError, match=what.replace("(", r"\(").replace(")", r"\)")):
        call(ep)
    assert api.requests == []


# --- public names report runpod_facade as their module ---------------------------------------

EAGER = sorted(set(runpod_facade.__all__) - {"AsyncEndpoint", "AsyncJob", "AsyncJobStream"})


@pytest.mark.parametrize("name", runpod_facade.__all__)
def test_every_public_class_and_function_reports_runpod_facade(name: str) -> None:
    value = getattr(runpod_facade, name)
    if isinstance(value, type) or inspect.isfunction(value):
        assert value.__module__ == "runpod_facade"
        assert getattr(runpod_facade, value.__name__) is value


def test_reprs_and_tracebacks_name_the_public_path() -> None:
    state = JobState(id="j", status="FAILED", error="boom")
    assert repr(runpod_facade.JobFailed) == "<class 'runpod_facade.JobFailed'>"
    assert repr(Endpoint).startswith("<class 'runpod_facade.Endpoint'>")
    line = "".join(__import__("traceback").format_exception_only(runpod_facade.JobFailed(state)))
    assert line.startswith("runpod_facade.JobFailed: job j FAILED: boom")
    assert pickle.loads(pickle.dumps(state)) == state  # pickles resolve the public path


def test_the_asyncio_names_stay_lazy_and_are_named_on_first_use() -> None:
    code = (
        "import sys, runpod_facade\n"
        "assert 'runpod_facade._clients.aio' not in sys.modules\n"
        "assert 'asyncio' not in sys.modules\n"
        "print(runpod_facade.AsyncEndpoint.__module__, runpod_facade.AsyncJob.__module__,"
        " runpod_facade.AsyncJobStream.__module__)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["runpod_facade"] * 3


@pytest.mark.parametrize("first", ["AsyncEndpoint", "AsyncLoadBalancedEndpoint"])
def test_each_public_name_reports_runpod_facade_in_a_fresh_interpreter(first: str) -> None:
    """Only the package's own naming (none left to import order): after one asyncio name is
    used, the asyncio classes it brought in are named too (an ``AsyncJob`` or ``AsyncBatches``
    reached through an endpoint shows the public path), then every public name is."""
    code = (
        "import inspect, sys, runpod_facade\n"
        f"runpod_facade.{first}\n"
        "loaded = [getattr(sys.modules['runpod_facade' + module], name)\n"
        "          for name, module in runpod_facade._LAZY.items()\n"
        "          if 'runpod_facade' + module in sys.modules]\n"
        "print(len(loaded), sorted({cls.__module__ for cls in loaded}))\n"
        "named = [getattr(runpod_facade, name) for name in runpod_facade.__all__]\n"
        "print(sorted({value.__module__ for value in named\n"
        "              if isinstance(value, type) or inspect.isfunction(value)}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    loaded, everyone = done.stdout.splitlines()
    assert int(loaded.split()[0]) >= 2, loaded
    assert loaded.split(maxsplit=1)[1] == everyone == "['runpod_facade']"


# --- Timeout: one type for both backends -----------------------------------------------------


def test_the_asyncio_signature_names_no_http_library_s_timeout() -> None:
    annotation = inspect.signature(AsyncEndpoint).parameters["timeout"].annotation
    assert "httpx" not in str(annotation) and "Timeout" in str(annotation)
    default = inspect.signature(AsyncEndpoint).parameters["timeout"].default
    assert default == Timeout(30, connect=5)


def test_a_timeout_sets_each_phase_of_every_request() -> None:
    api = FakeApi().on("status", job("IN_QUEUE"))
    api.endpoint(timeout=Timeout(8, connect=2, pool=timedelta(seconds=3))).status("job-1")
    assert api.requests[0].extensions["timeout"] == {
        "connect": 2.0,
        "read": 8.0,
        "write": 8.0,
        "pool": 3.0,
    }


async def test_a_timeout_is_read_the_same_by_the_asyncio_client() -> None:
    api = FakeApi().on("status", job("IN_QUEUE"))
    async with api.async_endpoint(timeout=Timeout(None, read=4)) as ep:
        await ep.status("job-1")
    assert api.requests[0].extensions["timeout"] == {
        "connect": None,
        "read": 4.0,
        "write": None,
        "pool": None,
    }


def test_an_httpx_timeout_and_seconds_are_still_taken() -> None:
    api = FakeApi().on("status", job("IN_QUEUE"))
    api.endpoint(timeout=httpx.Timeout(6, connect=1)).status("job-1")
    api.endpoint(timeout=10).status("job-1")
    assert [r.extensions["timeout"] for r in api.requests] == [
        {"connect": 1.0, "read": 6.0, "write": 6.0, "pool": 6.0},
        {"connect": 5.0, "read": 10.0, "write": 10.0, "pool": 10.0},
    ]


def test_a_client_timeout_takes_a_timedelta_as_every_duration_does() -> None:
    """README: durations are seconds or a timedelta everywhere (``Timeout`` took one already)."""
    api = FakeApi().on("status", job("IN_QUEUE"))
    api.endpoint(timeout=timedelta(seconds=12)).status("job-1")
    api.endpoint(timeout=12).status("job-1")
    first, second = (r.extensions["timeout"] for r in api.requests)
    assert first == second == {"connect": 5.0, "read": 12.0, "write": 12.0, "pool": 12.0}
    for make in (Endpoint, AsyncEndpoint):
        annotation = str(inspect.signature(make).parameters["timeout"].annotation)
        assert "timedelta" in annotation, (make, annotation)


async def test_the_asyncio_client_timeout_takes_a_timedelta() -> None:
    api = FakeApi().on("status", job("IN_QUEUE"))
    async with api.async_endpoint(timeout=timedelta(milliseconds=2500)) as ep:
        await ep.status("job-1")
    assert api.requests[0].extensions["timeout"]["read"] == 2.5


def test_a_timeout_is_a_value() -> None:
    timeout = Timeout(30, connect=5)
    assert timeout == Timeout(30.0, connect=timedelta(seconds=5)) != Timeout(30)
    assert hash(timeout) == hash(Timeout(30, connect=5))
    assert repr(timeout) == "Timeout(connect=5.0, read=30.0, write=30.0, pool=30.0)"
    assert pickle.loads(pickle.dumps(timeout)) == timeout
    with pytest.raises(AttributeError):
        timeout.read = 1  # type: ignore[misc]


@pytest.mark.misuse("argument")
@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: Timeout(0), "timeout must be positive"),
        (lambda: Timeout(-1), "timeout must not be negative"),
        (lambda: Timeout(float("nan")), "timeout must be a finite number"),
        (lambda: Timeout(5, read=0), "timeout read must be positive"),
        (lambda: Timeout(5, connect="3"), "timeout connect must be seconds"),  # type: ignore[arg-type]
        (lambda: Timeout(True), "timeout must be seconds"),
    ],
    ids=["zero", "negative", "nan", "zero-read", "string-connect", "bool"],
)
def test_a_bad_timeout_is_refused_when_made(make: Callable[[], Timeout], message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        make()


@pytest.mark.misuse("argument")
@pytest.mark.parametrize("value", ["30", [30], object()], ids=["string", "list", "object"])
def test_a_client_refuses_a_timeout_of_another_type(value: object) -> None:
    with pytest.raises(InvalidInputError, match=r"runpod_facade\.Timeout"):
        FakeApi().endpoint(timeout=value)


# --- docs/api.md lists every public method ---------------------------------------------------

API_DOC = (Path(__file__).parents[2] / "docs" / "api.md").read_text(encoding="utf-8")


@pytest.mark.parametrize(("cls", "prefix"), [(Endpoint, "ep"), (Job, "job")], ids=["ep", "job"])
def test_docs_api_md_has_a_row_for_every_public_method(cls: type, prefix: str) -> None:
    public = {
        name
        for name, member in inspect.getmembers(cls)
        if not name.startswith("_") and (callable(member) or isinstance(member, property))
    }
    rows = set(re.findall(rf"^\| `{prefix}\.(\w+)", API_DOC, flags=re.MULTILINE))
    # Plain attributes of the handle and the endpoint (ids, URLs) are no calls.
    calls = public - {"id", "endpoint", "endpoint_id", "base_url", "openai_base_url"}
    assert calls <= rows, sorted(calls - rows)
    assert len(calls) >= 6


# --- docs/api.md's rows name each call's real arguments and defaults -------------------------

_ROW = re.compile(r"^\| `(ep|job|Endpoint|Timeout)(?:\.(\w+))?\(([^`]*)\)`", re.MULTILINE)
_TARGETS: dict[str, type] = {"ep": Endpoint, "job": Job, "Endpoint": Endpoint, "Timeout": Timeout}


def _documented_calls() -> dict[tuple[str, str], dict[str, str | None]]:
    """(prefix, method) -> the arguments its rows show, each with the default shown (or None).
    A call shown in several rows (``map`` with and without ``via=``) gathers them all."""
    calls: dict[tuple[str, str], dict[str, str | None]] = {}
    for prefix, method, args in _ROW.findall(API_DOC):
        shown = calls.setdefault((prefix, method), {})
        for arg in (a.strip() for a in args.split(",")):
            if arg and arg != "*":
                name, _, default = arg.partition("=")
                shown[name] = default or None
    return calls


def _parameters(prefix: str, method: str) -> dict[str, inspect.Parameter]:
    target = getattr(_TARGETS[prefix], method) if method else _TARGETS[prefix]
    signature = inspect.signature(target)
    return {
        name: p
        for name, p in signature.parameters.items()
        if name != "self" and p.kind is not inspect.Parameter.VAR_KEYWORD
    }


@pytest.mark.parametrize(
    ("prefix", "method"), list(_documented_calls()), ids=lambda v: v or "__init__"
)
def test_each_row_of_docs_api_md_shows_the_calls_arguments_and_defaults(
    prefix: str, method: str
) -> None:
    shown = _documented_calls()[prefix, method]
    real = _parameters(prefix, method)
    assert set(shown) == set(real)
    for name, default in shown.items():
        if default is not None and name != "via":  # via="batch-api" names the other mode
            assert repr(real[name].default) in (default, f"{default}.0"), name
