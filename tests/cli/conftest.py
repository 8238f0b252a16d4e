"""Fixtures for the command-line and demo tests: local endpoints and the environment."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from runpod_facade.demo import demo_handler
from runpod_facade.local import LocalEndpoint

ROOT = Path(__file__).resolve().parents[2]
ENV_NAMES = ("RUNPOD_ENDPOINT_ID", "RUNPOD_API_KEY", "RUNPOD_BASE_URL", "RUNPOD_FACADE_LOG")


@pytest.fixture(scope="module")
def local() -> Iterator[LocalEndpoint]:
    """The demo handler (dispatching on input["task"]) with 4 workers and a random API key."""
    with LocalEndpoint(demo_handler, workers=4) as ep:
        yield ep


@pytest.fixture
def env(local: LocalEndpoint, monkeypatch: pytest.MonkeyPatch) -> LocalEndpoint:
    """RUNPOD_* variables pointing at ``local``."""
    point_env_at(monkeypatch, local)
    return local


def point_env_at(monkeypatch: pytest.MonkeyPatch, ep: LocalEndpoint) -> None:
    for name in ENV_NAMES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("RUNPOD_ENDPOINT_ID", ep.endpoint_id)
    assert ep.api_key is not None
    monkeypatch.setenv("RUNPOD_API_KEY", ep.api_key)
    monkeypatch.setenv("RUNPOD_BASE_URL", ep.base_url)


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ENV_NAMES:
        monkeypatch.delenv(name, raising=False)


@dataclass
class Completed:
    returncode: int
    stdout: str
    stderr: str


def run_module(
    *args: str,
    ep: LocalEndpoint | None = None,
    stdin: str | None = None,
    extra_env: dict[str, str] | None = None,
    timeout: float = 60,
    module: str = "runpod_facade",
) -> Completed:
    """``python -m MODULE ARGS`` in a subprocess (the CLI by default), pointed at ``ep``."""
    environment = {k: v for k, v in os.environ.items() if k not in ENV_NAMES}
    if ep is not None:
        assert ep.api_key is not None
        environment.update(
            RUNPOD_ENDPOINT_ID=ep.endpoint_id,
            RUNPOD_API_KEY=ep.api_key,
            RUNPOD_BASE_URL=ep.base_url,
        )
    environment.update(extra_env or {})
    proc = subprocess.run(
        [sys.executable, "-m", module, *args],
        input=stdin if stdin is not None else "",
        capture_output=True,
        text=True,
        env=environment,
        cwd=ROOT,
        timeout=timeout,
        check=False,
    )
    return Completed(proc.returncode, proc.stdout, proc.stderr)
