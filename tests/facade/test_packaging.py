"""Things a user gets from the installed package, independent of any server."""

from __future__ import annotations

import os
import subprocess
import sys
from importlib import import_module, metadata, resources
from pathlib import Path

import pytest

import runpod_facade
from runpod_facade import Endpoint
from tests._support.fakeapi import API_KEY


def test_typed_markers_ship_with_both_packages() -> None:
    assert resources.files("runpod_facade").joinpath("py.typed").is_file()
    assert resources.files("runpod_generated").joinpath("py.typed").is_file()


def test_the_version_is_written_once_and_is_1_0_0() -> None:
    # pyproject.toml has no version of its own: setuptools reads runpod_facade._version.
    pyproject = (Path(__file__).parents[2] / "pyproject.toml").read_text(encoding="utf-8")
    assert 'dynamic = ["version"]' in pyproject
    assert 'version = {attr = "runpod_facade._version.__version__"}' in pyproject
    assert runpod_facade.__version__ == metadata.version("runpod-facade") == "1.0.0"


def test_public_surface_is_exported() -> None:
    for name in runpod_facade.__all__:
        assert hasattr(runpod_facade, name), name
    assert {"Endpoint", "AsyncEndpoint", "ExecutionPolicy", "S3Config", "JobStatus"} <= set(
        runpod_facade.__all__
    )


def test_importing_the_facade_does_not_import_the_server_stack() -> None:
    code = "import sys, runpod_facade; print('starlette' in sys.modules, 'uvicorn' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


# Cold import time (benchmarks/import_time.py): what only some calls need is imported by the
# first of them, never by `import runpod_facade`. Each row: such a module, code that needs it,
# and what that code prints (a public class reached first through an endpoint still reports
# runpod_facade as its module).
_EP = "ep = runpod_facade.Endpoint('ep', api_key='k', base_url='http://127.0.0.1:9/v2')\n"
# The asyncio client imports neither the batch machinery nor the Batch Jobs API either.
_AEP = (
    "aep = runpod_facade.AsyncEndpoint('ep', api_key='k', base_url='http://127.0.0.1:9/v2')\n"
    "assert MODULE not in sys.modules, 'imported with AsyncEndpoint'\n"
)
_REQUEST = _EP + "ep._core.request('status', job_id='j')\nprint('built')"


def _name_of(cls: str) -> str:
    """Code printing the public path of the class ``cls`` evaluates to."""
    return f"cls = {cls}\nprint(cls.__module__ + '.' + cls.__qualname__)"


LAZY_IMPORTS = {
    # The generated client and its attrs models: with the first request built.
    "generated client": ("runpod_generated", _REQUEST, "built"),
    "attrs models": ("attrs", _REQUEST, "built"),
    "attrs models, old name": ("attr", _REQUEST, "built"),
    # sqlite3: with the first journal opened.
    "sqlite3": ("sqlite3", _EP + "ep.map([], journal=JOURNAL).close()\nprint('opened')", "opened"),
    # The batch machinery: with the first batch, or the first of its names used.
    "batches, by name": (
        "runpod_facade._batches.types",
        _name_of("runpod_facade.BatchItem"),
        "runpod_facade.BatchItem",
    ),
    "batches, map": (
        "runpod_facade._batches.threads",
        _EP
        + "results = ep.map([])\n"
        + _name_of("type(results)")
        + "\n"
        + _name_of("type(results.stats)"),
        "runpod_facade.BatchResults\nrunpod_facade.BatchStats",
    ),
    "batches, async map": (
        "runpod_facade._batches.run",
        _AEP + _name_of("type(aep.map([]))"),
        "runpod_facade.AsyncBatchResults",
    ),
    "batches, a journal refused": (
        "runpod_facade._batches.journal",
        _EP + "open(JOURNAL, 'w').write('not a journal')\n"
        "try:\n    ep.map([1], journal=JOURNAL)\nexcept Exception as error:\n"
        "    " + _name_of("type(error)").replace("\n", "\n    "),
        "runpod_facade.JournalError",
    ),
    # The load-balancing clients: with the first of their names used.
    "load balancing": (
        "runpod_facade._loadbalancing",
        _name_of("runpod_facade.LoadBalancedEndpoint"),
        "runpod_facade.LoadBalancedEndpoint",
    ),
    # The Batch Jobs API client: with its first name used, ep.batches or map(via="batch-api").
    "Batch Jobs API, by name": (
        "runpod_facade._batchjobs",
        _name_of("runpod_facade.Batches"),
        "runpod_facade.Batches",
    ),
    "Batch Jobs API, ep.batches": (
        "runpod_facade._batchjobs",
        _EP + _name_of("type(ep.batches)"),
        "runpod_facade.Batches",
    ),
    "Batch Jobs API, map(via='batch-api')": (
        "runpod_facade._batchjobs",
        _EP + _name_of("type(ep.map([], via='batch-api'))"),
        "runpod_facade.BatchApiResults",
    ),
    "Batch Jobs API, aep.batches": (
        "runpod_facade._batchjobs",
        _AEP + _name_of("type(aep.batches)"),
        "runpod_facade.AsyncBatches",
    ),
    "Batch Jobs API, aep.map(via='batch-api')": (
        "runpod_facade._batchjobs",
        _AEP + _name_of("type(aep.map([], via='batch-api'))"),
        "runpod_facade.AsyncBatchApiResults",
    ),
    # Webhook security (hmac, secrets): with the first of its names used.
    "webhook security, a class": (
        "runpod_facade._webhook_security",
        _name_of("runpod_facade.WebhookDeduplicator"),
        "runpod_facade.WebhookDeduplicator",
    ),
    "webhook security, a function": (
        "hmac",
        _name_of("runpod_facade.verify_webhook_url"),
        "runpod_facade.verify_webhook_url",
    ),
    # The asyncio client, and asyncio: with its first name used.
    "asyncio": ("asyncio", _name_of("runpod_facade.AsyncEndpoint"), "runpod_facade.AsyncEndpoint"),
    # httpx: with the first client that sends with it (an AsyncEndpoint on aiohttp never
    # does: tests/transports/test_lazy_httpx.py).
    "httpx, Endpoint": ("httpx", _EP + _name_of("type(ep)"), "runpod_facade.Endpoint"),
    "httpx, AsyncEndpoint's default backend": (
        "httpx",
        "aep = runpod_facade.AsyncEndpoint('ep', api_key='k', base_url='http://127.0.0.1:9/v2')\n"
        + _name_of("type(aep)"),
        "runpod_facade.AsyncEndpoint",
    ),
    "httpx, load balancing": (
        "httpx",
        _name_of("runpod_facade.LoadBalancedEndpoint"),
        "runpod_facade.LoadBalancedEndpoint",
    ),
    "httpx, Batch Jobs API": ("httpx", _name_of("runpod_facade.Batches"), "runpod_facade.Batches"),
}


@pytest.mark.parametrize(
    ("module", "use", "printed"), list(LAZY_IMPORTS.values()), ids=list(LAZY_IMPORTS)
)
def test_import_leaves_unimported_what_only_some_calls_need_and_the_first_imports_it(
    module: str, use: str, printed: str, tmp_path: Path
) -> None:
    code = (
        f"import sys, runpod_facade\nJOURNAL = {str(tmp_path / 'map.journal')!r}\n"
        f"MODULE = {module!r}\nassert MODULE not in sys.modules, 'imported by the package'\n"
        f"{use}\nassert MODULE in sys.modules, 'not what this needs'\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == printed.splitlines()


@pytest.mark.parametrize("module", ["._batchjobs", "._webhook_security"])
def test_the_lazy_names_of_a_module_are_its_public_names(module: str) -> None:
    # runpod_facade lists them without importing the module: the two lists must agree.
    lazy = {name for name, where in runpod_facade._LAZY.items() if where == module}
    public = import_module(module, "runpod_facade").__all__
    assert lazy == set(public) <= set(runpod_facade.__all__)


def test_log_env_switch_turns_on_redacted_debug_logging() -> None:
    key = "rp_envlog_secret_123456"
    code = (
        "import httpx, runpod_facade\n"
        "t = httpx.MockTransport(lambda r: httpx.Response(200, json={'id': 'j', 'status': 'COMPLETED'}))\n"
        f"ep = runpod_facade.Endpoint('ep', api_key={key!r}, http_client=httpx.Client(transport=t))\n"
        "ep.status('j')\n"
        f"import logging; logging.getLogger('runpod_facade').debug('key is %s', {key!r})\n"
    )
    env = {**os.environ, "RUNPOD_FACADE_LOG": "debug"}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    assert "GET /ep/status/j -> HTTP 200" in out.stderr
    assert key not in out.stderr
    assert "<redacted>" in out.stderr
    quiet = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={k: v for k, v in env.items() if k != "RUNPOD_FACADE_LOG"},
        check=True,
    )
    assert quiet.stderr == ""


def test_env_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUNPOD_API_KEY", API_KEY)
    monkeypatch.setenv("RUNPOD_ENDPOINT_ID", "env-ep")
    monkeypatch.setenv("RUNPOD_BASE_URL", "https://example.test/v2/")
    with Endpoint() as ep:
        assert ep.endpoint_id == "env-ep"
        assert ep.base_url == "https://example.test/v2"
        assert ep._settings.api_key is not None and ep._settings.api_key.reveal() == API_KEY
