"""The ``runpod-facade`` command line, run in-process against a local endpoint."""

from __future__ import annotations

import io
import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from runpod_facade import Endpoint
from runpod_facade import cli as cli_module
from runpod_facade.cli import main
from runpod_facade.local import Fault, LocalEndpoint, sample_handlers

from .conftest import cli, one_error_line, point_env_at

pytestmark = pytest.mark.usefixtures("env")


def wait_until(predicate: Any, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.05)


# --- help -------------------------------------------------------------------------------


def test_help_documents_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(capsys, "--help")
    assert code == 0
    for command in ("run", "run-sync", "status", "wait", "stream", "cancel", "retry"):
        assert command in out
    assert "health" in out and "purge-queue" in out and "serve" in out
    for exit_code in ("0 ", "1 ", "2 ", "3 ", "4 ", "5 ", "6 ", "7 ", "130"):
        assert f"\n  {exit_code}" in out
    assert cli_module.__doc__ is not None and "130" in cli_module.__doc__


def test_subcommand_help_and_version(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(capsys, "run", "--help")
    assert code == 0
    assert "--policy-execution-timeout" in out and "--input-file" in out and "exit codes" in out
    code, out, _ = cli(capsys, "--version")
    assert code == 0 and out.startswith("runpod-facade ")


# --- each subcommand --------------------------------------------------------------------


def test_health_human_and_json(capsys: pytest.CaptureFixture[str], env: LocalEndpoint) -> None:
    code, out, err = cli(capsys, "health")
    assert code == 0, err
    assert f"endpoint {env.endpoint_id}" in out
    assert "workers:" in out and "ready" in out and "jobs:" in out
    code, out, _ = cli(capsys, "--json", "health")
    assert code == 0
    data = json.loads(out)
    assert data["workers"]["ready"] + data["workers"]["running"] >= 1
    assert set(data["jobs"]) == {"completed", "failed", "inProgress", "inQueue", "retried"}


def test_run_sync_human(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cli(capsys, "run-sync", "--input", '{"prompt": "hi"}')
    assert code == 0, err
    first, *rest = out.splitlines()
    assert first.startswith("job ") and " COMPLETED in " in first and "(queue " in first
    assert json.loads("\n".join(rest)) == {"prompt": "hi"}


def test_run_sync_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(capsys, "run-sync", "--json", "--input", '[1, 2, {"a": null}]')
    assert code == 0
    data = json.loads(out)
    assert data["status"] == "COMPLETED" and data["output"] == [1, 2, {"a": None}]
    assert data["id"]


def test_global_options_after_the_subcommand(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(capsys, "run-sync", "--input", '"text"', "--json", "--timeout", "60")
    assert code == 0
    assert json.loads(out)["output"] == "text"


def test_run_prints_the_id_then_wait_and_status(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cli(capsys, "run", "--input", '{"task": "sleep", "seconds": 0.3}')
    assert code == 0
    job_id = out.split()[1]
    assert out.startswith(f"job {job_id} IN_")
    assert f"runpod-facade wait {job_id}" in err

    code, out, _ = cli(capsys, "status", job_id)
    assert code == 0 and out.startswith(f"job {job_id} ")

    code, out, _ = cli(capsys, "wait", job_id)
    assert code == 0
    assert out.startswith(f"job {job_id} COMPLETED")
    assert '"slept": 0.3' in out

    code, out, _ = cli(capsys, "--json", "status", job_id)
    assert code == 0
    assert json.loads(out)["status"] == "COMPLETED"


def test_run_quiet_and_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(capsys, "run", "-q", "--input", "{}")
    assert code == 0
    assert len(out.split()) == 1
    code, out, _ = cli(capsys, "run", "--json", "--input", "{}")
    assert code == 0
    data = json.loads(out)
    assert data["id"] and data["status"] in {"IN_QUEUE", "IN_PROGRESS", "COMPLETED"}


def test_run_wait(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(capsys, "run", "--wait", "--json", "--input", '{"x": 1}')
    assert code == 0
    data = json.loads(out)
    assert data["status"] == "COMPLETED" and data["output"] == {"x": 1}


def test_stream_submits_and_prints_chunks_one_per_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = cli(capsys, "stream", "--input", '{"task": "stream", "prompt": "a b c"}')
    assert code == 0, err
    assert out.splitlines() == ["a", "b", "c"]
    assert "COMPLETED (3 chunks)" in err


def test_stream_json_lines_and_concat(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(capsys, "stream", "--json", "--input", '{"task": "stream", "prompt": "x y"}')
    assert code == 0
    assert [json.loads(line) for line in out.splitlines()] == ["x", "y"]
    code, out, _ = cli(
        capsys, "stream", "--concat", "--input", '{"task": "stream", "prompt": "x y"}'
    )
    assert code == 0
    assert out == "xy\n"


def test_stream_an_existing_job(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(
        capsys, "run", "-q", "--input", '{"task": "stream", "prompt": "one two", "delay": 0.1}'
    )
    job_id = out.strip()
    code, out, err = cli(capsys, "stream", job_id)
    assert code == 0, err
    assert out.split() == ["one", "two"]


def test_stream_needs_a_job_or_input(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = cli(capsys, "stream", "some-job", "--input", "{}")
    assert code == 2
    one_error_line(err)


def test_cancel_then_wait_exits_3(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(capsys, "run", "-q", "--input", '{"task": "sleep", "seconds": 30}')
    job_id = out.strip()
    code, out, _ = cli(capsys, "cancel", job_id)
    assert code == 0
    assert out.startswith(f"job {job_id} CANCELLED")
    code, out, err = cli(capsys, "wait", job_id)
    assert code == 3
    assert job_id in one_error_line(err) and "CANCELLED" in err
    code, out, err = cli(capsys, "stream", job_id)
    assert code == 3


def test_failed_job_exits_1_then_retry(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cli(capsys, "run-sync", "--input", '{"task": "flaky"}')
    assert code == 1
    assert out == ""
    lines = err.splitlines()
    assert lines[0].startswith("error: job ") and "FAILED: RuntimeError: flaky" in lines[0]
    assert "Traceback" not in err
    job_id = lines[0].split()[2]
    assert f"runpod-facade retry {job_id}" in err

    code, out, _ = cli(capsys, "retry", job_id)
    assert code == 0
    assert out.startswith(f"job {job_id} ") and "(requeued)" in out
    code, out, _ = cli(capsys, "wait", "--json", job_id)
    assert code == 0
    assert json.loads(out)["output"] == {"attempt": "retried", "ok": True}


def test_failed_job_json_and_retry_wait(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cli(
        capsys, "--json", "run", "--wait", "--input", '{"task": "fail", "message": "nope"}'
    )
    assert code == 1
    data = json.loads(out)
    assert data["status"] == "FAILED"
    assert json.loads(data["error"])["error_message"] == "nope"
    assert "ValueError: nope" in err
    code, out, err = cli(capsys, "retry", "--wait", data["id"])
    assert code == 1  # fails again: `fail` always fails


def test_failed_job_debug_shows_the_worker_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = cli(capsys, "--debug", "run-sync", "--input", '{"task": "fail"}')
    assert code == 1
    assert "Traceback" in err and "ValueError" in err


def test_server_timeout_exits_4(capsys: pytest.CaptureFixture[str], monkeypatch: Any) -> None:
    # The endpoint's default execution timeout is short, so no policy is needed.
    with LocalEndpoint(sample_handlers.sleep, workers=1, execution_timeout_s=0.5) as ep:
        point_env_at(monkeypatch, ep)
        code, out, err = cli(capsys, "run-sync", "--input", '{"seconds": 10}')
    assert code == 4
    assert "TIMED_OUT" in one_error_line(err.splitlines()[0])
    assert out == ""


def test_client_timeout_exits_5_with_the_job_id(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(capsys, "run", "-q", "--input", '{"task": "sleep", "seconds": 30}')
    job_id = out.strip()
    try:
        code, out, err = cli(capsys, "wait", job_id, "--timeout", "0.5")
        assert code == 5
        assert err.startswith(f"error: job {job_id} did not finish within 0.5s")
        assert f"runpod-facade wait {job_id}" in err
        code, out, err = cli(capsys, "--json", "wait", job_id, "--timeout", "0.5")
        assert code == 5
        assert json.loads(out)["id"] == job_id
    finally:
        cli(capsys, "cancel", job_id)


def test_run_sync_timeout_can_cancel(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = cli(
        capsys,
        "run-sync",
        "--timeout",
        "1",
        "--cancel-on-timeout",
        "--input",
        '{"task": "sleep", "seconds": 30}',
    )
    assert code == 5
    assert "the job was cancelled" in err
    job_id = err.split()[2]
    code, out, _ = cli(capsys, "--json", "status", job_id)
    assert json.loads(out)["status"] == "CANCELLED"


def test_unknown_job_is_an_api_error_6(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cli(capsys, "status", "no-such-job")
    assert code == 6
    assert out == ""
    assert "404" in one_error_line(err)


def test_wrong_api_key_exits_6_without_printing_it(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RUNPOD_API_KEY", "wrong-key-1234567890")
    code, out, err = cli(capsys, "health")
    assert code == 6
    assert "401" in err and "check the API key" in err
    assert "wrong-key-1234567890" not in out + err


def test_connection_refused_exits_7(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RUNPOD_BASE_URL", f"http://127.0.0.1:{closed_port()}/v2")
    code, out, err = cli(capsys, "--max-retries", "0", "health")
    assert code == 7
    assert out == ""
    assert one_error_line(err).startswith("error: cannot reach the API")


@pytest.mark.parametrize(
    ("status", "note"),
    [(401, True), (403, True), (404, False), (409, False), (422, False)],
)
def test_every_status_error_exits_6_and_a_refused_key_says_so(
    capsys: pytest.CaptureFixture[str], env: LocalEndpoint, status: int, note: bool
) -> None:
    env.faults.add(Fault("health", "http_error", status=status, times=1))
    try:
        code, out, err = cli(capsys, "--json", "health")
    finally:
        env.faults.clear()
    assert code == 6
    assert out == ""
    assert f"HTTP {status}" in err
    assert ("check the API key" in err) is note


def test_interrupt_exits_130_and_says_how_to_resume(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupted(*args: Any, **kwargs: Any) -> Any:
        raise KeyboardInterrupt

    monkeypatch.setattr("runpod_facade._clients.sync.Job.wait", interrupted)
    code, _, err = cli(capsys, "run", "--wait", "--input", '{"task": "sleep", "seconds": 0.2}')
    assert code == 130
    assert "error: interrupted" in err
    assert "runpod-facade wait " in err and "runpod-facade cancel " in err


def test_unexpected_error_exits_8_without_traceback(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("boom")

    monkeypatch.setattr(Endpoint, "health", broken)
    code, _, err = cli(capsys, "health")
    assert code == 8
    assert "RuntimeError: boom" in one_error_line(err)
    code, _, err = cli(capsys, "--debug", "health")
    assert code == 8 and "Traceback" in err


def test_purge_queue(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    with LocalEndpoint(sample_handlers.sleep, workers=1) as ep:
        point_env_at(monkeypatch, ep)
        with Endpoint(ep.endpoint_id, base_url=ep.base_url, api_key=ep.api_key) as client:
            jobs = [client.run({"seconds": 30}) for _ in range(3)]
            wait_until(lambda: client.health().jobs.in_progress == 1)
            code, out, _ = cli(capsys, "purge-queue")
            assert code == 0
            assert out.strip() == "removed 2 queued jobs (completed)"
            code, out, _ = cli(capsys, "--json", "purge-queue")
            assert json.loads(out) == {"removed": 0, "status": "completed"}
            for job in jobs:
                job.cancel()


# --- input ------------------------------------------------------------------------------


def test_input_from_stdin(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO('{"from": "stdin"}'))
    code, out, _ = cli(capsys, "run-sync", "--json")
    assert code == 0
    assert json.loads(out)["output"] == {"from": "stdin"}


def test_input_file_and_dash(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    path = tmp_path / "input.json"
    path.write_text('{"from": "file"}', encoding="utf-8")
    code, out, _ = cli(capsys, "run-sync", "--json", "--input-file", str(path))
    assert code == 0 and json.loads(out)["output"] == {"from": "file"}
    monkeypatch.setattr("sys.stdin", io.StringIO('"dash"'))
    code, out, _ = cli(capsys, "run-sync", "--json", "--input-file", "-")
    assert code == 0 and json.loads(out)["output"] == "dash"


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(
    ("args", "stdin", "expected"),
    [
        (["run-sync", "--input", "{bad"], None, "--input is not valid JSON"),
        (["run-sync", "--input", ""], None, "--input is empty"),
        (["run"], "not json", "stdin is not valid JSON"),
        (["run"], "", "stdin is empty"),
        (["run"], _Terminal(), "no job input"),
        (["run-sync", "--input-file", "/nonexistent/input.json"], None, "cannot read"),
        (["run-sync", "--input", "{}", "--policy-execution-timeout", "1"], None, "5 s"),
        (["run-sync", "--input", "{}", "--ttl", "1"], None, "ttl"),
        (["run-sync", "--input", "{}", "--webhook", "not a url"], None, "webhook"),
        (["run-sync", "--input", "{}", "--timeout", "soon"], None, "--timeout"),
        (["run-sync", "--input", "{}", "--timeout", "-1"], None, "--timeout"),
        (["run-sync", "--input", "{}", "--input-file", "x"], None, "not allowed with"),
        (["frobnicate"], None, "invalid choice"),
        ([], None, "required"),
        (["status"], None, "JOB_ID"),
        (["status", "bad id"], None, "whitespace"),
    ],
)
def test_bad_input_exits_2_with_one_line(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    args: list[str],
    stdin: str | io.StringIO | None,
    expected: str,
) -> None:
    if stdin is not None:
        monkeypatch.setattr(
            "sys.stdin", stdin if isinstance(stdin, io.StringIO) else io.StringIO(stdin)
        )
    code, out, err = cli(capsys, *args)
    assert code == 2
    assert out == ""
    assert expected in one_error_line(err)


def test_missing_endpoint_id_exits_2(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RUNPOD_ENDPOINT_ID")
    code, out, err = cli(capsys, "health")
    assert code == 2 and out == ""
    assert "no endpoint id" in one_error_line(err) and "RUNPOD_ENDPOINT_ID" in err


def test_missing_api_key_for_a_remote_url_exits_2(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RUNPOD_API_KEY")
    monkeypatch.setenv("RUNPOD_BASE_URL", "https://api.runpod.ai/v2")
    code, _, err = cli(capsys, "health")
    assert code == 2
    assert "no API key" in one_error_line(err)


def test_options_reach_the_wire(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    bodies: list[dict[str, Any]] = []

    def record(request: httpx.Request) -> None:
        if request.url.path.endswith(("/run", "/runsync")):
            bodies.append(json.loads(request.content))

    # The endpoint does not close a client it was given: the test closes its own.
    client = httpx.Client(event_hooks={"request": [record]})

    class Recording(Endpoint):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, http_client=client, **kwargs)

    monkeypatch.setattr("runpod_facade.cli._context.Endpoint", Recording)
    with client:
        code, _, err = cli(
            capsys,
            "run",
            "--input",
            '{"a": 1}',
            "--policy-execution-timeout",
            "30",
            "--ttl",
            "60",
            "--low-priority",
            "--webhook",
            "http://127.0.0.1:9/hook",
        )
    assert code == 0, err
    assert bodies == [
        {
            "input": {"a": 1},
            "policy": {"executionTimeout": 30000, "ttl": 60000, "lowPriority": True},
            "webhook": "http://127.0.0.1:9/hook",
        }
    ]


# --- the API key never shows ------------------------------------------------------------


def test_api_key_never_printed(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, env: LocalEndpoint
) -> None:
    key = env.api_key
    assert key is not None
    outputs: list[str] = []
    for args in (
        ["--debug", "health"],
        ["--debug", "--json", "run-sync", "--input", '{"task": "fail"}'],
        ["--debug", "status", "missing-job"],
        ["--debug", "--api-key", key, "run", "--wait", "--input", "{}"],
        [f"--api-key={key}", "--debug", "stream", "--input", '{"task": "stream"}'],
        ["--debug", "run-sync", "--input", "{bad json"],
        ["--debug", "--api-key", key, "frobnicate"],
        ["--debug", "status", key],  # even a key pasted as an argument is masked in errors
    ):
        main(args)
        out, err = capsys.readouterr()
        outputs.append(out + err)
    monkeypatch.setenv("RUNPOD_BASE_URL", f"http://127.0.0.1:{closed_port()}/v2")
    main(["--debug", "--max-retries", "0", "health"])
    out, err = capsys.readouterr()
    outputs.append(out + err)
    assert any("Traceback" in text for text in outputs)  # --debug did show details
    for text in outputs:
        assert key not in text


def test_wrong_key_on_the_command_line_is_masked(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cli(capsys, "--debug", "--api-key", "sk-wrong-secret-value", "health")
    assert code == 6
    assert "sk-wrong-secret-value" not in out + err


# --- the live status line ---------------------------------------------------------------


def test_status_line_only_on_a_terminal(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, _, err = cli(capsys, "run", "--wait", "--input", '{"task": "sleep", "seconds": 0.5}')
    assert code == 0
    assert "\r" not in err and "\x1b[" not in err

    monkeypatch.setenv("TERM", "xterm-256color")
    terminal = _Terminal()
    monkeypatch.setattr("sys.stderr", terminal)
    code = main(["run", "--wait", "--input", '{"task": "progress", "steps": 3, "delay": 0.6}'])
    assert code == 0
    text = terminal.getvalue()
    assert "\r\x1b[2K" in text  # redrawn in place (by rich)
    assert " s  IN_PROGRESS · progress {" in text
    assert text.endswith("\x1b[2K")  # the line is erased at the end
    out, _ = capsys.readouterr()
    assert "COMPLETED" in out


def closed_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
