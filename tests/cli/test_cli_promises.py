"""The command line's promises from issue #10, each through the real ``main()`` (in-process)
or, where the behaviour is the process's, through a subprocess."""

from __future__ import annotations

import json
import re
import socket
from typing import Any

import pytest

from runpod_facade import Endpoint, JobState, JobStatus
from runpod_facade.cli import main
from runpod_facade.local import LocalEndpoint

from .conftest import cli, one_error_line, run_module

pytestmark = pytest.mark.usefixtures("env")


# --- run-sync: Ctrl-C says which job was left, or that no id had arrived -------------------


def test_run_sync_interrupted_before_the_reply_says_no_id_had_arrived(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupted(*args: Any, **kwargs: Any) -> Any:
        raise KeyboardInterrupt  # during the /runsync hold: no state, so no id, yet

    monkeypatch.setattr(Endpoint, "run_sync", interrupted)
    code, out, err = cli(capsys, "run-sync", "--input", "{}")
    assert code == 130 and out == ""
    assert "error: interrupted" in err
    assert "no job id had arrived yet" in err and "/runsync" in err
    assert "runpod-facade run --wait" in err  # the way to have an id at once


def test_run_sync_interrupted_after_the_id_prints_resume_and_cancel(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupted(*args: Any, on_status: Any = None, **kwargs: Any) -> Any:
        on_status(JobState(id="job-42", status=JobStatus.IN_PROGRESS))
        raise KeyboardInterrupt

    monkeypatch.setattr(Endpoint, "run_sync", interrupted)
    code, _, err = cli(capsys, "run-sync", "--input", "{}")
    assert code == 130
    assert "runpod-facade wait job-42" in err and "runpod-facade cancel job-42" in err
    assert "no job id" not in err


def test_run_interrupted_before_the_reply_says_no_id_had_arrived(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupted(*args: Any, **kwargs: Any) -> Any:
        raise KeyboardInterrupt

    monkeypatch.setattr(Endpoint, "run", interrupted)
    code, _, err = cli(capsys, "run", "--input", "{}")
    assert code == 130
    assert "no job id had arrived yet" in err


# --- flags, not Python keywords, in error messages ----------------------------------------

PYTHON_NAME = re.compile(r"\b[a-z]+_[a-z_]+\b|\w+=(True|None)?|Endpoint\(")


def outside_quotes(text: str) -> str:
    return re.sub(r"'[^']*'", "''", text)


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("api_key must not be empty", "--api-key must not be empty"),
        ("no API key: pass api_key= or set RUNPOD_API_KEY", "no API key: pass --api-key or set"),
        (
            "no endpoint id: pass it as Endpoint('ENDPOINT_ID') or set RUNPOD_ENDPOINT_ID",
            "no endpoint id: pass --endpoint-id or set RUNPOD_ENDPOINT_ID",
        ),
        ("endpoint_id must not contain whitespace", "--endpoint-id must not contain whitespace"),
        ("job_id is too long (600 characters)", "JOB_ID is too long (600 characters)"),
        ("base_url must not have a query or a fragment", "--base-url must not have a query"),
        ("base_url must not contain credentials; pass api_key instead", "pass --api-key instead"),
        (
            "refusing plain http:// to non-loopback host 'x.io': the API key would travel "
            "unencrypted. Use https://, or pass allow_insecure_http=True if you must.",
            "the API key would travel unencrypted. Use https://.",
        ),
        ("execution_timeout must be between 5 s and 7 days", "--policy-execution-timeout must"),
        ("ttl must be between 10 s and 7 days, got 1.0", "--ttl must be between 10 s"),
        ("timeout must be positive (or None for no timeout)", "--timeout must be positive"),
        ("idle_timeout must not be negative, got -1", "--idle-timeout must not be negative"),
        ("max_retries must be a non-negative int, got -1", "--max-retries must be"),
        ("webhook must be an absolute http(s) URL, got 'x'", "--webhook must be an absolute"),
        ("input must be JSON-serializable", "the job input must be JSON-serializable"),
        # a user's own value is quoted: never rewritten, even when it looks like a name
        ("webhook must be an absolute http(s) URL, got 'a_b api_key='", "got 'a_b api_key='"),
    ],
)
def test_facade_messages_are_translated_to_flags(message: str, expected: str) -> None:
    from runpod_facade.cli._errors import cli_terms

    assert expected in cli_terms(message)


@pytest.mark.parametrize(
    ("args", "flag"),
    [
        (["--base-url", "ftp://nowhere", "health"], "--base-url"),
        (["--base-url", "http://example.com/v2", "health"], "https://"),
        (["--base-url", "https://u:p@example.com/v2", "health"], "--api-key"),
        (["--endpoint-id", "has space", "health"], "--endpoint-id"),
        (["--api-key", "has space", "health"], "--api-key"),
        (["status", "bad id"], "JOB_ID"),
        (["run", "--input", "{}", "--ttl", "1"], "--ttl"),
        (["run", "--input", "{}", "--policy-execution-timeout", "1"], "--policy-execution"),
        (["run", "--input", "{}", "--webhook", "not-a-url"], "--webhook"),
        (["run-sync", "--input", "NaN"], "job input"),
    ],
)
def test_error_messages_name_cli_flags(
    capsys: pytest.CaptureFixture[str], args: list[str], flag: str
) -> None:
    code, out, err = cli(capsys, *args)
    assert code == 2 and out == ""
    line = one_error_line(err)
    assert flag in line
    assert not PYTHON_NAME.search(outside_quotes(line)), line


def test_missing_api_key_names_the_flag(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RUNPOD_API_KEY")
    monkeypatch.setenv("RUNPOD_BASE_URL", "https://api.runpod.ai/v2")
    code, _, err = cli(capsys, "health")
    assert code == 2
    assert "pass --api-key or set RUNPOD_API_KEY" in one_error_line(err)


# --- an empty option is a usage error, never a silent fallback to the environment ----------


@pytest.mark.parametrize(
    "args",
    [
        ["--endpoint-id", "", "health"],
        ["--endpoint-id=", "health"],
        ["health", "--endpoint-id", "  "],
        ["--api-key", "", "health"],
        ["--base-url", "", "health"],
        ["run", "--input", "{}", "--endpoint-id", ""],
    ],
)
def test_empty_option_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], env: LocalEndpoint, args: list[str]
) -> None:
    sent = len(env.requests)
    code, out, err = cli(capsys, *args)
    assert code == 2 and out == ""
    flag = next(a for a in args if a.startswith("--") and a != "--input").rstrip("=")
    line = one_error_line(err)
    assert f"argument {flag}: must not be empty" in line
    assert len(env.requests) == sent  # nothing was sent


def test_serve_rejects_an_empty_api_key(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = cli(capsys, "serve", "runpod_facade.local.sample_handlers:echo", "--api-key", "")
    assert code == 2
    assert "--api-key: must not be empty" in one_error_line(err)


# --- serve: startup failures have their own exit code --------------------------------------


def test_serve_on_a_taken_port_exits_9_with_a_clear_message() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_module(
            "serve", "runpod_facade.local.sample_handlers:echo", "--port", str(port)
        )
    assert result.returncode == 9, result.stderr
    line = one_error_line(result.stderr)
    assert f"127.0.0.1:{port}" in line and "already in use" in line


def test_serve_when_uvicorn_cannot_start_exits_9(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The port check passed, then the port was taken before uvicorn bound it: uvicorn
    # exits 3 (this CLI's "job CANCELLED"); the CLI must say "could not start" instead.
    def uvicorn_fails(*args: Any, **kwargs: Any) -> None:
        raise SystemExit(3)

    monkeypatch.setattr("runpod_facade.local.serve", uvicorn_fails)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = str(probe.getsockname()[1])
    code, _, err = cli(capsys, "serve", "runpod_facade.local.sample_handlers:echo", "--port", port)
    assert code == 9
    assert "error: the server could not start" in err


@pytest.mark.parametrize("status", [None, "FAILED"])
def test_serve_passes_the_timeout_status_through(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, status: str | None
) -> None:
    seen: dict[str, Any] = {}
    monkeypatch.setattr("runpod_facade.local.serve", lambda *a, **kw: seen.update(kw))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = str(probe.getsockname()[1])
    extra = [] if status is None else ["--timeout-status", status]
    code, _, err = cli(
        capsys, "serve", "runpod_facade.local.sample_handlers:echo", "--port", port, *extra
    )
    assert code == 0, err
    assert seen["timeout_status"] == (status or "TIMED_OUT")


def test_help_documents_the_startup_exit_code(capsys: pytest.CaptureFixture[str]) -> None:
    for args in (["--help"], ["serve", "--help"]):
        code, out, _ = cli(capsys, *args)
        assert code == 0
        assert "\n  9    serve could not start" in out


# --- no line printed twice ----------------------------------------------------------------

COMMANDS = [
    ["health"],
    ["run", "--input", "{}"],
    ["run", "--wait", "--input", '{"x": 1}'],
    ["run-sync", "--input", '{"x": 1}'],
    ["run-sync", "--input", '{"task": "fail"}'],
    ["--debug", "run-sync", "--input", '{"task": "fail"}'],
    ["stream", "--input", '{"task": "stream", "prompt": "a b"}'],
    ["status", "no-such-job"],
    ["purge-queue"],
    ["--json", "run", "--wait", "--input", '{"task": "fail"}'],
]


@pytest.mark.parametrize("args", COMMANDS, ids=" ".join)
def test_no_line_is_printed_twice(capsys: pytest.CaptureFixture[str], args: list[str]) -> None:
    main(args)
    out, err = capsys.readouterr()
    for text in (out, err):
        lines = [line.strip() for line in text.splitlines() if len(line.strip()) > 3]
        repeated = {line for line in lines if lines.count(line) > 1}
        # JSON punctuation and traceback frames may repeat; sentences may not.
        repeated = {
            line for line in repeated if " " in line and not line.startswith(("File ", "^"))
        }
        assert not repeated, text


def test_debug_with_the_log_variable_prints_each_log_line_once(local: LocalEndpoint) -> None:
    result = run_module("--debug", "health", ep=local, extra_env={"RUNPOD_FACADE_LOG": "debug"})
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stderr.splitlines() if "runpod_facade" in line]
    assert lines, result.stderr
    messages = [line.split("runpod_facade", 1)[1] for line in lines]
    assert len(messages) == len(set(messages)), result.stderr


def test_json_of_a_run_is_one_document(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(capsys, "--json", "run-sync", "--input", "{}")
    assert code == 0
    assert json.loads(out)["status"] == "COMPLETED"
