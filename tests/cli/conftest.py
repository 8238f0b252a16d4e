"""Fixtures for the command-line and demo tests: local endpoints and the environment."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from runpod_facade.cli import main
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


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """``main(args)`` in-process: (exit code, stdout, stderr)."""
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def one_error_line(err: str) -> str:
    """The one ``error: …`` line ``err`` must consist of (no traceback)."""
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("error: "), err
    assert "Traceback" not in err
    return lines[0]


def cli_environment(
    ep: LocalEndpoint | None = None, extra_env: dict[str, str] | None = None
) -> dict[str, str]:
    """This process's environment without RUNPOD_* variables, then pointed at ``ep``."""
    environment = {k: v for k, v in os.environ.items() if k not in ENV_NAMES}
    if ep is not None:
        assert ep.api_key is not None
        environment.update(
            RUNPOD_ENDPOINT_ID=ep.endpoint_id,
            RUNPOD_API_KEY=ep.api_key,
            RUNPOD_BASE_URL=ep.base_url,
        )
    environment.update(extra_env or {})
    return environment


def run_module(
    *args: str,
    ep: LocalEndpoint | None = None,
    stdin: str | None = None,
    extra_env: dict[str, str] | None = None,
    timeout: float = 60,
    module: str = "runpod_facade",
) -> Completed:
    """``python -m MODULE ARGS`` in a subprocess (the CLI by default), pointed at ``ep``."""
    proc = subprocess.run(
        [sys.executable, "-m", module, *args],
        input=stdin if stdin is not None else "",
        capture_output=True,
        text=True,
        env=cli_environment(ep, extra_env),
        cwd=ROOT,
        timeout=timeout,
        check=False,
    )
    return Completed(proc.returncode, proc.stdout, proc.stderr)


def start_cli(
    *args: str,
    ep: LocalEndpoint | None = None,
    cwd: Path = ROOT,
    python_flags: tuple[str, ...] = (),
) -> subprocess.Popen[str]:
    """``python [FLAGS] -m runpod_facade ARGS`` started in the background."""
    environment = cli_environment(ep)
    if python_flags:
        environment.pop("PYTHONPATH", None)
    return subprocess.Popen(
        [sys.executable, *python_flags, "-m", "runpod_facade", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=environment,
        cwd=cwd,
    )


def wait_for(proc: subprocess.Popen[str], condition: object, timeout: float = 30) -> None:
    """Poll ``condition()`` until true; fail if ``proc`` exits or time runs out first."""
    assert callable(condition)
    deadline = time.monotonic() + timeout
    while not condition():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.05)


def wait_for_server(proc: subprocess.Popen[str], base_url: str) -> None:
    """Wait until ``runpod-facade serve`` answers at ``base_url``."""

    def answers() -> bool:
        try:
            httpx.get(f"{base_url}/any/health", timeout=1)
        except httpx.TransportError:
            return False
        return True

    wait_for(proc, answers)


def interrupt(proc: subprocess.Popen[str], timeout: float = 30) -> str:
    """SIGINT (Ctrl-C) to ``proc``; returns its stderr once it has exited (killed if stuck)."""
    proc.send_signal(signal.SIGINT)
    try:
        _, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise
    return stderr
