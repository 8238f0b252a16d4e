"""Masking is for diagnostics, never for results: with an API key that also occurs in a job's
output (a short key, a common word, a JSON token, a real-looking key), every command that
prints or writes the result gives it byte for byte, and the key stays out of stderr and the
debug log all the same."""

from __future__ import annotations

import json
import secrets
import time
import types
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from runpod_facade import Endpoint, _logging
from runpod_facade._status import JobStatus
from runpod_facade._types import JobState
from runpod_facade.cli import main
from runpod_facade.cli._live import StatusLine
from runpod_facade.local import LocalEndpoint, _engine

from .conftest import ENV_NAMES
from .test_cli_display import Terminal

KEYS = {
    "short": "ab12",
    "common word": "the",
    "field name": "output",
    "JSON token": "true",
    "realistic": f"rpa_{secrets.token_urlsafe(24)}",
}
COMMANDS = [
    "run-sync --json",
    "run --wait --json",
    "status --json",
    "wait",
    "stream",
    "stream --json",
    "batch OUTPUT",
    "batch --server OUTPUT",
]
# A key under 4 characters is never masked (masking "the" would mangle every message; see
# tests/core/test_redaction.py): the diagnostics below are checked for the others.
MASKED_KEYS = {name: key for name, key in KEYS.items() if len(key) >= 4}


def handler(job: dict[str, Any]) -> Any:
    """Returns ``input["result"]``; with ``input["chunks"]``, yields them (a stream); with
    ``input["fail"]``, raises ``ValueError`` with that message; sleeps ``input["sleep"]`` s
    first."""
    data = job["input"]
    time.sleep(data.get("sleep", 0))
    if "fail" in data:
        raise ValueError(data["fail"])
    if "chunks" in data:
        return _generate(data["chunks"])
    return data["result"]


def _generate(chunks: list[Any]) -> Iterator[Any]:
    yield from chunks  # a generator: what the local endpoint streams


def result_for(key: str) -> dict[str, Any]:
    """A result in which ``key`` is a value, a substring, an object key and (for "true") a
    JSON token; masking any of them changes the bytes or breaks the JSON."""
    return {
        "text": key,
        "sentence": f"the key is {key}; it is true that {key}{key} is output",
        key: [key, True, None, 1.5],
        "flag": True,
        "non-ascii": f"é {key} ü",
    }


def chunks_for(key: str) -> list[Any]:
    return [key, f"{key} and {key}", {"k": key, "b": True}]


@pytest.fixture(scope="module")
def open_endpoint() -> Iterator[LocalEndpoint]:
    """Auth off: every key in the table is sent, none needs the server to know it."""
    with LocalEndpoint(handler, workers=2, api_key=None) as ep:
        yield ep


@pytest.fixture
def isolated_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keys such as "output" or "true", once registered, would mask those words in every
    later test's diagnostics: this test's registrations end with it."""
    monkeypatch.setattr(_logging, "_secrets", set(_logging._secrets))


def run_cli(capsys: pytest.CaptureFixture[str], key: str, *args: str) -> tuple[int, str, str]:
    code = main(["--debug", "--api-key", key, *args])
    out, err = capsys.readouterr()
    return code, out, err


def completed_job(ep: LocalEndpoint, key: str, payload: dict[str, Any]) -> str:
    with Endpoint(ep.endpoint_id, base_url=ep.base_url, api_key=key) as client:
        job = client.run(payload)
        job.wait(timeout=10)
        return job.id


@pytest.mark.misuse("key")
@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("key", list(KEYS.values()), ids=list(KEYS))
@pytest.mark.usefixtures("isolated_secrets")
def test_results_are_printed_byte_for_byte_whatever_the_key(
    key: str,
    command: str,
    open_endpoint: LocalEndpoint,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    ep = open_endpoint
    for name in ENV_NAMES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("RUNPOD_ENDPOINT_ID", ep.endpoint_id)
    monkeypatch.setenv("RUNPOD_BASE_URL", ep.base_url)
    result = result_for(key)
    payload = {"result": result}
    pretty = json.dumps(result, indent=2, ensure_ascii=False)

    if command in ("run-sync --json", "run --wait --json"):
        argv = command.removesuffix(" --json").split()
        code, out, err = run_cli(capsys, key, "--json", *argv, "--input", json.dumps(payload))
        state = json.loads(out)
        assert state["output"] == result
        assert out == json.dumps(state, indent=2, ensure_ascii=False) + "\n"
    elif command == "status --json":
        job_id = completed_job(ep, key, payload)
        code, out, err = run_cli(capsys, key, "--json", "status", job_id)
        state = json.loads(out)
        assert state["output"] == result and state["id"] == job_id
        assert out == json.dumps(state, indent=2, ensure_ascii=False) + "\n"
    elif command == "wait":
        job_id = completed_job(ep, key, payload)
        code, out, err = run_cli(capsys, key, "wait", job_id)
        headline, rest = out.split("\n", 1)
        assert headline.startswith(f"job {job_id} COMPLETED")
        assert rest == pretty + "\n"
    elif command == "stream":
        chunks = chunks_for(key)
        code, out, err = run_cli(capsys, key, "stream", "--input", json.dumps({"chunks": chunks}))
        expected = f'{key}\n{key} and {key}\n{{"k": "{key}", "b": true}}\n'
        assert out == expected
    elif command == "stream --json":
        chunks = chunks_for(key)
        code, out, err = run_cli(
            capsys, key, "--json", "stream", "--input", json.dumps({"chunks": chunks})
        )
        assert out == "".join(json.dumps(c, ensure_ascii=False) + "\n" for c in chunks)
    else:
        # batch --server masked the key inside the results it wrote to OUTPUT.
        server = ("--server",) if command == "batch --server OUTPUT" else ()
        source, output = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
        source.write_text(json.dumps(payload) + "\n", encoding="utf-8")
        code, out, err = run_cli(capsys, key, "batch", str(source), "-o", str(output), *server)
        (line,) = output.read_bytes().splitlines()
        record = json.loads(line)
        assert record["output"] == result and record["error"] is None
        assert line == json.dumps(record, ensure_ascii=False).encode("utf-8")
        assert key not in out  # the summary is not the result
        if server and key not in MASKED_KEYS.values():
            # The summary's own words ("... through the Batch Jobs API") hold "the", a key
            # too short to be masked anywhere.
            err = err.replace("through the Batch Jobs API", "")

    assert code == 0, err
    assert "debug: " in err  # the HTTP log was on, and is in what is searched
    assert key not in err, f"the key shows on stderr:\n{err}"


@pytest.mark.misuse("key")
@pytest.mark.parametrize("key", list(MASKED_KEYS.values()), ids=list(MASKED_KEYS))
@pytest.mark.usefixtures("isolated_secrets")
def test_a_failed_jobs_error_is_exact_on_stdout_and_masked_on_stderr(
    key: str,
    open_endpoint: LocalEndpoint,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ENV_NAMES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("RUNPOD_ENDPOINT_ID", open_endpoint.endpoint_id)
    monkeypatch.setenv("RUNPOD_BASE_URL", open_endpoint.base_url)
    message = f"bad {key} here: {key}"
    code, out, err = run_cli(
        capsys, key, "--json", "run-sync", "--input", json.dumps({"fail": message})
    )
    assert code == 1
    state = json.loads(out)  # the job's state, the worker's error in it as it came
    assert state["status"] == "FAILED"
    assert message in (state.get("error") or "")
    assert out == json.dumps(state, indent=2, ensure_ascii=False) + "\n"
    # The error line (and --debug's worker traceback) are diagnostics: masked.
    assert "error: job " in err and "bad <redacted> here: <redacted>" in err
    assert key not in err


@pytest.mark.misuse("key")
@pytest.mark.parametrize("key", list(MASKED_KEYS.values()), ids=list(MASKED_KEYS))
@pytest.mark.usefixtures("isolated_secrets")
def test_the_status_lines_progress_preview_is_masked_and_cut_after(key: str) -> None:
    _logging.register_secret(key)
    stream = Terminal()
    # The key straddles the 60-character cut: masking after cutting would show its start.
    progress = "x" * 55 + key + " and more"
    with StatusLine("job j", stream=stream, plain=True) as line:
        line.update(JobState(id="j", status=JobStatus.IN_PROGRESS, output=progress))
    text = stream.getvalue()
    assert "IN_PROGRESS · progress " + "x" * 4 in text
    assert key[:2] not in text.replace("<redacted>", "").replace("job j", "")


@pytest.mark.misuse("key")
@pytest.mark.usefixtures("isolated_secrets")
def test_a_job_id_holding_a_short_key_stays_whole_on_stderr(
    open_endpoint: LocalEndpoint,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The id is the only handle on a job left running: masking the key inside it would
    # leave a "resume with" hint that names no job.
    key = "ab12"
    fixed = uuid.UUID("0000ab12-0000-4000-8000-000000000001")
    monkeypatch.setattr(_engine, "uuid", types.SimpleNamespace(uuid4=lambda: fixed))
    for name in ENV_NAMES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("RUNPOD_ENDPOINT_ID", open_endpoint.endpoint_id)
    monkeypatch.setenv("RUNPOD_BASE_URL", open_endpoint.base_url)
    payload = json.dumps({"sleep": 2, "result": f"{key}!"})
    code, out, err = run_cli(capsys, key, "run", "--wait", "--input", payload, "--timeout", "0.3")
    assert out == ""  # nothing finished: no result
    job_id = f"{fixed}-u1"
    assert code == 5, err
    assert f"job {job_id} queued" in err
    assert f"resume with: runpod-facade wait {job_id}" in err
    assert key not in err.replace(job_id, "")  # masked everywhere else
