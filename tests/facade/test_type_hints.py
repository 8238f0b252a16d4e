"""The public API's annotations evaluate at run time, to the real classes.

``typing.get_type_hints`` and ``inspect.signature(..., eval_str=True)`` are what FastAPI's
``Depends(Endpoint)``, typer, ``pydantic.validate_call`` and sphinx autodoc call. The modules
that annotations name but the package imports on first use (httpx, aiohttp, the batch machinery,
the Batch Jobs API) are imported by that evaluation and by nothing before it
(``runpod_facade._deferred``; tests/transports/test_lazy_httpx.py holds the rest).
"""

from __future__ import annotations

import functools
import importlib
import inspect
import json
import subprocess
import sys
import typing
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import aiohttp
import httpx
import pytest

import runpod_facade
import runpod_facade.testing
from runpod_facade import JobState, JobStatus, Timeout

#: Every public name: the package's, and its pytest plugin's (runpod_facade.testing).
PUBLIC = [f"runpod_facade.{name}" for name in runpod_facade.__all__] + [
    f"runpod_facade.testing.{name}" for name in runpod_facade.testing.__all__
]


def _annotated(public: str) -> Iterator[tuple[str, Any]]:
    """What of the public name has annotations a tool evaluates: a function; a class (its
    attributes), its ``__init__``, ``__call__`` and each public method and property, inherited
    ones too."""
    module, _, name = public.rpartition(".")
    value = getattr(importlib.import_module(module), name)
    if not isinstance(value, type):
        if inspect.isfunction(value):
            yield name, value
        return
    yield name, value
    methods = ["__init__", "__call__", *(a for a in dir(value) if not a.startswith("_"))]
    for attribute in methods:
        member = inspect.getattr_static(value, attribute, None)
        if isinstance(member, staticmethod | classmethod):
            member = member.__func__
        elif isinstance(member, property):
            member = member.fget
        elif isinstance(member, functools.cached_property):
            member = member.func
        # A function of the package, or its methods written once for both clients (``@api``).
        function = inspect.unwrap(member) if callable(member) else None
        if inspect.isfunction(function) and function.__module__.startswith("runpod_facade"):
            yield f"{name}.{attribute}", member


def _has_signature(value: Any) -> bool:
    """Whether ``value`` has a signature at all (an exception class without an ``__init__`` of
    its own has none: its ``__init__`` is the built-in one)."""
    try:
        inspect.signature(value)
    except ValueError:
        return False
    return True


def _evaluation_errors(public: str) -> dict[str, str]:
    errors = {}
    for label, value in _annotated(public):
        try:
            typing.get_type_hints(value)
            if _has_signature(value):
                inspect.signature(value, eval_str=True)
        except Exception as error:  # every failure named, not only the first
            errors[label] = f"{type(error).__name__}: {error}"
    return errors


@pytest.mark.parametrize("public", PUBLIC)
def test_the_annotations_of_each_public_name_evaluate(public: str) -> None:
    assert _evaluation_errors(public) == {}


def test_the_table_covers_the_clients_and_their_methods() -> None:
    # The table above is over something: the public classes' methods, inherited ones too.
    names = ["Endpoint", "AsyncJob", "testing.EndpointFactory"]
    labels = {label for name in names for label, _ in _annotated(f"runpod_facade.{name}")}
    assert {"Endpoint.__init__", "Endpoint.map", "Endpoint.batches", "Endpoint.run"} <= labels
    assert {"AsyncJob.wait", "AsyncJob.stream", "AsyncJob.cancel"} <= labels
    assert {"EndpointFactory.__call__", "EndpointFactory.started"} <= labels


def _hint(target: str, parameter: str) -> Any:
    name, _, attribute = target.partition(".")
    value = getattr(runpod_facade, name)
    if attribute:
        value = inspect.getattr_static(value, attribute)
        value = value.fget if isinstance(value, property) else value
    return typing.get_type_hints(value)[parameter]


#: (what, its parameter, attribute or "return") -> the real type it evaluates to
REAL: dict[tuple[str, str], Callable[[], Any]] = {
    ("Endpoint.__init__", "http_client"): lambda: httpx.Client | None,
    ("Endpoint.__init__", "timeout"): lambda: float | timedelta | Timeout | httpx.Timeout | None,
    ("AsyncEndpoint.__init__", "http_client"): (
        lambda: httpx.AsyncClient | aiohttp.ClientSession | None
    ),
    ("LoadBalancedEndpoint.__init__", "http_client"): lambda: httpx.Client | None,
    ("Endpoint.batches", "return"): lambda: runpod_facade.Batches,
    ("AsyncEndpoint.batches", "return"): lambda: runpod_facade.AsyncBatches,
    ("Endpoint.map", "return"): lambda: runpod_facade.BatchResults | runpod_facade.BatchApiResults,
    ("AsyncEndpoint.map", "return"): (
        lambda: runpod_facade.AsyncBatchResults | runpod_facade.AsyncBatchApiResults
    ),
    ("JobFailed.__init__", "state"): lambda: JobState,
    ("WaitTimeout.__init__", "last_state"): lambda: JobState | None,
    ("JobState.__init__", "status"): lambda: JobStatus | str,
    ("BatchItem.__init__", "state"): lambda: JobState | None,
    ("JobState", "execution_time"): lambda: timedelta | None,
    ("ExecutionPolicy", "ttl"): lambda: float | int | timedelta | None,
    ("LoadBalancedEndpoint", "_http"): lambda: httpx.Client,
}


@pytest.mark.parametrize(("target", "parameter"), list(REAL))
def test_an_annotation_evaluates_to_the_real_class(target: str, parameter: str) -> None:
    assert _hint(target, parameter) == REAL[target, parameter]()


_PROBE = """
import json, sys, typing, inspect
{setup}
import runpod_facade
STACK = ("httpx", "httpcore", "anyio", "aiohttp")
def loaded():
    names = {{name.split(".")[0] for name, module in sys.modules.items() if module is not None}}
    return sorted(names & set(STACK))
before = loaded()
try:
    result = repr({expression})
except Exception as error:
    result = type(error).__name__ + ": " + str(error)
print(json.dumps({{"before": before, "after": loaded(), "result": result}}))
"""

_HINTS = "typing.get_type_hints(runpod_facade.{})"

#: case -> (code run before the import, what a fresh interpreter evaluates, the HTTP libraries
#: it then has imported, a piece of the repr of what it got or of the error it raised)
IMPORTS: dict[str, tuple[str, str, list[str], str]] = {
    "Endpoint.__init__'s hints": (
        "",
        _HINTS.format("Endpoint.__init__"),
        ["httpx"],
        "'http_client': httpx.Client | None",
    ),
    "AsyncEndpoint.__init__'s hints": (
        "",
        _HINTS.format("AsyncEndpoint.__init__"),
        ["aiohttp", "httpx"],
        "'http_client': httpx.AsyncClient | aiohttp.client.ClientSession | None",
    ),
    "an unevaluated signature": (
        "",
        "inspect.signature(runpod_facade.AsyncEndpoint)",
        [],
        "http_client: 'httpx.AsyncClient | aiohttp.ClientSession | None' = None",
    ),
    "doctest and pydoc walking the modules' globals": (
        "import doctest, importlib, pydoc\n"
        "MODULES = ['runpod_facade._clients.sync', 'runpod_facade._clients.aio', "
        "'runpod_facade._clients.api', 'runpod_facade._exceptions', 'runpod_facade._config']",
        "[pydoc.render_doc(m) and doctest.DocTestFinder().find(m) "
        "for m in map(importlib.import_module, MODULES)] and 'walked'",
        [],
        "'walked'",
    ),
    "AsyncEndpoint.__init__'s hints without aiohttp": (
        "sys.modules['aiohttp'] = None  # as if not installed",
        _HINTS.format("AsyncEndpoint.__init__"),
        ["httpx"],
        "ModuleNotFoundError: import of aiohttp halted",
    ),
}


@pytest.mark.parametrize("case", list(IMPORTS))
def test_evaluating_the_annotations_is_what_imports_their_modules(case: str) -> None:
    setup, expression, imported, result = IMPORTS[case]
    code = _PROBE.format(setup=setup, expression=expression)
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert out.returncode == 0, out.stderr
    seen = json.loads(out.stdout)
    assert seen["before"] == []
    assert seen["after"] == imported
    assert result in seen["result"], seen["result"]


@pytest.mark.parametrize("name", ["Endpoint", "AsyncEndpoint", "LoadBalancedEndpoint", "Batches"])
def test_pydantic_validates_a_call_of_a_client_init(name: str) -> None:
    # It also evaluates the field types of the dataclasses the parameters name (RetryPolicy's
    # ``rng: Callable[[], float]``), in the package's namespace unless a type names its module.
    import pydantic

    init = getattr(runpod_facade, name).__init__
    pydantic.validate_call(config={"arbitrary_types_allowed": True})(init)
