"""Crash and resume of ``runpod-facade batch --server``, for real: the client process is
killed with SIGKILL at random moments (a few seeds), rerun each time, then run to the end.
The output holds every line once, each the result of its own input, and the local
endpoint's records agree that no batch and no request was created twice."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from runpod_facade.local import LocalEndpoint
from tests._support.handlers import dispatch

ROOT = Path(__file__).resolve().parents[2]
COUNT = 60
BATCH = 7  # 9 batches, at most 10 live at a time
KILLS = 3


@pytest.fixture
def local() -> Iterator[LocalEndpoint]:
    with LocalEndpoint(dispatch, workers=2) as ep:
        yield ep


def _command(local: LocalEndpoint, source: Path, output: Path) -> list[str]:
    return [
        sys.executable, "-m", "runpod_facade", "batch", str(source), "-o", str(output),
        "--server", "--batch-size", str(BATCH), "--endpoint-id", local.endpoint_id,
        "--base-url", local.base_url, "-q",
    ]  # fmt: skip


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_sigkill_at_random_points_then_resume(
    local: LocalEndpoint, tmp_path: Path, seed: int
) -> None:
    source, output = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    source.write_text(
        "".join(json.dumps({"n": n, "text": "é" * (n % 5)}) + "\n" for n in range(COUNT))
    )
    env = {**os.environ, "RUNPOD_API_KEY": local.api_key or "", "PYTHONPATH": str(ROOT)}
    rng = random.Random(seed)
    killed = 0
    for _ in range(KILLS):
        # A random point of the protocol, not of the clock: the k-th request the server
        # receives from this run (between its arrival and the client's use of the reply).
        k = rng.randint(1, 40)
        base = len(local.requests)
        proc = subprocess.Popen(_command(local, source, output), cwd=ROOT, env=env)
        deadline = time.monotonic() + 30
        while proc.poll() is None and time.monotonic() < deadline:
            if len(local.requests) - base >= k:
                proc.send_signal(signal.SIGKILL)
                killed += 1
                break
            time.sleep(0.001)
        proc.wait()
        if os.environ.get("BJ_DEBUG"):
            size = output.stat().st_size if output.exists() else 0
            print(f"seed {seed}: k={k} rc={proc.returncode} output {size} bytes", file=sys.stderr)
    final = subprocess.run(
        _command(local, source, output), cwd=ROOT, env=env, capture_output=True, timeout=60
    )
    assert final.returncode == 0, final.stderr.decode()

    lines = [json.loads(line) for line in output.read_bytes().splitlines()]
    assert sorted(line["line"] for line in lines) == list(range(1, COUNT + 1))
    for line in lines:
        assert line["status"] == "COMPLETED"
        assert line["output"] == {"n": line["line"] - 1, "text": "é" * ((line["line"] - 1) % 5)}

    created = local.app.batches.store.created
    batches = [c.batch_id for c in created if c.request_id is None]
    requests = sorted(c.input["n"] for c in created if c.request_id is not None)
    assert len(batches) == -(-COUNT // BATCH)  # no batch created twice
    assert requests == list(range(COUNT))  # no request created twice
    assert {line["batch"] for line in lines} == set(batches)
    assert {line["id"] for line in lines} == {c.request_id for c in created if c.request_id}
    assert killed >= 1  # each seed kills at least one run mid-way
