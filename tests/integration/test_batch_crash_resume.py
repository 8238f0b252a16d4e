"""Crash and resume, for real: a client process maps N inputs with a journal against a local
endpoint in another process, is killed with SIGKILL mid-run — twice — and is run again to
the end. Checked against the client's output and the server's own records:

* the last run yields exactly one final result per input, each the output of its own input;
* everything an earlier run yielded comes back as ``resumed`` (nothing is lost);
* every input ran on the server once, except inputs the client reported as possibly
  duplicated (at most ``concurrency`` per crash), which ran at most once more per crash;
* the server's request log agrees: one accepted submit per job that ran, and the job ids the
  client reported are the ones the server ran for those inputs.
"""

from __future__ import annotations

import contextlib
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

ROOT = Path(__file__).resolve().parents[2]
COUNT = 160
CONCURRENCY = 8
KILLS = 2


class Server:
    """``batch_server`` in its own process."""

    def __init__(self, handler_log: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.integration.batch_server", str(handler_log), "8"],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        hello = json.loads(self.proc.stdout.readline())
        self.base_url: str = hello["base_url"]
        self.endpoint_id: str = hello["endpoint_id"]

    def ask(self, command: str) -> Any:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        return json.loads(self.proc.stdout.readline())

    def stop(self) -> None:
        """Quit the server (kill it if it will not), and close its pipes."""
        # Popen's exit closes stdin and stdout (left open, they warn when collected, in
        # whatever test runs then), then waits; a server that died first leaves "quit"
        # unflushed, which closing stdin cannot write either.
        with contextlib.suppress(BrokenPipeError), self.proc:
            if self.proc.poll() is None:
                try:
                    assert self.proc.stdin is not None
                    self.proc.stdin.write("quit\n")
                    self.proc.stdin.flush()
                    self.proc.wait(15)
                except (OSError, subprocess.TimeoutExpired):
                    self.proc.kill()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    running = Server(tmp_path / "handler.log")
    try:
        yield running
    finally:
        running.stop()


def client(server: Server, journal: Path, output: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.integration.batch_client",
            server.base_url,
            server.endpoint_id,
            str(journal),
            str(output),
            str(COUNT),
            str(CONCURRENCY),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )


def lines(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    # A SIGKILL can cut the last line short: only whole lines count.
    text = path.read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines(keepends=True) if line.endswith("\n")]


def kill_after(proc: subprocess.Popen[str], output: Path, items: int) -> None:
    """SIGKILL ``proc`` once ``output`` holds ``items`` lines: mid-run, jobs in flight."""
    end = time.monotonic() + 60
    while len(lines(output)) < items:
        assert proc.poll() is None, "the client ended before it could be killed"
        assert time.monotonic() < end, "the client made no progress"
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate()  # waits, and closes the stdout pipe


def drain(server: Server) -> None:
    """Wait until the server has run every job it accepted (killed clients leave some)."""
    end = time.monotonic() + 60
    while True:
        jobs = server.ask("health")["jobs"]
        if jobs["inQueue"] == 0 and jobs["inProgress"] == 0:
            return
        assert time.monotonic() < end
        time.sleep(0.05)


def test_killed_twice_then_resumed(server: Server, tmp_path: Path) -> None:
    journal = tmp_path / "batch.journal"
    outputs = [tmp_path / f"run{k}.jsonl" for k in range(KILLS + 1)]

    for k in range(KILLS):
        kill_after(client(server, journal, outputs[k]), outputs[k], (k + 1) * COUNT // 4)
    last = client(server, journal, outputs[KILLS])
    stdout, _ = last.communicate(timeout=120)
    assert last.returncode == 0
    stats = json.loads(stdout.strip().splitlines()[-1])
    drain(server)

    # The last run: one final, correct result per input.
    final = lines(outputs[KILLS])
    assert sorted(r["index"] for r in final) == list(range(COUNT))
    for record in final:
        assert record["status"] == "COMPLETED" and record["final"], record
        assert record["output"] == {"n": record["index"]}
    # Every run yields an input at most once.
    for path in outputs:
        indices = [r["index"] for r in lines(path)]
        assert len(indices) == len(set(indices)), path
    # What earlier runs yielded comes back from the journal (plus, at most, the one item a
    # run had in hand when it was killed).
    earlier = {r["index"] for path in outputs[:KILLS] for r in lines(path)}
    resumed = {r["index"] for r in final if r["resumed"]}
    assert earlier <= resumed and len(resumed - earlier) <= KILLS
    assert stats["resumed"] == len(resumed) and stats["yielded"] == COUNT
    # The kills left jobs in flight: the last run had jobs of earlier runs to wait for.
    assert stats["reattached"] + stats["possibly_duplicated"] >= 1

    # The server's own count of runs per input.
    handler_log = [json.loads(line) for line in (tmp_path / "handler.log").read_text().splitlines()]
    runs = Counter(entry["n"] for entry in handler_log)
    duplicated = {r["index"] for r in final if r["dup"]}
    assert set(runs) == set(range(COUNT))
    assert len(duplicated) <= CONCURRENCY * KILLS
    ran_twice = {n for n, times in runs.items() if times > 1}
    assert ran_twice <= duplicated, "an input ran twice without being reported"
    assert all(times <= 1 + KILLS for times in runs.values())
    # ... agrees with the request log: each accepted submit is one job that ran, and each
    # reported job id is a job the server ran for that very input.
    requests = server.ask("log")
    accepted = [
        r for r in requests if r["operation"] in ("run", "runsync") and r["status_code"] == 200
    ]
    assert len(accepted) == len(handler_log)
    assert {r["job_id"] for r in accepted} == {entry["id"] for entry in handler_log}
    ran_for = {entry["id"]: entry["n"] for entry in handler_log}
    for record in final:
        assert ran_for[record["job_id"]] == record["index"]
    # The journal made every resumed batch use /run (ids at once), never /runsync.
    assert all(r["operation"] == "run" for r in accepted)
