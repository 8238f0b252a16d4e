"""``python -m runpod_facade.demo`` (``make demo``): local mode end to end, and the real-API
mode pointed at a local endpoint through the RUNPOD_* variables."""

from __future__ import annotations

import re

import pytest

from runpod_facade import demo
from runpod_facade.local import LocalEndpoint, sample_handlers

from .conftest import point_env_at, run_module

LOCAL_SECTIONS = [
    "health",
    "run_sync",
    "run + wait, with on_status progress",
    "stream",
    "status of a job",
    "cancel a running job",
    "a failing job raises JobFailed; retry()",
    "execution policy",
    "purge queue",
    "the same with AsyncEndpoint",
    "batch: ep.map with a journal, stopped half-way, then resumed",
    "server-side batch: RunPod's Batch Jobs API",
    "OpenAI-compatible route",
    "webhook: the finished job POSTed to a receiver",
    "rate limits: ep.map against an endpoint that answers 429",
]


def test_local_demo_runs_every_section() -> None:
    proc = run_module(module="runpod_facade.demo", timeout=120)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "mode: LOCAL endpoint" in out
    for section in LOCAL_SECTIONS:
        assert f". {section}" in out, section
    assert 'progress {"step": 1, "of": 4}' in out
    assert "stream ended: COMPLETED, 5 chunks" in out
    assert "cancel() -> CANCELLED" in out and "JobCancelled" in out
    assert "JobFailed" in out and "after retry: job" in out and "COMPLETED" in out
    assert "FINALIZED: 7 completed + 1 failed == 8 total" in out
    assert "every input has its result: True" in out
    assert "JobTimedOut" in out
    assert "purge_queue() -> removed 3" in out
    assert "20 completed" in out
    assert "first run: 10 results, then stopped" in out
    assert "10 replayed from the journal" in out and "every input completed once: True" in out
    assert "chat.completions.create -> 'You said: what does a queue worker do'" in out
    assert "streamed: You said: what does a queue worker do" in out
    assert "parse_webhook(body) == ep.status(id): True" in out
    assert "this endpoint allows 50 /runsync per 0.5 s" in out
    paced = re.search(
        r"rate_limits='learn' \(default\): 300 jobs .*, 0 failed, (\d+) answered 429; paced at \d+/s",
        out,
    )
    assert paced is not None, out
    unpaced = re.search(r"rate_limits=None \(no pacing\): 300 jobs .*, (\d+) answered 429", out)
    assert unpaced is not None, out
    # Pacing turns the storm into a handful (the requests in flight at the first 429).
    assert int(paced.group(1)) < int(unpaced.group(1)), out
    assert "demo finished" in out


def test_remote_mode_uses_the_environment(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with LocalEndpoint(sample_handlers.echo, workers=2) as ep:
        point_env_at(monkeypatch, ep)
        assert demo.main([]) == 0
        out, err = capsys.readouterr()
        assert ep.api_key is not None and ep.api_key not in out + err
        assert f"mode: API at {ep.base_url}" in out
        for section in ("health", "run_sync", "run + wait", "status", "stream", "cancel"):
            assert f". {section}" in out, section
        assert "skipped: it removes every queued job" in out
        assert "AsyncEndpoint" in out

        assert demo.main(["--purge", "--input", '{"prompt": "custom"}']) == 0
        out, _ = capsys.readouterr()
        assert "removed 0 queued jobs" in out and "custom" in out


def test_bad_input_option(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        demo.main(["--input", "{oops"])
    assert info.value.code == 2
