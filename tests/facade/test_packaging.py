"""Things a user gets from the installed package, independent of any server."""

from __future__ import annotations

import os
import subprocess
import sys
from importlib import metadata, resources
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


def test_importing_the_facade_leaves_what_only_requests_and_journals_need_unimported() -> None:
    # Cold import time (benchmarks/import_time.py): the generated client and its attrs models
    # load with the first request built, sqlite3 with the first Batch Jobs journal opened, the
    # load-balancing clients with the first of their names used.
    code = (
        "import sys, runpod_facade\n"
        "lazy = ('runpod_generated', 'attr', 'attrs', 'sqlite3', 'runpod_facade._loadbalancing')\n"
        "print(*(m in sys.modules for m in lazy))\n"
        "ep = runpod_facade.Endpoint('ep', api_key='k', base_url='http://127.0.0.1:9/v2')\n"
        "ep._core.request('status', job_id='j')  # the first request built\n"
        "print('runpod_generated' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False", "False", "False", "False", "True"]


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
