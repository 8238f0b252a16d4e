"""``runpod-facade batch`` stopped by a real signal, in its own process, against a local
endpoint in another: SIGTERM (a service manager, ``timeout(1)``, ``kill``) stops it as Ctrl-C
does — nothing more submitted, the journal flushed, the same summary and notes — and exits
143 instead of 130. The same command then finishes the batch with every input run once."""

from __future__ import annotations

import json
import signal
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from .test_batch_cli_crash import (
    CONCURRENCY,
    handler_runs,
    read_output,
    start_batch,
    wait_for_lines,
    write_input,
)
from .test_batch_crash_resume import Server, drain


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    running = Server(tmp_path / "handler.log")
    try:
        yield running
    finally:
        running.stop()


@pytest.mark.misuse("signal")
@pytest.mark.parametrize(
    ("signum", "code", "said"),
    [
        (signal.SIGINT, 130, "error: interrupted: nothing more is submitted"),
        (signal.SIGTERM, 143, "error: terminated (SIGTERM): nothing more is submitted"),
    ],
    ids=["SIGINT", "SIGTERM"],
)
def test_a_signal_stops_the_batch_with_its_summary_and_the_rerun_finishes(
    server: Server, tmp_path: Path, signum: signal.Signals, code: int, said: str
) -> None:
    count = 24
    source, output = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    write_input(source, count, seconds=0.4)
    proc = start_batch(server, source, output)
    wait_for_lines(proc, output, CONCURRENCY)
    proc.send_signal(signum)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == code, stderr
    assert said in stderr
    assert "Traceback" not in stderr
    # The same notes and summary as Ctrl-C: the jobs left running, how to resume.
    assert "left running on the endpoint" in stderr
    assert "to resume: run the same command again" in stderr
    summary = json.loads(stdout.strip().splitlines()[-1])
    assert summary["interrupted"] is True
    assert summary["terminated"] is (signum == signal.SIGTERM)
    assert 0 < summary["unfinished"] < count
    written = read_output(output)
    assert len(written) == summary["completed"]

    rerun = start_batch(server, source, output)
    stdout, stderr = rerun.communicate(timeout=120)
    assert rerun.returncode == 0, stderr
    drain(server)
    records = read_output(output)
    assert sorted(r["line"] for r in records) == list(range(1, count + 1))
    # The stop waited for the submits in flight, so the journal knew every job: each input
    # ran exactly once (a SIGKILL-like death would have left some possibly duplicated).
    assert Counter(entry["n"] for entry in handler_runs(tmp_path)) == Counter(range(count))
    assert not any(r.get("possibly_duplicated") for r in records)
    assert json.loads(stdout.strip().splitlines()[-1])["reattached"] >= 1


@pytest.mark.misuse("signal")
def test_sigterm_with_cancel_on_interrupt_cancels_and_the_rerun_says_so(
    server: Server, tmp_path: Path
) -> None:
    count = 16
    source, output = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    write_input(source, count, seconds=0.6)
    proc = start_batch(server, source, output, "--cancel-on-interrupt")
    wait_for_lines(proc, output, CONCURRENCY)
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 143, stderr
    assert "cancelled on interrupt" in stderr and "left running" not in stderr
    log = server.ask("log")
    cancelled = {r["job_id"] for r in log if (r["operation"], r["status_code"]) == ("cancel", 200)}
    assert cancelled

    rerun = start_batch(server, source, output)
    stdout, stderr = rerun.communicate(timeout=120)
    assert rerun.returncode == 0, stderr
    summary = json.loads(stdout.strip().splitlines()[-1])
    # The cancelled jobs were sent again, not "waited for by id" (only one that ended just
    # before its cancel arrived is, under load).
    assert summary["resubmitted"] >= 1
    assert summary["resubmitted"] + summary["reattached"] == len(cancelled)
    assert sorted(r["line"] for r in read_output(output)) == list(range(1, count + 1))
