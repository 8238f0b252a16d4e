"""Messages that tell a shell user the truth: every numeric option's error states the range
it really accepts; an input that is itself ``{"input": ...}`` has a flag, ``--input-as-is``,
and the refusal names it; ``serve`` will not open an unauthenticated server to the network
without ``--allow-unauthenticated``."""

from __future__ import annotations

import io
import json
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from runpod_facade.cli._exit import EXIT_STARTUP_FAILED, EXIT_USAGE
from runpod_facade.cli._parser import build_parser
from runpod_facade.cli._serve import _check_exposure
from runpod_facade.local import LocalEndpoint
from runpod_facade.local.sample_handlers import echo

from .conftest import (
    cli,
    interrupt,
    one_error_line,
    point_env_at,
    start_cli,
    wait_for_server,
)

# --- numeric options ------------------------------------------------------------------------

WAIT = "a number of seconds, more than 0 and up to 7 days (604800)"
RETRIES = "an integer from 0 to 100"
PARALLEL = "an integer from 1 to 1000"

# (option, the command line around its value, dest, the range its message states,
#  the largest value accepted)
OPTIONS: list[tuple[str, list[str], str, str, str]] = [
    ("--timeout", ["run", "--input", "{}", "--timeout", "V"], "timeout", WAIT, "604800"),
    ("--max-retries", ["--max-retries", "V", "health"], "max_retries", RETRIES, "100"),
    (
        "--policy-execution-timeout",
        ["run", "--input", "{}", "--policy-execution-timeout", "V"],
        "policy_execution_timeout",
        "a number of seconds, 5 s to 7 days (604800)",
        "604800",
    ),
    (
        "--ttl",
        ["run-sync", "--input", "{}", "--ttl", "V"],
        "ttl",
        "a number of seconds, 10 s to 7 days (604800)",
        "604800",
    ),
    ("--idle-timeout", ["stream", "job-1", "--idle-timeout", "V"], "idle_timeout", WAIT, "604800"),
    ("--concurrency", ["batch", "in", "-o", "out", "--concurrency", "V"], "concurrency", PARALLEL, "1000"),
    ("--retry-failed", ["batch", "in", "-o", "out", "--retry-failed", "V"], "retry_failed", RETRIES, "100"),
    ("--port", ["serve", "m:h", "--port", "V"], "port", "a port number from 1 to 65535", "65535"),
    ("--workers", ["serve", "m:h", "--workers", "V"], "workers", PARALLEL, "1000"),
]  # fmt: skip


def _above(largest: str) -> str:
    return str(int(largest) + 1)


# Each value, and the options that accept it (every other option must refuse it).
VALUES: list[tuple[str, str | None, set[str]]] = [
    ("-1", "-1", set()),
    ("0", "0", {"--max-retries", "--retry-failed"}),
    ("huge", None, set()),  # 1e10 seconds, or an integer of 20 digits
    ("non-number", "ten", set()),
    ("empty", "", set()),
    ("largest", "LARGEST", {name for name, *_ in OPTIONS}),
    ("just above", "ABOVE", set()),
]


def _value(label: str, text: str | None, allowed: str, largest: str) -> str:
    if text is None:
        return "1e10" if "seconds" in allowed else "9" * 20
    return {"LARGEST": largest, "ABOVE": _above(largest)}.get(text, text)


@pytest.mark.misuse("argument")
@pytest.mark.parametrize(("label", "text", "accepted_by"), VALUES, ids=[v[0] for v in VALUES])
@pytest.mark.parametrize(
    ("option", "argv", "dest", "allowed", "largest"), OPTIONS, ids=[o[0] for o in OPTIONS]
)
def test_every_numeric_option_states_its_real_range(
    option: str,
    argv: list[str],
    dest: str,
    allowed: str,
    largest: str,
    label: str,
    text: str | None,
    accepted_by: set[str],
    capsys: pytest.CaptureFixture[str],
    clean_env: None,
) -> None:
    value = _value(label, text, allowed, largest)
    args = [value if arg == "V" else arg for arg in argv]
    if option in accepted_by:
        parsed = build_parser().parse_args(args)
        assert getattr(parsed, dest) == float(value)
        return
    code, out, err = cli(capsys, *args)  # stops at parsing: nothing runs, nothing is sent
    assert code == EXIT_USAGE and out == ""
    line = one_error_line(err)
    assert f"argument {option}: expected {allowed}, got {value!r}" in line


# --- --input-as-is --------------------------------------------------------------------------

BODY = {"input": {"prompt": "hi"}}


@pytest.fixture(scope="module")
def echo_endpoint() -> Iterator[LocalEndpoint]:
    with LocalEndpoint(echo, workers=2) as ep:
        yield ep


def _submits(ep: LocalEndpoint) -> int:
    return sum(1 for r in ep.requests if r.operation in ("run", "runsync"))


def _with_input(source: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The arguments that give ``BODY`` as the job input from ``source``."""
    text = json.dumps(BODY)
    if source == "--input":
        return ["--input", text]
    if source == "--input-file":
        path = tmp_path / "body.json"
        path.write_text(text, encoding="utf-8")
        return ["--input-file", str(path)]
    monkeypatch.setattr("sys.stdin", io.StringIO(text))
    return []


COMMANDS = [["--json", "run-sync"], ["--json", "run", "--wait"], ["--json", "stream"]]
SOURCES = ["--input", "--input-file", "stdin"]


@pytest.mark.misuse("argument")
@pytest.mark.parametrize("source", SOURCES)
@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_an_input_that_is_a_request_body_is_refused_naming_the_flag(
    command: list[str],
    source: str,
    echo_endpoint: LocalEndpoint,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    point_env_at(monkeypatch, echo_endpoint)
    before = _submits(echo_endpoint)
    code, out, err = cli(capsys, *command, *_with_input(source, tmp_path, monkeypatch))
    assert code == EXIT_USAGE and out == ""
    line = one_error_line(err)
    assert "--input-as-is" in line and "Input(" not in line and "ep.run" not in line
    assert line.startswith(f"error: {source if source != '--input-file' else '--input-file '}")
    assert _submits(echo_endpoint) == before  # refused before any request


@pytest.mark.parametrize("source", SOURCES)
@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_input_as_is_sends_the_body_unchanged(
    command: list[str],
    source: str,
    echo_endpoint: LocalEndpoint,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    point_env_at(monkeypatch, echo_endpoint)
    extra = _with_input(source, tmp_path, monkeypatch)
    code, out, err = cli(capsys, *command, *extra, "--input-as-is")
    assert code == 0, err
    if command[1] == "stream":  # a plain handler's whole result, as one JSON line
        assert json.loads(out) == BODY
    else:
        assert json.loads(out)["output"] == BODY  # the worker received {"input": ...}


# --- serve on the network -------------------------------------------------------------------

HANDLER = "runpod_facade.local.sample_handlers:echo"


@pytest.mark.misuse("argument")
@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.10", "example.invalid"])
def test_serve_refuses_a_network_host_without_a_key(
    host: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # Refused before anything is bound or resolved: even an address this machine does not
    # have, or a name that does not resolve, gets this message, not "cannot listen".
    code, out, err = cli(capsys, "serve", HANDLER, "--host", host, "--port", "1")
    assert code == EXIT_STARTUP_FAILED and out == ""
    line = one_error_line(err)
    assert f"refusing to serve on {host!r} without an API key" in line
    assert "--api-key" in line and "--allow-unauthenticated" in line


@pytest.mark.misuse("argument")
@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--host", ""], "argument --host: must not be empty"),
        (["--host", "0.0.0.0", "--allow-unauthenticated", "--workers", "0"], "--workers"),
        # Options of the other kind of endpoint were ignored without a word (and the server
        # started): no cold start for a queue endpoint, no rate limits or timeout status
        # for a load-balancing one.
        (["--port", "1", "--cold-start", "5"], "--cold-start needs --load-balancer"),
        (
            ["--port", "1", "--load-balancer", "--rate-limits", "runpod"],
            "--rate-limits is for a queue endpoint, not --load-balancer",
        ),
        (
            ["--port", "1", "--load-balancer", "--timeout-status", "FAILED"],
            "--timeout-status is for a queue endpoint, not --load-balancer",
        ),
        (["--port", "1", "--rate-limit-scale", "0.1"], "--rate-limit-scale needs --rate-limits"),
    ],
    ids=[
        "empty host",
        "bad option still checked first",
        "cold start of a queue endpoint",
        "rate limits of a load balancer",
        "timeout status of a load balancer",
        "scale without limits",
    ],
)
def test_serve_usage_errors(
    args: list[str], expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = cli(capsys, "serve", HANDLER, *args)
    assert code == EXIT_USAGE and out == ""
    assert expected in one_error_line(err)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize(
    "args",
    [["--allow-unauthenticated"], ["--api-key", "serve-test-key-123"]],
    ids=["--allow-unauthenticated", "--api-key"],
)
def test_serve_on_all_interfaces_starts_with_a_key_or_the_flag(args: list[str]) -> None:
    port = _free_port()
    proc = start_cli("serve", HANDLER, "--host", "0.0.0.0", "--port", str(port), *args)
    try:
        wait_for_server(proc, f"http://127.0.0.1:{port}/v2")
    finally:
        stderr = interrupt(proc)
    assert proc.returncode == 0, stderr
    warned = "warning: no API key on 0.0.0.0" in stderr
    assert warned == ("--allow-unauthenticated" in args)


@pytest.mark.parametrize(
    ("host", "api_key", "allow"),
    [
        ("127.0.0.1", None, False),
        ("127.0.0.2", None, False),
        ("localhost", None, False),
        ("::1", None, False),
        ("[::1]", None, False),
        ("0.0.0.0", "key1", False),
        ("0.0.0.0", None, True),
        ("example.com", "key1", True),
    ],
)
def test_serve_starts_on_loopback_or_with_a_key_or_the_flag(
    host: str, api_key: str | None, allow: bool
) -> None:
    _check_exposure(host, api_key, allow)  # no StartupError


def test_serve_on_loopback_without_a_key_gets_past_the_check(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with socket.socket() as taken:  # so the run stops at binding instead of serving
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        code, _, err = cli(capsys, "serve", HANDLER, "--host", "127.0.0.1", "--port", port)
    assert code == EXIT_STARTUP_FAILED
    assert "already in use" in one_error_line(err)
