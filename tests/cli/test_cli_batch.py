"""``runpod-facade batch``, in process against a local endpoint (the demo handler): output
lines, exit codes, bad lines, stdin, --timeout then a rerun, resume after Ctrl-C, the
journal-missing refusal, usage errors, progress off and on a terminal, secrets."""

from __future__ import annotations

import io
import json
import os
import re
import signal
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from runpod_facade import Endpoint
from runpod_facade.cli import _batch_run as batch_module
from runpod_facade.cli import main
from runpod_facade.cli._batch_input import InputLines, count_lines
from runpod_facade.cli._batch_output import LineSet, ResultFile
from runpod_facade.demo import demo_handler
from runpod_facade.local import LocalEndpoint

from .conftest import cli, one_error_line, point_env_at

ESCAPE = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def server(env: LocalEndpoint) -> LocalEndpoint:
    """The module's local endpoint (RUNPOD_* point at it), its request log cleared."""
    env.clear_requests()
    return env


def write_lines(path: Path, inputs: list[Any]) -> Path:
    """One line per input: JSON for values, a ``str`` written as is (bad or blank lines)."""
    text = "".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in inputs)
    path.write_text(text, encoding="utf-8")
    return path


def records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def by_line(path: Path) -> dict[int, dict[str, Any]]:
    found = records(path)
    numbers = [r["line"] for r in found]
    assert len(numbers) == len(set(numbers)), f"a line was written twice: {numbers}"
    return {r["line"]: r for r in found}


def submits(ep: LocalEndpoint) -> list[str]:
    """Job ids of the accepted /run and /runsync requests, in order."""
    return [
        r.job_id
        for r in ep.requests
        if r.operation in ("run", "runsync") and r.status_code == 200 and r.job_id
    ]


def batch(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    return cli(capsys, "batch", *args)


def summary_json(out: str) -> dict[str, Any]:
    data = json.loads(out.strip().splitlines()[-1])
    assert isinstance(data, dict)
    return data


# --- results ------------------------------------------------------------------------------


def test_every_line_completes_in_completion_order(
    server: LocalEndpoint, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # Line 1 sleeps longest: with all four in flight it ends last.
    seconds = [0.8, 0.0, 0.1, 0.2]
    inputs = [{"task": "sleep", "seconds": s} for s in seconds]
    source, output = write_lines(tmp_path / "in.jsonl", inputs), tmp_path / "out.jsonl"
    code, out, err = batch(capsys, str(source), "-o", str(output), "--concurrency", "4")
    assert code == 0, err
    assert out == ""  # results go to OUTPUT; stdout stays empty without --json
    found = records(output)
    assert [r["line"] for r in found][-1] == 1
    assert sorted(r["line"] for r in found) == [1, 2, 3, 4]
    for record in found:
        assert set(record) == {"line", "id", "status", "output", "error"}
        assert record["status"] == "COMPLETED" and record["error"] is None
        assert record["output"] == {"slept": seconds[record["line"] - 1]}
    # The ids are the jobs the server ran, one each.
    assert sorted(r["id"] for r in found) == sorted(submits(server))
    with Endpoint(server.endpoint_id, base_url=server.base_url, api_key=server.api_key) as ep:
        for record in found:
            assert ep.status(record["id"]).output == record["output"]
    assert f"{output}: 4 completed, 0 failed" in err
    assert (tmp_path / "out.jsonl.journal").exists()


def test_failed_jobs_are_lines_with_their_errors_and_exit_1(
    server: LocalEndpoint, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    inputs = [{"task": "echo", "n": 1}, {"task": "fail", "message": "boom"}, {"n": 3}]
    source, output = write_lines(tmp_path / "in.jsonl", inputs), tmp_path / "out.jsonl"
    code, _, err = batch(capsys, str(source), "-o", str(output))
    assert code == 1
    lines = by_line(output)
    assert sorted(lines) == [1, 2, 3]
    failed = lines[2]
    assert failed["status"] == "FAILED" and failed["output"] is None and failed["id"]
    assert failed["error"]["type"] == "JobFailed"
    assert "ValueError: boom" in failed["error"]["message"]
    assert failed["error"]["details"]["error_message"] == "boom"
    assert lines[1]["output"] == {"task": "echo", "n": 1} and lines[3]["output"] == {"n": 3}
    assert "2 completed, 1 failed" in err


def test_bad_lines_get_errors_blank_lines_are_skipped(
    server: LocalEndpoint, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    source, output = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    source.write_bytes(
        b'{"n": 1}\n'  # 1
        b"not json\n"  # 2
        b"\n"  # 3 blank
        b"   \t\n"  # 4 blank
        b'{"n": NaN}\n'  # 5 not strict JSON
        b'{"n": "\xff"}\n'  # 6 not UTF-8
        b'{"input": {"n": 7}}\n'  # 7 a request body, which the SDK refuses as an input
        b"[8]\r\n"  # 8 CRLF is fine
        b'{"n": 9}'  # 9 no newline at the end
    )
    code, _, err = batch(capsys, str(source), "-o", str(output))
    assert code == 1
    lines = by_line(output)
    assert sorted(lines) == [1, 2, 5, 6, 7, 8, 9]  # one per line, blank lines excepted
    for number in (2, 5, 6, 7):
        record = lines[number]
        assert record["id"] is None and record["status"] is None, record
        assert record["error"]["type"] == "InvalidInputError"
    assert "not valid JSON" in lines[2]["error"]["message"]
    assert "NaN" in lines[5]["error"]["message"]
    assert "not UTF-8" in lines[6]["error"]["message"]
    assert '{"input": ...}' in lines[7]["error"]["message"]
    assert [lines[n]["output"] for n in (1, 8, 9)] == [{"n": 1}, [8], {"n": 9}]
    assert len(submits(server)) == 3  # nothing was sent for a bad line
    assert "2 blank lines skipped" in err and "3 completed, 4 failed" in err


def test_only_blank_lines_is_a_success(
    server: LocalEndpoint, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    source = write_lines(tmp_path / "in.jsonl", ["", "  "])
    code, _, _ = batch(capsys, str(source), "-o", str(tmp_path / "out.jsonl"))
    assert code == 0
    assert (tmp_path / "out.jsonl").read_text() == "" and submits(server) == []


def test_stdin_input(
    server: LocalEndpoint,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    monkeypatch.setattr(batch_module, "PROGRESS_INTERVAL", 0.1)
    read_end, write_end = os.pipe()

    def feed() -> None:  # a pipe whose writer takes its time
        with os.fdopen(write_end, "wb") as pipe:
            for n in range(5):
                pipe.write(json.dumps({"n": n}).encode() + b"\n")
                pipe.flush()
                time.sleep(0.25)

    writer = threading.Thread(target=feed)
    writer.start()
    with os.fdopen(read_end, "rb") as pipe:
        monkeypatch.setattr("sys.stdin", io.TextIOWrapper(pipe, encoding="utf-8"))
        output = tmp_path / "out.jsonl"
        code, _, err = batch(capsys, "-", "-o", str(output))
    writer.join()
    assert code == 0, err
    assert {n: r["output"] for n, r in by_line(output).items()} == {
        n + 1: {"n": n} for n in range(5)
    }
    progress = [line for line in err.splitlines() if line.startswith("batch: ")]
    # A pipe's length is unknown until its end: no total and no queue while it is read...
    assert any(
        re.match(r"batch: \d finished \(\d done, 0 failed\), \d running ·", x) for x in progress
    )
    # ... then the count is known.
    assert progress[-1].startswith("batch: 5/5 finished (5 done, 0 failed), 0 running, 0 queued")


# --- resuming -----------------------------------------------------------------------------


def test_timeout_leaves_lines_for_the_next_run_which_writes_each_once(
    server: LocalEndpoint, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    inputs = [{"n": 1}, {"n": 2}] + [{"task": "sleep", "seconds": 3, "n": n} for n in (3, 4, 5)]
    source, output = write_lines(tmp_path / "in.jsonl", inputs), tmp_path / "out.jsonl"
    args = (str(source), "-o", str(output), "--concurrency", "2", "--json")
    code, out, _ = batch(capsys, *args, "--timeout", "1.5")
    assert code == 1
    first = summary_json(out)
    assert first["timed_out"] and first["completed"] == 2 and first["unfinished"] == 3
    done = by_line(output)
    assert sorted(done) == [1, 2]
    # Lines 3 and 4 were running when the deadline passed. Their jobs are those submitted
    # but not written: arrival order at the server need not be line order (two threads).
    in_flight = set(submits(server)) - {done[1]["id"], done[2]["id"]}
    assert len(in_flight) == 2 and len(submits(server)) == 4

    code, out, _ = batch(capsys, *args)
    assert code == 0
    second = summary_json(out)
    assert second["written"] == 3 and second["completed"] == 5 and second["unfinished"] == 0
    assert second["reattached"] == 2 and second["resumed"] == 2
    lines = by_line(output)  # asserts no line twice
    assert sorted(lines) == [1, 2, 3, 4, 5]
    assert {lines[3]["id"], lines[4]["id"]} == in_flight  # waited for, not resubmitted
    assert len(submits(server)) == 5

    code, out, _ = batch(capsys, *args)  # a third run: nothing to do, nothing written
    assert code == 0 and summary_json(out)["written"] == 0 and len(submits(server)) == 5
    assert len(records(output)) == 5


def test_a_submit_caught_in_flight_by_a_crash_is_flagged_possibly_duplicated(
    server: LocalEndpoint, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    inputs = [{"n": 1}, {"task": "sleep", "seconds": 1, "n": 2}, {"n": 3}]
    source, output = write_lines(tmp_path / "in.jsonl", inputs), tmp_path / "out.jsonl"
    args = (str(source), "-o", str(output), "--concurrency", "1")
    assert batch(capsys, *args, "--timeout", "0.5", "--json")[0] == 1
    assert sorted(by_line(output)) == [1]
    # As if the process had died before the /run reply of line 2 came: the journal says
    # "a submit was sent, no id known" (phase SENDING), though a job was created.
    with sqlite3.connect(tmp_path / "out.jsonl.journal") as db:
        db.execute("UPDATE items SET phase = 1, job_id = NULL WHERE idx = 1")
    db.close()
    code, out, err = batch(capsys, *args)
    assert code == 0, err
    lines = by_line(output)
    assert sorted(lines) == [1, 2, 3]
    assert lines[2].get("possibly_duplicated") is True
    assert "possibly_duplicated" not in lines[1] and "possibly_duplicated" not in lines[3]
    assert "possibly duplicated" in err and "may have run twice): line 2" in err
    # It did run twice: the lost submit's job and the resent one.
    assert len(submits(server)) == 4
    # Every later run says so again (the journal keeps the flag).
    code, out, _ = batch(capsys, *args, "--json")
    assert code == 0 and summary_json(out)["possibly_duplicated"] == [2]


def run_with_ctrl_c(
    capsys: pytest.CaptureFixture[str], output: Path, lines: int, *args: str
) -> tuple[int, str]:
    """``batch ARGS`` in this process, interrupted by a real SIGINT once OUTPUT has
    ``lines`` lines (the main thread is then inside the batch, as at a terminal)."""

    def ctrl_c() -> None:
        end = time.monotonic() + 30
        while time.monotonic() < end:
            if output.exists() and output.read_text().count("\n") >= lines:
                time.sleep(0.2)  # the slow jobs are running by now
                os.kill(os.getpid(), signal.SIGINT)
                return
            time.sleep(0.02)

    watcher = threading.Thread(target=ctrl_c)
    watcher.start()
    try:
        code, _, err = batch(capsys, *args)
    finally:
        watcher.join()
    return code, err


def test_resume_after_ctrl_c(
    server: LocalEndpoint, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    inputs = [{"n": 1}, {"n": 2}] + [{"task": "sleep", "seconds": 1.5, "n": n} for n in range(6)]
    source, output = write_lines(tmp_path / "in.jsonl", inputs), tmp_path / "out.jsonl"
    args = (str(source), "-o", str(output), "--concurrency", "3")
    code, err = run_with_ctrl_c(capsys, output, 2, *args)
    assert code == 130, err
    assert "error: interrupted" in err
    assert "left running on the endpoint" in err
    assert "to resume: run the same command again" in err
    written = by_line(output)
    assert 2 <= len(written) < len(inputs)
    left = submits(server)

    code, _, err = batch(capsys, *args)
    assert code == 0, err
    lines = by_line(output)
    assert sorted(lines) == list(range(1, len(inputs) + 1))
    # Jobs running at Ctrl-C were waited for by id: every line ran once.
    assert len(submits(server)) == len(inputs) == len(set(submits(server)))
    assert set(left) <= {r["id"] for r in lines.values()}
    assert "waited for by id" in err


def test_cancel_on_interrupt_then_the_rerun_runs_the_cancelled_lines_again(
    server: LocalEndpoint, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    inputs = [{"n": 1}, {"n": 2}] + [{"task": "sleep", "seconds": 1.5, "n": n} for n in range(4)]
    source, output = write_lines(tmp_path / "in.jsonl", inputs), tmp_path / "out.jsonl"
    args = (str(source), "-o", str(output), "--concurrency", "3", "--cancel-on-interrupt")
    code, err = run_with_ctrl_c(capsys, output, 2, *args)
    assert code == 130, err
    assert "cancelled on interrupt" in err and "left running" not in err
    first = set(submits(server))
    cancelled = {r.job_id for r in server.requests if r.operation == "cancel"}
    assert cancelled and cancelled <= first

    code, _, err = batch(capsys, *args)
    assert code == 0, err
    lines = by_line(output)
    assert sorted(lines) == list(range(1, len(inputs) + 1))
    # A line whose job the batch cancelled ran again, under a new id: its result is there,
    # never a CANCELLED line.
    assert all(r["status"] == "COMPLETED" for r in lines.values())
    assert not cancelled & {r["id"] for r in lines.values()}
    assert len(submits(server)) == len(inputs) + len(cancelled)
    # The summary says what happened to them: sent again, not "waited for by id".
    assert "an earlier run cancelled on interrupt submitted again" in err
    assert "waited for by id" not in err


def test_a_result_past_retention_is_a_lost_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # An endpoint that forgets a /run result half a second after its job ends (RunPod: 30 min).
    with LocalEndpoint(demo_handler, workers=2, run_retention_s=0.5) as forgetful:
        point_env_at(monkeypatch, forgetful)
        # Line 1 must end within the first run's deadline and line 2 outlast it: a loaded host
        # once took over 0.3 s for line 1 alone, so the deadline leaves room and line 2 a
        # margin (it cannot end before its 2 s sleep, whatever the load).
        inputs = [{"n": 1}, {"task": "sleep", "seconds": 2.0}]
        source, output = write_lines(tmp_path / "in.jsonl", inputs), tmp_path / "out.jsonl"
        args = (str(source), "-o", str(output), "--json")
        code, out, _ = batch(capsys, *args, "--timeout", "1.5")
        assert code == 1 and summary_json(out)["unfinished"] == 1
        # The two submits race: either may be the last sent, so wait until both are forgotten.
        job_ids = set(submits(forgetful))
        deadline = time.monotonic() + 10
        while job_ids & set(forgetful.job_ids()):  # ended, then forgotten
            assert time.monotonic() < deadline
            time.sleep(0.1)
        code, out, _ = batch(capsys, *args)
        assert code == 1
        summary = summary_json(out)
        assert summary["failed"] == 1 and summary["unfinished"] == 0
        lost = by_line(output)[2]
        assert lost["id"] in job_ids and lost["status"] is None and lost["output"] is None
        assert lost["error"]["type"] == "NotFoundError"
        assert "past retention" in lost["error"]["message"]
        assert len(submits(forgetful)) == 2  # not run again: RunPod cannot say how it ended


def test_journal_missing_is_refused_unless_restart(
    server: LocalEndpoint, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    source = write_lines(tmp_path / "in.jsonl", [{"n": n} for n in range(3)])
    output, journal = tmp_path / "out.jsonl", tmp_path / "out.jsonl.journal"
    assert batch(capsys, str(source), "-o", str(output))[0] == 0
    before = output.read_text()
    journal.unlink()
    server.clear_requests()
    code, _, err = batch(capsys, str(source), "-o", str(output))
    assert code == 2
    message = one_error_line(err)
    assert "journal" in message and "is missing" in message and "--restart" in message
    assert output.read_text() == before and submits(server) == [] and not journal.exists()

    code, _, _ = batch(capsys, str(source), "-o", str(output), "--restart")
    assert code == 0
    assert sorted(by_line(output)) == [1, 2, 3] and len(submits(server)) == 3
    # --restart also replaces a journal that exists (a batch journal, not in use).
    assert batch(capsys, str(source), "-o", str(output), "--restart")[0] == 0
    assert sorted(by_line(output)) == [1, 2, 3] and len(submits(server)) == 6


def test_restart_never_deletes_a_file_that_is_not_a_journal(
    server: LocalEndpoint, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    source = write_lines(tmp_path / "in.jsonl", [{"n": 1}])
    precious = tmp_path / "precious.db"
    precious.write_text("my data")
    args = (str(source), "-o", str(tmp_path / "o.jsonl"), "--journal", str(precious))
    code, _, err = batch(capsys, *args, "--restart")
    assert code == 2 and "not a batch journal" in one_error_line(err)
    assert precious.read_text() == "my data" and submits(server) == []


def test_torn_last_line_is_dropped_and_written_again(
    server: LocalEndpoint, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    source = write_lines(tmp_path / "in.jsonl", [{"n": n} for n in range(4)])
    output = tmp_path / "out.jsonl"
    assert batch(capsys, str(source), "-o", str(output))[0] == 0
    text = output.read_text()
    lines = text.splitlines(keepends=True)
    torn = json.loads(lines[-1])["line"]
    output.write_text("".join(lines[:-1]) + lines[-1][:10])  # as a SIGKILL mid-write leaves it
    code, out, err = batch(capsys, str(source), "-o", str(output), "--json")
    assert code == 0, err
    assert summary_json(out)["written"] == 1
    assert sorted(by_line(output)) == [1, 2, 3, 4]
    assert by_line(output)[torn] == json.loads(lines[-1])  # replayed from the journal
    assert len(submits(server)) == 4


def test_output_of_something_else_is_refused(
    server: LocalEndpoint, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    source = write_lines(tmp_path / "in.jsonl", [{"n": 1}])
    output = tmp_path / "out.jsonl"
    assert batch(capsys, str(source), "-o", str(output))[0] == 0
    output.write_text("name,score\n" + output.read_text())
    code, _, err = batch(capsys, str(source), "-o", str(output))
    assert code == 2 and "is not a result of runpod-facade batch" in one_error_line(err)
    assert output.read_text().startswith("name,score\n")


def test_another_batch_on_the_same_journal_is_refused(
    server: LocalEndpoint, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    source = write_lines(tmp_path / "in.jsonl", [{"n": 1}, {"n": 2}])
    output = tmp_path / "out.jsonl"
    assert batch(capsys, str(source), "-o", str(output))[0] == 0
    write_lines(source, [{"n": 1}, {"n": 99}])  # line 2 changed
    code, _, err = batch(capsys, str(source), "-o", str(output))
    assert code == 2
    assert "line 2 of INPUT is not the input the journal" in one_error_line(err)
    # Same inputs, other job options: another batch too.
    write_lines(source, [{"n": 1}, {"n": 2}])
    code, _, err = batch(capsys, str(source), "-o", str(output), "--ttl", "60")
    assert code == 2 and "line 1 of INPUT" in one_error_line(err)


def test_a_journal_in_use_is_refused(
    server: LocalEndpoint, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    source = write_lines(tmp_path / "in.jsonl", [{"n": 1}])
    journal = tmp_path / "out.jsonl.journal"
    holder = sqlite3.connect(journal)
    holder.execute("PRAGMA locking_mode=EXCLUSIVE")
    holder.execute("BEGIN IMMEDIATE")
    try:
        code, _, err = batch(capsys, str(source), "-o", str(tmp_path / "out.jsonl"))
        assert code == 2 and "in use" in one_error_line(err)
        code, _, err = batch(capsys, str(source), "-o", str(tmp_path / "out.jsonl"), "--restart")
        assert code == 2 and "in use by another batch run" in one_error_line(err)
    finally:
        holder.close()
    assert journal.exists() and submits(server) == []


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["IN"], "-o/--output"),
        (["IN", "-o", "-"], "-o must be a file"),
        (["MISSING", "-o", "OUT"], "no such file"),
        (["IN", "-o", "IN"], "INPUT and -o OUTPUT are the same file"),
        (["IN", "-o", "OUT", "--journal", "IN"], "INPUT and --journal are the same file"),
        (["IN", "-o", "OUT", "--concurrency", "0"], "--concurrency"),
        (["IN", "-o", "OUT", "--retry-failed", "-1"], "--retry-failed"),
        (["IN", "-o", "OUT", "--timeout", "0"], "--timeout"),
        (["IN", "-o", "OUT", "--ttl", "1"], "ttl"),
        (["IN", "-o", "OUT", "--policy-execution-timeout", "1"], "5 s"),
        (["IN", "-o", "OUT", "--webhook", "not a url"], "webhook"),
    ],
)
def test_usage_errors(
    server: LocalEndpoint,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    args: list[str],
    expected: str,
) -> None:
    source = write_lines(tmp_path / "in.jsonl", [{"n": 1}])
    paths = {"IN": str(source), "OUT": str(tmp_path / "out.jsonl"), "MISSING": "/no/such.jsonl"}
    code, out, err = batch(capsys, *(paths.get(a, a) for a in args))
    assert code == 2
    assert out == "" and expected in err and "Traceback" not in err
    assert submits(server) == []
    assert not (tmp_path / "out.jsonl").exists() or (tmp_path / "out.jsonl").read_text() == ""


def test_no_endpoint_id_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], clean_env: None, tmp_path: Path
) -> None:
    source = write_lines(tmp_path / "in.jsonl", [{"n": 1}])
    code, _, err = batch(capsys, str(source), "-o", str(tmp_path / "out.jsonl"))
    assert code == 2 and "no endpoint id" in one_error_line(err)
    assert not (tmp_path / "out.jsonl").exists()


def test_wrong_api_key_stops_at_the_first_refusal(
    server: LocalEndpoint, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    source = write_lines(tmp_path / "in.jsonl", [{"n": n} for n in range(200)])
    output = tmp_path / "out.jsonl"
    key = "rp_wrong_key_0123456789"
    code, _, err = batch(capsys, str(source), "-o", str(output), "--api-key", key)
    assert code == 6
    assert "stopped: the API refused the submit" in err and "check the API key" in err
    refused = [r for r in server.requests if r.operation == "run"]
    assert 1 <= len(refused) <= 16 + 1  # one wave at most, not 200
    assert all(r.status_code == 401 for r in refused)
    assert output.read_text() == "" and key not in err


def test_unreachable_api_stops_after_failures_in_a_row(
    server: LocalEndpoint,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    import socket

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("RUNPOD_BASE_URL", f"http://127.0.0.1:{port}/v2")
    source = write_lines(tmp_path / "in.jsonl", [{"n": n} for n in range(500)])
    code, out, err = batch(
        capsys, str(source), "-o", str(tmp_path / "out.jsonl"), "--concurrency", "2",
        "--max-retries", "0", "--json",
    )  # fmt: skip
    assert code == 7, err
    assert "stopped: 10 requests in a row failed" in err
    summary = summary_json(out)
    assert summary["unfinished"] == 500 and summary["submitted"] < 500


# --- display ------------------------------------------------------------------------------


def test_plain_progress_lines_off_a_terminal(
    server: LocalEndpoint,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    monkeypatch.setattr(batch_module, "PROGRESS_INTERVAL", 0.2)
    inputs = [{"task": "sleep", "seconds": 0.3} for _ in range(8)] + [{"task": "fail"}]
    source, output = write_lines(tmp_path / "in.jsonl", inputs), tmp_path / "out.jsonl"
    code, out, err = batch(capsys, str(source), "-o", str(output), "--concurrency", "2")
    assert code == 1 and out == ""
    assert not ESCAPE.search(err) and "\r" not in err
    progress = [line for line in err.splitlines() if line.startswith("batch: ")]
    assert len(progress) >= 3  # periodic lines, then the final one
    assert re.fullmatch(
        r"batch: \d/9 finished \(\d done, \d failed\), \d running, \d queued.*", progress[0]
    )
    assert any(" running" in line and "jobs/s" in line for line in progress[:-1])
    assert progress[-1].startswith("batch: 9/9 finished (8 done, 1 failed), 0 running, 0 queued")
    assert "ETA" not in progress[-1]
    assert f"{output}: 8 completed, 1 failed" in err


def test_rich_progress_on_a_terminal(
    server: LocalEndpoint, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("TERM", "xterm-256color")
    terminal = Terminal()
    monkeypatch.setattr("sys.stderr", terminal)
    inputs = [{"task": "sleep", "seconds": 0.2} for _ in range(10)]
    source, output = write_lines(tmp_path / "in.jsonl", inputs), tmp_path / "out.jsonl"
    assert main(["batch", str(source), "-o", str(output), "--concurrency", "2"]) == 0
    text = terminal.getvalue()
    assert ESCAPE.search(text)  # drawn in place
    plain = ESCAPE.sub("", text)
    assert "━" in plain and "/10" in plain and "running" in plain
    assert "batch: 10/10 finished (10 done, 0 failed)" in plain
    assert f"{output}: 10 completed, 0 failed" in plain


@pytest.mark.parametrize("flag", ["--quiet", "--json"])
def test_quiet_and_json_show_no_progress(
    server: LocalEndpoint,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    flag: str,
) -> None:
    monkeypatch.setenv("TERM", "xterm-256color")
    terminal = Terminal()
    monkeypatch.setattr("sys.stderr", terminal)
    source = write_lines(tmp_path / "in.jsonl", [{"n": 1}, "oops"])
    code = main(["batch", str(source), "-o", str(tmp_path / "out.jsonl"), flag])
    assert code == 1
    assert terminal.getvalue() == ""
    out = capsys.readouterr().out
    if flag == "--json":
        summary = summary_json(out)
        assert summary["completed"] == 1 and summary["failed"] == 1
        assert summary["unfinished"] == 0 and summary["possibly_duplicated"] == []
    else:
        assert out == ""


# --- secrets ------------------------------------------------------------------------------


@pytest.mark.parametrize("via", ["option", "env"])
def test_the_api_key_is_never_printed(
    server: LocalEndpoint,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    via: str,
) -> None:
    assert server.api_key is not None
    key = server.api_key
    extra: list[str] = []
    if via == "option":
        monkeypatch.delenv("RUNPOD_API_KEY")
        extra = ["--api-key", key]
    # Every kind of line, with --debug logging.
    inputs = [{"n": 1}, {"task": "fail", "message": "bad"}, "nope"]
    source, output = write_lines(tmp_path / "in.jsonl", inputs), tmp_path / "out.jsonl"
    code, out, err = batch(capsys, "--debug", str(source), "-o", str(output), "--json", *extra)
    assert code == 1
    assert "debug: " in err  # the HTTP log was on
    assert key not in out and key not in err
    assert key not in output.read_text() and len(records(output)) == 3
    assert key.encode() not in (tmp_path / "out.jsonl.journal").read_bytes()
    # A handler that echoes the key back: its output is the job's data, written unchanged
    # (masking is for diagnostics; see tests/cli/test_cli_results_unmasked.py).
    source = write_lines(tmp_path / "leak.jsonl", [{"leak": key}])
    output = tmp_path / "leak.out.jsonl"
    code, out, err = batch(capsys, str(source), "-o", str(output), *extra)
    assert code == 0 and key not in out + err
    assert records(output)[0]["output"] == {"leak": key}


# --- the pieces ---------------------------------------------------------------------------


def test_line_set_is_a_bitmap() -> None:
    lines = LineSet()
    assert lines.add(1) and lines.add(1_000_000) and not lines.add(1)
    assert 1 in lines and 1_000_000 in lines and 2 not in lines and 2_000_000 not in lines
    assert lines.count == 2
    assert len(lines._bits) <= 2 * 1_000_000 // 8  # bits, not ints
    for n in range(1, 100_001):
        lines.add(n)
    assert lines.count == 100_001 and all(n in lines for n in range(1, 100_001))


def test_input_lines_keep_nothing_once_claimed(tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_bytes(b"1\n\nbad\n" * 10_000)
    with open(source, "rb") as handle:
        reader = InputLines(handle)
        for index, _ in enumerate(reader):
            reader.claim(index)
    assert reader.read == 30_000 and reader.blank == 10_000 and reader.bad == {}
    assert reader.exhausted
    assert count_lines(str(source)) == (30_000, 10_000)


def test_result_file_scan_drops_a_torn_line(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    path.write_bytes(
        b'{"line": 2, "id": "a\\"b", "status": "COMPLETED", "output": 1, "error": null}\n'
        b'{"line": 1, "id": null, "status": null, "output": null, "error": {}}\n'
        b'{"line": 3, "id": "c", "sta'
    )
    result = ResultFile(str(path))
    result.open()
    try:
        result.scan()
        assert result.dropped_torn and result.completed == 1 and result.failed == 1
        assert 1 in result.written and 2 in result.written and 3 not in result.written
        assert result.write(3, {"line": 3, "id": "c"}, ok=True)
        assert not result.write(1, {"line": 1}, ok=True)  # written already
    finally:
        result.close()
    assert path.read_bytes().endswith(b'}\n{"line": 3, "id": "c"}\n')


def test_a_second_run_on_the_same_output_is_refused(tmp_path: Path) -> None:
    path = str(tmp_path / "out.jsonl")
    first = ResultFile(path)
    first.open()
    try:
        from runpod_facade.cli._errors import UsageError

        with pytest.raises(UsageError, match="another batch run"):
            ResultFile(path).open()
    finally:
        first.close()


@pytest.mark.misuse("argument")
@pytest.mark.parametrize("as_is", [False, True], ids=["refused", "input-as-is"])
def test_a_line_shaped_like_a_request_body_needs_input_as_is(
    server: LocalEndpoint, capsys: pytest.CaptureFixture[str], tmp_path: Path, as_is: bool
) -> None:
    """A line ``{"input": ...}`` would reach the worker nested in a second ``input``: its line
    says so and names the flag; with ``--input-as-is`` it is sent exactly as written."""
    line = {"input": {"task": "echo", "n": 1}}
    source, output = write_lines(tmp_path / "in.jsonl", [line]), tmp_path / "out.jsonl"
    flags = ["--input-as-is"] if as_is else []
    code, _, err = batch(capsys, str(source), "-o", str(output), *flags)
    (record,) = records(output)
    if as_is:
        assert code == 0, err
        assert record["output"] == line  # the handler echoes its input: the line, unwrapped
    else:
        assert code == 1
        assert "--input-as-is" in record["error"]["message"], record
        assert "runpod_facade.Input" not in record["error"]["message"]
        assert submits(server) == []
