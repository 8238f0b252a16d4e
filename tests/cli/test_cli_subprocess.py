"""``python -m runpod_facade`` in a subprocess: exit codes, stdin, signals, ``serve``."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from runpod_facade import Endpoint
from runpod_facade.cli import main
from runpod_facade.local import LocalEndpoint, sample_handlers

from .conftest import interrupt, one_error_line, run_module, start_cli, wait_for, wait_for_server


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_completed_exits_0_with_stdin_input(local: LocalEndpoint) -> None:
    result = run_module("run-sync", "--json", ep=local, stdin='{"piped": true}')
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["output"] == {"piped": True}
    assert result.stderr == ""  # no status line: stderr is not a terminal


def test_failed_exits_1(local: LocalEndpoint) -> None:
    result = run_module("run-sync", "--input", '{"task": "fail", "message": "bad"}', ep=local)
    assert result.returncode == 1
    assert "FAILED: ValueError: bad" in result.stderr and "Traceback" not in result.stderr


def test_invalid_json_exits_2_with_one_line(local: LocalEndpoint) -> None:
    result = run_module("run", ep=local, stdin="{not json")
    assert result.returncode == 2
    assert "stdin is not valid JSON" in one_error_line(result.stderr)
    assert result.stdout == ""


def test_missing_endpoint_id_exits_2() -> None:
    result = run_module("health")
    assert result.returncode == 2
    assert "no endpoint id" in one_error_line(result.stderr)


def test_argparse_usage_error_exits_2() -> None:
    result = run_module("wait")
    assert result.returncode == 2
    one_error_line(result.stderr)


def test_cancelled_exits_3_and_wait_timeout_exits_5(local: LocalEndpoint) -> None:
    with Endpoint(local.endpoint_id, base_url=local.base_url, api_key=local.api_key) as client:
        job = client.run({"task": "sleep", "seconds": 30})
        result = run_module("wait", job.id, "--timeout", "0.5", ep=local)
        assert result.returncode == 5
        assert f"resume with: runpod-facade wait {job.id}" in result.stderr
        job.cancel()
    result = run_module("wait", job.id, ep=local)
    assert result.returncode == 3


def test_server_timeout_exits_4() -> None:
    with LocalEndpoint(sample_handlers.sleep, workers=1, execution_timeout_s=0.5) as ep:
        result = run_module("run", "--wait", "--input", '{"seconds": 10}', ep=ep)
    assert result.returncode == 4
    assert "TIMED_OUT" in result.stderr


def test_api_error_exits_6_and_connection_error_exits_7(local: LocalEndpoint) -> None:
    result = run_module("cancel", "no-such-job", ep=local)
    assert result.returncode == 6
    assert "HTTP 404" in one_error_line(result.stderr)
    url = f"http://127.0.0.1:{free_port()}/v2"
    result = run_module(
        "--max-retries", "0", "health", ep=local, extra_env={"RUNPOD_BASE_URL": url}
    )
    assert result.returncode == 7
    assert one_error_line(result.stderr).startswith("error: cannot reach the API")


def test_debug_output_never_contains_the_key(local: LocalEndpoint) -> None:
    assert local.api_key is not None
    for args in (
        ("--debug", "run-sync", "--input", '{"task": "fail"}'),
        ("--debug", "status", "missing"),
        ("--debug", "--api-key", local.api_key, "health"),
    ):
        result = run_module(*args, ep=local, extra_env={"RUNPOD_FACADE_LOG": "debug"})
        assert "debug" in result.stderr
        assert local.api_key not in result.stdout + result.stderr


def test_sigint_exits_130(local: LocalEndpoint) -> None:
    with Endpoint(local.endpoint_id, base_url=local.base_url, api_key=local.api_key) as client:
        job = client.run({"task": "sleep", "seconds": 30})
        proc = start_cli("wait", job.id, ep=local)
        try:
            # Interrupt only once the command is waiting (its long-poll reached the server).
            wait_for(
                proc,
                lambda: any(
                    r.operation == "status-sync" and r.job_id == job.id for r in local.requests
                ),
            )
            stderr = interrupt(proc)
        finally:
            job.cancel()
    assert proc.returncode == 130, stderr
    assert "error: interrupted" in stderr and f"runpod-facade wait {job.id}" in stderr


def test_console_script() -> None:
    script = shutil.which("runpod-facade", path=os.path.dirname(sys.executable))
    if script is None:
        pytest.skip("the runpod-facade console script is not installed in this environment")
    result = subprocess.run(
        [script, "--version"], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0 and result.stdout.startswith("runpod-facade ")


# --- serve ------------------------------------------------------------------------------


@pytest.fixture
def served() -> Iterator[tuple[str, str]]:
    """``runpod-facade serve`` of the echo sample handler, with an API key."""
    port = free_port()
    key = "serve-test-key-123456"
    handler = "runpod_facade.local.sample_handlers:echo"
    proc = start_cli("serve", handler, "--port", str(port), "--api-key", key, "--workers", "2")
    base_url = f"http://127.0.0.1:{port}/v2"
    try:
        wait_for_server(proc, base_url)
        yield base_url, key
    finally:
        stderr = interrupt(proc, timeout=20)
    assert proc.returncode == 0, stderr  # Ctrl-C is how a server is stopped: not an error
    assert key not in stderr
    assert "serving runpod_facade.local.sample_handlers:echo" in stderr
    assert "server stopped" in stderr
    # One banner: the address is printed once (uvicorn's own log line aside, which has no /v2).
    assert stderr.count(f":{port}/v2") == 1, stderr
    assert stderr.count("serving runpod_facade") == 1, stderr


def test_serve_then_use_it(served: tuple[str, str], clean_env: None) -> None:
    base_url, key = served
    env = {"RUNPOD_BASE_URL": base_url, "RUNPOD_API_KEY": key, "RUNPOD_ENDPOINT_ID": "my-ep"}
    result = run_module("run-sync", "--json", "--input", '{"served": 1}', extra_env=env)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["output"] == {"served": 1}
    env["RUNPOD_API_KEY"] = "not-the-key"
    result = run_module("health", extra_env=env)
    assert result.returncode == 6


def test_serve_with_a_bad_handler_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["serve", str(tmp_path / "missing.py")]) == 2
    _, err = capsys.readouterr()
    assert "cannot load handler" in one_error_line(err)
    assert main(["serve", "runpod_facade.local.sample_handlers:nope"]) == 2
    _, err = capsys.readouterr()
    assert "has no attribute 'nope'" in one_error_line(err)


def test_serve_without_the_local_extra_prints_a_hint(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import importlib.util

    real = importlib.util.find_spec

    def find_spec(name: str, *args: object) -> object:
        return None if name == "uvicorn" else real(name)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    assert main(["serve", "runpod_facade.local.sample_handlers:echo"]) == 2
    _, err = capsys.readouterr()
    assert "pip install 'runpod-facade[local]'" in one_error_line(err)


def test_serve_rejects_bad_options(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "x:y", "--port", "99999"]) == 2
    assert main(["serve", "x:y", "--workers", "0"]) == 2
    _, err = capsys.readouterr()
    assert err.count("error: ") == 2


def test_sigint_during_run_sync_says_no_id_had_arrived(local: LocalEndpoint) -> None:
    def runsyncs() -> int:
        return sum(r.operation == "runsync" for r in local.requests)

    sent, known = runsyncs(), set(local.job_ids())
    proc = start_cli("run-sync", "--input", '{"task": "sleep", "seconds": 30}', ep=local)
    try:
        # Interrupt during the /runsync hold: the server has the job, the client no id yet.
        wait_for(proc, lambda: runsyncs() > sent)
        stderr = interrupt(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        with Endpoint(local.endpoint_id, base_url=local.base_url, api_key=local.api_key) as ep:
            for job_id in set(local.job_ids()) - known:  # the job the CLI never learnt of
                ep.cancel(job_id)
    assert proc.returncode == 130, stderr
    assert "error: interrupted" in stderr
    assert "no job id had arrived yet" in stderr and "/runsync" in stderr


def test_sigint_during_run_sync_with_cancel_on_interrupt_cancels_the_job(
    local: LocalEndpoint,
) -> None:
    known = set(local.job_ids())
    proc = start_cli(
        "run-sync",
        "--cancel-on-interrupt",
        "--input",
        '{"task": "sleep", "seconds": 30}',
        ep=local,
    )
    try:
        # --cancel-on-interrupt submits with /run: the id is known before the wait starts.
        wait_for(proc, lambda: bool(set(local.job_ids()) - known))
        (submitted,) = set(local.job_ids()) - known
        # This job's own long-poll (the endpoint is shared: other tests' requests are logged).
        wait_for(
            proc,
            lambda: any(
                r.operation == "status-sync" and r.job_id == submitted for r in local.requests
            ),
        )
        stderr = interrupt(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    (job_id,) = set(local.job_ids()) - known
    assert proc.returncode == 130, stderr
    assert f"job {job_id} cancelled on interrupt" in stderr
    with Endpoint(local.endpoint_id, base_url=local.base_url, api_key=local.api_key) as ep:
        assert ep.status(job_id).status == "CANCELLED"


def test_serve_finds_a_module_in_the_current_directory(tmp_path: Path) -> None:
    (tmp_path / "my_module.py").write_text(
        "def handler(job):\n    return {'from': 'my_module', 'input': job['input']}\n",
        encoding="utf-8",
    )
    port = free_port()
    # -P: like the console script, the interpreter puts no current directory on sys.path.
    proc = start_cli(
        "serve", "my_module:handler", "--port", str(port), cwd=tmp_path, python_flags=("-P",)
    )
    base_url = f"http://127.0.0.1:{port}/v2"
    try:
        wait_for_server(proc, base_url)
        reply = httpx.post(f"{base_url}/any/runsync", json={"input": 7}, timeout=10)
        assert reply.json()["output"] == {"from": "my_module", "input": 7}
    finally:
        stderr = interrupt(proc, timeout=20)
    assert proc.returncode == 0, stderr
