"""``runpod-facade batch`` killed for real: a CLI process runs a JSON-lines file against a
local endpoint in another process (``batch_server``), is killed with SIGKILL mid-run —
twice — and the same command is run again to the end. Checked against OUTPUT and the
server's own records:

* OUTPUT holds exactly one line per input line (none twice, none torn), each the result of
  its own input, although three runs appended to it;
* every input ran on the server once, except lines reported as possibly duplicated (at most
  ``concurrency`` per crash), which ran at most once more per crash;
* the server's request log agrees: one accepted submit per job that ran, and the job id on
  each line is the job the server ran for that line's input.

And Ctrl-C (SIGINT) to a running ``batch``: exit 130 once the journal is flushed, notes on
stderr naming the jobs left running and how to resume, and a rerun that finishes the batch
with every input run exactly once.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .test_batch_crash_resume import ROOT, Server, drain

COUNT = 160
CONCURRENCY = 8
KILLS = 2


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    running = Server(tmp_path / "handler.log")
    try:
        yield running
    finally:
        running.stop()


def write_input(path: Path, count: int, seconds: float | None = None) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        for n in range(count):
            wait = 0.02 + (n % 7) * 0.02 if seconds is None else seconds
            handle.write(json.dumps({"n": n, "seconds": wait}) + "\n")


def start_batch(server: Server, source: Path, output: Path, *extra: str) -> subprocess.Popen[str]:
    """The CLI as a user runs it, in its own process."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUNPOD_")}
    env.update(
        RUNPOD_ENDPOINT_ID=server.endpoint_id,
        RUNPOD_BASE_URL=server.base_url,
        RUNPOD_API_KEY="rp_unused",
    )
    command = [sys.executable, "-m", "runpod_facade", "batch", str(source), "-o", str(output)]
    return subprocess.Popen(
        [*command, "--concurrency", str(CONCURRENCY), "--json", *extra],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def whole_lines(path: Path) -> int:
    if not path.exists():
        return 0
    return path.read_bytes().count(b"\n")


def wait_for_lines(proc: subprocess.Popen[str], output: Path, count: int) -> None:
    end = time.monotonic() + 60
    while whole_lines(output) < count:
        assert proc.poll() is None, ("the batch ended too early", proc.communicate())
        assert time.monotonic() < end, "the batch made no progress"
        time.sleep(0.01)


def read_output(path: Path) -> list[dict[str, Any]]:
    data = path.read_bytes()
    assert data.endswith(b"\n"), "OUTPUT ends with a torn line"
    return [json.loads(line) for line in data.splitlines()]


def handler_runs(tmp_path: Path) -> list[dict[str, Any]]:
    text = (tmp_path / "handler.log").read_text()
    return [json.loads(line) for line in text.splitlines()]


def test_batch_killed_twice_then_rerun(server: Server, tmp_path: Path) -> None:
    source, output = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    write_input(source, COUNT)
    for k in range(KILLS):
        proc = start_batch(server, source, output)
        wait_for_lines(proc, output, (k + 1) * COUNT // 4)
        os.kill(proc.pid, signal.SIGKILL)
        proc.communicate()
    last = start_batch(server, source, output)
    stdout, stderr = last.communicate(timeout=120)
    assert last.returncode == 0, stderr
    summary = json.loads(stdout.strip().splitlines()[-1])
    drain(server)

    # One line per input line, each the result of its own input.
    records = read_output(output)
    assert sorted(r["line"] for r in records) == list(range(1, COUNT + 1))
    for record in records:
        assert record["status"] == "COMPLETED" and record["error"] is None, record
        assert record["output"] == {"n": record["line"] - 1}
    assert summary["completed"] == COUNT and summary["unfinished"] == 0
    assert summary["failed"] == 0 and summary["written"] < COUNT  # earlier runs wrote some
    # The kills left jobs in flight: the last run had jobs of earlier runs to wait for.
    assert summary["reattached"] + len(summary["possibly_duplicated"]) >= 1

    # What ran on the server, per input.
    runs = handler_runs(tmp_path)
    times = Counter(entry["n"] for entry in runs)
    assert set(times) == set(range(COUNT))
    flagged = {r["line"] for r in records if r.get("possibly_duplicated")}
    duplicated = flagged | set(summary["possibly_duplicated"])
    assert len(duplicated) <= CONCURRENCY * KILLS
    ran_twice = {n + 1 for n, count in times.items() if count > 1}
    assert ran_twice <= duplicated, "a line ran twice without being reported"
    assert all(count <= 1 + KILLS for count in times.values())
    # The request log agrees: each accepted submit is a job that ran, and each line's id is
    # a job the server ran for that line's input.
    requests = server.ask("log")
    accepted = [
        r for r in requests if r["operation"] in ("run", "runsync") and r["status_code"] == 200
    ]
    assert len(accepted) == len(runs)
    assert {r["job_id"] for r in accepted} == {entry["id"] for entry in runs}
    ran_for = {entry["id"]: entry["n"] for entry in runs}
    for record in records:
        assert ran_for[record["id"]] == record["line"] - 1
    assert all(r["operation"] == "run" for r in accepted)  # ids at once: /run


def test_ctrl_c_exits_130_and_the_rerun_finishes(server: Server, tmp_path: Path) -> None:
    count = 40
    source, output = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    write_input(source, count, seconds=0.4)
    proc = start_batch(server, source, output)
    wait_for_lines(proc, output, CONCURRENCY)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert "error: interrupted: nothing more is submitted" in stderr
    assert "left running on the endpoint" in stderr  # the façade's notes name the jobs
    assert "to resume: run the same command again" in stderr
    summary = json.loads(stdout.strip().splitlines()[-1])
    assert summary["interrupted"] and 0 < summary["unfinished"] < count
    written = read_output(output)
    assert len(written) == summary["completed"]

    rerun = start_batch(server, source, output)
    stdout, stderr = rerun.communicate(timeout=120)
    assert rerun.returncode == 0, stderr
    drain(server)
    records = read_output(output)
    assert sorted(r["line"] for r in records) == list(range(1, count + 1))
    assert records[: len(written)] == written  # appended to, never rewritten
    # Ctrl-C waited for the submits in flight, so the journal knew every job: each input
    # ran exactly once, and none is flagged.
    times = Counter(entry["n"] for entry in handler_runs(tmp_path))
    assert times == Counter(range(count))
    assert not any(r.get("possibly_duplicated") for r in records)
    assert json.loads(stdout.strip().splitlines()[-1])["reattached"] >= 1
