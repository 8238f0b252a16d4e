"""An API key given with ``--api-key`` or ``RUNPOD_API_KEY`` never shows in what any command
prints: stdout, stderr, or the debug log records."""

from __future__ import annotations

import logging
import secrets
import socket
from collections.abc import Iterator

import pytest

from runpod_facade.cli import main
from runpod_facade.demo import demo_handler
from runpod_facade.local import Fault, LocalEndpoint

from .conftest import ENV_NAMES


@pytest.fixture(scope="module")
def open_endpoint() -> Iterator[LocalEndpoint]:
    """Auth off, so every test can use a key of its own that no earlier test registered."""
    with LocalEndpoint(demo_handler, workers=2, api_key=None) as ep:
        yield ep


def taken_port() -> tuple[socket.socket, str]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    return sock, str(sock.getsockname()[1])


ECHO = "echo"  # marker: arm a fault whose error body echoes the key

COMMANDS: list[list[str]] = [
    ["health"],
    ["--json", "health", ECHO],
    ["run", "--input", "{}"],
    ["run", "--wait", "--input", '{"task": "fail"}'],
    ["--json", "run-sync", "--input", "{}"],
    ["run-sync", "--input", "{bad json"],
    ["status", "no-such-job"],
    ["wait", "no-such-job", "--timeout", "2"],
    ["stream", "--input", '{"task": "stream", "prompt": "a b"}'],
    ["cancel", "no-such-job"],
    ["retry", "no-such-job"],
    ["purge-queue"],
    ["frobnicate"],
]


@pytest.mark.parametrize("source", ["flag", "env"])
@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_the_key_never_shows(
    command: list[str],
    source: str,
    open_endpoint: LocalEndpoint,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    key = f"rpa_{secrets.token_urlsafe(24)}"  # new to this process: nothing masks it yet
    for name in ENV_NAMES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("RUNPOD_ENDPOINT_ID", open_endpoint.endpoint_id)
    monkeypatch.setenv("RUNPOD_BASE_URL", open_endpoint.base_url)
    args = [arg for arg in command if arg != ECHO]
    if ECHO in command:
        open_endpoint.faults.add(Fault("health", "http_error", status=400, body=f"Bearer {key}"))
    if source == "env":
        monkeypatch.setenv("RUNPOD_API_KEY", key)
        argv = ["--debug", *args]
    else:
        argv = ["--debug", "--api-key", key, *args]
    caplog.set_level(logging.DEBUG)
    try:
        code = main(argv)
    finally:
        open_endpoint.faults.clear()
    out, err = capsys.readouterr()
    assert "debug: " in err or code == 2  # the debug log was on (usage errors stop earlier)
    for where, text in (("stdout", out), ("stderr", err), ("log records", caplog.text)):
        assert key not in text, f"the key is in {where}"
    if ECHO in command:
        assert code == 6 and "<redacted>" in err


@pytest.mark.parametrize("case", ["bad handler", "taken port", "bad option"], ids=lambda case: case)
def test_the_serve_key_never_shows(case: str, capsys: pytest.CaptureFixture[str]) -> None:
    key = f"rpa_{secrets.token_urlsafe(24)}"
    handler = "runpod_facade.local.sample_handlers:echo"
    sock = None
    if case == "bad handler":
        argv = ["serve", "no_such_module_anywhere:handler", "--api-key", key, "--debug"]
    elif case == "taken port":
        sock, port = taken_port()
        argv = ["serve", handler, "--port", port, f"--api-key={key}"]
    else:
        argv = ["serve", handler, "--api-key", key, "--workers", key]
    try:
        code = main(argv)
    finally:
        if sock is not None:
            sock.close()
    out, err = capsys.readouterr()
    assert code in (2, 9)
    assert key not in out + err


@pytest.mark.parametrize("spelling", ["--api-key", "--api-k", "--a", "--api-key="])
def test_keys_given_with_any_option_prefix_are_masked(spelling: str) -> None:
    from runpod_facade._logging import redact
    from runpod_facade.cli._logs import register_secrets

    key = f"rpa_{secrets.token_urlsafe(24)}"
    argv = [spelling + key] if spelling.endswith("=") else [spelling, key]
    register_secrets(["health", *argv])
    assert redact(f"x {key} y") == "x <redacted> y"
