"""Every script in examples/ runs against a local endpoint, through the RUNPOD_* variables.

Each example is imported from its file and its ``main()`` called, with RUNPOD_ENDPOINT_ID,
RUNPOD_API_KEY and RUNPOD_BASE_URL pointing at a LocalEndpoint whose handler suits it.
"""

from __future__ import annotations

import importlib.util
import os
import queue
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from runpod_facade import Endpoint
from runpod_facade.local import LocalEndpoint, sample_handlers

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
SEEDS = Path("/work/shared/seeds")
ENV_NAMES = ("RUNPOD_ENDPOINT_ID", "RUNPOD_API_KEY", "RUNPOD_BASE_URL")

# Seed section heading -> the example that mirrors it (JS and Go docs share the headings).
SEED_TWINS = {
    "Run synchronously": "run_sync.py",
    "Run asynchronously": "run_async.py",
    "Get results from an asynchronous run": "get_results.py",
    "Poll the status of an asynchronous run": "poll_status.py",
    "Stream": "stream.py",
    "Health check": "health.py",
    "Status": "status.py",
    "Cancel": "cancel.py",
    "Timeout": "timeout.py",
    "Execution policy": "execution_policy.py",
    "Purge queue": "purge_queue.py",
}


def load(name: str) -> ModuleType:
    path = EXAMPLES / name
    spec = importlib.util.spec_from_file_location(f"example_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def point_env_at(monkeypatch: pytest.MonkeyPatch, ep: LocalEndpoint) -> None:
    assert ep.api_key is not None
    monkeypatch.setenv("RUNPOD_ENDPOINT_ID", ep.endpoint_id)
    monkeypatch.setenv("RUNPOD_API_KEY", ep.api_key)
    monkeypatch.setenv("RUNPOD_BASE_URL", ep.base_url)


@pytest.fixture(scope="module")
def echo() -> Iterator[LocalEndpoint]:
    with LocalEndpoint(sample_handlers.echo, workers=4) as ep:
        yield ep


@pytest.fixture(scope="module")
def words() -> Iterator[LocalEndpoint]:
    with LocalEndpoint(sample_handlers.text_stream, workers=2) as ep:
        yield ep


@pytest.fixture
def sleeper() -> Iterator[LocalEndpoint]:
    """One worker running ``sleep`` (input ``seconds``, default 1 s)."""
    with LocalEndpoint(sample_handlers.sleep, workers=1) as ep:
        yield ep


def run_example(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    ep: LocalEndpoint,
    name: str,
    call: Callable[[ModuleType], Any] = lambda module: module.main(),
) -> str:
    point_env_at(monkeypatch, ep)
    call(load(name))
    out, err = capsys.readouterr()
    assert ep.api_key is not None and ep.api_key not in out + err
    return out


# --- the scripts ------------------------------------------------------------------------

ECHO_EXPECTATIONS = {
    "run_sync.py": ["COMPLETED", "output: {'prompt': 'Hello, World!'}"],
    "run_async.py": ["queued job "],
    "get_results.py": ["run response: job ", "operation completed successfully.", "Hello"],
    "poll_status.py": ["current status: COMPLETED", "seen: COMPLETED", "Hello again"],
    "health.py": ["jobs: ", "workers: ", "idle"],
    "status.py": ["job ", "queued for "],
    "timeout.py": ["queued job ", "output: {'prompt': 'Hello, World!'}"],
    "execution_policy.py": [
        "policy sent to the API: {'executionTimeout': 300000, 'ttl': 3600000, "
        "'lowPriority': False}",
        "output: {'prompt': 'Hello, World!'}",
    ],
}


@pytest.mark.parametrize("name", sorted(ECHO_EXPECTATIONS))
def test_echo_examples(
    name: str,
    echo: LocalEndpoint,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    if name == "status.py":  # takes an optional JOB_ID argument; none: it queues a job
        out = run_example(monkeypatch, capsys, echo, name, lambda module: module.main([]))
    else:
        out = run_example(monkeypatch, capsys, echo, name)
    for expected in ECHO_EXPECTATIONS[name]:
        assert expected in out, out


def test_status_of_a_given_job(
    echo: LocalEndpoint, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with Endpoint(echo.endpoint_id, base_url=echo.base_url, api_key=echo.api_key) as client:
        state = client.run_sync({"known": "job"})
    out = run_example(
        monkeypatch, capsys, echo, "status.py", lambda module: module.main([state.id])
    )
    assert f"job {state.id}: COMPLETED" in out
    assert "output: {'known': 'job'}" in out


def test_async_run_many(
    echo: LocalEndpoint, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    out = run_example(
        monkeypatch, capsys, echo, "async_run_many.py", lambda module: module.main(12)
    )
    assert "queued 12 jobs" in out
    for n in range(12):
        assert f"\n{n}: COMPLETED {{'prompt': 'prompt {n}'}}\n" in "\n" + out
        assert f"gathered {n}: {{'prompt': 'prompt {n}'}}" in out


def test_stream(
    words: LocalEndpoint, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    out = run_example(monkeypatch, capsys, words, "stream.py")
    assert "chunk: Hello,\nchunk: World!\n" in out
    assert "done streaming (COMPLETED, 2 chunks)" in out


def test_cancel(
    sleeper: LocalEndpoint, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    out = run_example(monkeypatch, capsys, sleeper, "cancel.py")
    assert " is CANCELLED" in out
    assert "wait() raised JobCancelled" in out


def test_cancel_on_timeout(
    sleeper: LocalEndpoint, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    out = run_example(
        monkeypatch, capsys, sleeper, "cancel_on_timeout.py", lambda module: module.main(1.0)
    )
    assert "after 1 s; cancelled: True" in out
    assert "its status now: CANCELLED" in out


def test_purge_queue(
    sleeper: LocalEndpoint, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with Endpoint(sleeper.endpoint_id, base_url=sleeper.base_url, api_key=sleeper.api_key) as c:
        blocker = c.run({"seconds": 30})  # keeps the only worker busy: the example's job waits
        deadline = time.monotonic() + 20
        while c.health().jobs.in_progress < 1:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        out = run_example(monkeypatch, capsys, sleeper, "purge_queue.py")
        blocker.cancel()
    assert "status: completed\nremoved: 1\n" in out
    assert "is now CANCELLED" in out


def test_a_script_runs_as_a_program(echo: LocalEndpoint) -> None:
    assert echo.api_key is not None
    env = {k: v for k, v in os.environ.items() if k not in ENV_NAMES}
    env.update(
        RUNPOD_ENDPOINT_ID=echo.endpoint_id,
        RUNPOD_API_KEY=echo.api_key,
        RUNPOD_BASE_URL=echo.base_url,
    )
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / "run_sync.py")],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "COMPLETED" in proc.stdout


def read_lines(stream: Any) -> queue.Queue[str]:
    """The lines of a child's pipe, as they come (read by a thread, so waits can time out)."""
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        with stream:  # closed at the child's exit (EOF), by the thread reading it
            for line in stream:
                lines.put(line)

    threading.Thread(target=pump, daemon=True).start()
    return lines


def next_match(lines: queue.Queue[str], pattern: str, timeout: float = 30.0) -> re.Match[str]:
    deadline = time.monotonic() + timeout
    while True:
        line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
        if found := re.search(pattern, line):
            return found


def test_webhook_receiver(echo: LocalEndpoint) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-u", str(EXAMPLES / "webhook_receiver.py"), "0"],  # port 0: any free
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        stdout, stderr = read_lines(proc.stdout), read_lines(proc.stderr)
        port = next_match(stderr, r"Uvicorn running on http://127\.0\.0\.1:(\d+)").group(1)
        url = f"http://127.0.0.1:{port}/runpod-webhook"
        with Endpoint(echo.endpoint_id, base_url=echo.base_url, api_key=echo.api_key) as c:
            job = c.run({"prompt": "ring the bell"}, webhook=url)
            assert job.wait(timeout=30).output == {"prompt": "ring the bell"}
        line = next_match(stdout, rf"^job {re.escape(job.id)} .*$").group(0)
        assert line == f"job {job.id} COMPLETED: {{'prompt': 'ring the bell'}}"
        deadline = time.monotonic() + 30
        while not any(a.job_id == job.id for a in echo.webhook_attempts):
            assert time.monotonic() < deadline
            time.sleep(0.01)
        (attempt,) = [a for a in echo.webhook_attempts if a.job_id == job.id]
        assert attempt.status_code == 200
    finally:
        proc.terminate()
        proc.wait(timeout=30)


# --- coverage of the seeds --------------------------------------------------------------


def test_every_script_is_tested_and_documented() -> None:
    scripts = sorted(p.name for p in EXAMPLES.glob("*.py"))
    tested = set(ECHO_EXPECTATIONS) | {
        "async_run_many.py",
        "stream.py",
        "cancel.py",
        "cancel_on_timeout.py",
        "purge_queue.py",
        "webhook_receiver.py",
    }
    assert set(scripts) == tested
    for name in scripts:
        module = load(name)
        assert callable(getattr(module, "main", None)), name
        doc = module.__doc__ or ""
        assert "seed" in doc.lower() or "SDK docs" in doc, name


def test_every_seed_example_has_a_twin() -> None:
    if not SEEDS.is_dir():
        pytest.skip("the seed documents are not available here")
    seed_text = "\n".join(p.read_text(encoding="utf-8") for p in SEEDS.glob("*.txt"))
    for heading, name in SEED_TWINS.items():
        assert heading.lower() in seed_text.lower(), heading
        doc = load(name).__doc__ or ""
        assert heading.lower() in doc.lower(), (heading, name)
