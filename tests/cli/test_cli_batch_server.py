"""``runpod-facade batch --server``: the lines through the Batch Jobs API of the local
endpoint (in-process CLI, real loopback sockets), and the mistakes refused before any
request is sent."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from runpod_facade.local import LocalEndpoint

from .conftest import cli


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def _created(local: LocalEndpoint) -> tuple[int, int]:
    created = local.app.batches.store.created
    batches = sum(1 for c in created if c.request_id is None)
    return batches, len(created) - batches


def test_lines_through_the_batch_api(
    env: LocalEndpoint, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    before = _created(env)
    inputs: list[Any] = [{"n": n} for n in range(7)]
    inputs[3] = {"task": "fail", "message": "line four is bad"}
    source = _write(tmp_path / "in.jsonl", "".join(json.dumps(x) + "\n" for x in inputs))
    output = tmp_path / "out.jsonl"
    args = ("batch", str(source), "-o", str(output), "--server", "--batch-size", "3")
    code, out, err = cli(capsys, *args)
    assert out == ""  # results go to OUTPUT
    assert code == 1, err  # one line failed
    lines = {r["line"]: r for r in map(json.loads, output.read_text().splitlines())}
    assert sorted(lines) == list(range(1, 8))
    assert lines[4]["status"] == "FAILED" and "line four is bad" in lines[4]["error"]
    assert all(lines[n + 1]["output"] == inputs[n] for n in range(7) if n != 3)
    assert len({r["batch"] for r in lines.values()}) == 3
    assert "7 lines through the Batch Jobs API: 7 results written now, 1 not COMPLETED" in err
    # Again: every batch is in the journal as written; nothing is created or written again.
    code, _, err = cli(capsys, *args)
    assert code == 0, err
    assert len(output.read_text().splitlines()) == 7
    after = _created(env)
    assert (after[0] - before[0], after[1] - before[1]) == (3, 7)


@pytest.mark.misuse("argument")
@pytest.mark.parametrize(
    ("text", "extra", "fragment"),
    [
        ('{"n": 1}\n\n{"n": 2}\n', (), "in.jsonl:2 is blank"),
        ('{"n": 1}\nnot json\n', (), "in.jsonl:2 is not JSON"),
        (
            '{"n": 1}\n',
            ("--batch-size", "5001"),
            "--batch-size: expected an integer from 1 to 5000",
        ),
        ('{"n": 1}\n', ("--batch-size", "0"), "--batch-size"),
    ],
)
def test_bad_input_refused_before_sending(
    env: LocalEndpoint,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    text: str,
    extra: tuple[str, ...],
    fragment: str,
) -> None:
    env.clear_requests()
    source = _write(tmp_path / "in.jsonl", text)
    output = tmp_path / "out.jsonl"
    code, _, err = cli(capsys, "batch", str(source), "-o", str(output), "--server", *extra)
    assert code == 2 and fragment in err, err
    assert [r for r in env.requests if (r.operation or "").startswith("batch")] == []


@pytest.mark.misuse("path")
@pytest.mark.parametrize("case", ["stdin", "journal-missing"])
def test_paths_refused(
    env: LocalEndpoint, capsys: pytest.CaptureFixture[str], tmp_path: Path, case: str
) -> None:
    env.clear_requests()
    source = _write(tmp_path / "in.jsonl", '{"n": 1}\n')
    output = tmp_path / "out.jsonl"
    if case == "journal-missing":
        _write(output, '{"line": 1}\n')
    code, _, err = cli(
        capsys, "batch", "-" if case == "stdin" else str(source), "-o", str(output), "--server"
    )
    assert code == 2
    assert ("not stdin" if case == "stdin" else "--restart") in err
    assert [r for r in env.requests if (r.operation or "").startswith("batch")] == []


def test_help_describes_the_server_lines_as_written(
    env: LocalEndpoint, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # --help described only the job-by-job line, whose "error" is an object; a --server line
    # has a "batch" id and RunPod's error text, a string, as "error".
    source = _write(tmp_path / "in.jsonl", json.dumps({"task": "fail", "message": "no"}) + "\n")
    output = tmp_path / "out.jsonl"
    assert cli(capsys, "batch", str(source), "-o", str(output), "--server")[0] == 1
    (line,) = map(json.loads, output.read_text().splitlines())
    assert sorted(line) == ["batch", "error", "id", "line", "output", "status"]
    assert isinstance(line["error"], str)
    code, out, _ = cli(capsys, "batch", "--help")
    assert code == 0
    text = " ".join(out.split())
    assert 'with --server: {"line": N, "id": REQUEST_ID, "batch": BATCH_ID, "status": ...' in text
    assert '"error": RunPod\'s error text (a string) or null' in text
