"""The per-item operation of a batch, driven by hand (sans-IO, fake clock): what it sends,
what the journal holds at each step, and how a stop reaches it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from runpod_facade import BatchItem, PollPolicy, RetryPolicy
from runpod_facade._batches.item import BatchStopped, Work
from runpod_facade._batches.journal import Journal, Phase
from runpod_facade._batches.run import BatchRun
from runpod_facade._core.effects import Send
from runpod_facade._core.engine import EndpointCore
from runpod_facade._core.retry import jittered_backoff
from runpod_facade._transports.base import ApiResponse
from runpod_facade._wire.requests import encode_job


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make_run(
    tmp_path: Path | None, clock: Clock, timeout: float | None = None, **kwargs: Any
) -> BatchRun:
    core = EndpointCore("ep-1", retry=RetryPolicy(max_retries=0), poll=PollPolicy(), clock=clock)
    journal = None if tmp_path is None else Journal(tmp_path / "j", "ep-1")
    kwargs.setdefault("cancel_on_interrupt", False)
    return BatchRun(
        core,
        concurrency=4,
        deadline=core.deadline(timeout),
        retry_failed=0,
        journal=journal,
        replay=True,
        **kwargs,
    )


def work_for(run: BatchRun, n: int) -> Work:
    taken = run.take(encode_job({"n": n}))
    assert isinstance(taken, Work)
    return taken


def reply(code: int = 200, **body: Any) -> ApiResponse:
    return ApiResponse(code, {}, json.dumps(body).encode())


def test_the_journal_is_ahead_of_every_request(tmp_path: Path) -> None:
    run = make_run(tmp_path, Clock())
    journal = run.journal
    assert journal is not None
    work = work_for(run, 0)
    op = run.operation(work)
    submit = next(op)
    assert isinstance(submit, Send) and submit.request.operation == "run"
    # Before the submit can leave, the journal says a job may exist — committed.
    entry = journal.entry(0)
    assert entry is not None and entry.phase is Phase.SENDING and entry.job_id is None
    assert not journal._db.in_transaction
    wait = op.send(reply(id="j0", status="IN_QUEUE"))
    assert isinstance(wait, Send) and wait.request.operation == "status-sync"
    # Before anything else is sent, the id is on record.
    entry = journal.entry(0)
    assert entry is not None and entry.phase is Phase.ACCEPTED and entry.job_id == "j0"
    with pytest.raises(StopIteration) as done:
        op.send(reply(id="j0", status="COMPLETED", output=42))
    item = done.value.value
    assert isinstance(item, BatchItem) and item.ok and item.output == 42
    # The outcome is recorded when it is handed to the caller, not before.
    entry = journal.entry(0)
    assert entry is not None and entry.phase is Phase.ACCEPTED
    run.deliver(work, item)
    entry = journal.entry(0)
    assert entry is not None and entry.phase is Phase.FINAL and entry.status == "COMPLETED"
    assert entry.raw_json is not None and json.loads(entry.raw_json)["output"] == 42


def test_without_a_journal_a_short_hold_runsync_while_the_deadline_allows() -> None:
    clock = Clock()
    run = make_run(None, clock, timeout=10.0)
    first = next(run.operation(work_for(run, 0)))
    assert isinstance(first, Send) and first.request.operation == "runsync"
    assert first.request.params == {"wait": 1000}
    clock.now += 8.6  # 1.4 s left: less than the 1 s hold plus its reply's grace
    second = next(run.operation(work_for(run, 1)))
    assert isinstance(second, Send) and second.request.operation == "run"
    assert json.loads(second.request.content or b"")["input"] == {"n": 1}


def test_a_runsync_reply_that_is_terminal_ends_the_item_in_one_request() -> None:
    run = make_run(None, Clock())
    op = run.operation(work_for(run, 0))
    next(op)
    with pytest.raises(StopIteration) as done:
        op.send(reply(id="sync-j0", status="COMPLETED", output="fast"))
    assert done.value.value.output == "fast"


def test_a_stop_never_cuts_a_submit_and_cancels_its_job_once_named(tmp_path: Path) -> None:
    run = make_run(tmp_path, Clock())
    op = run.operation(work_for(run, 0))
    next(op)  # the submit is in flight ...
    assert run.begin_stop(cancel=True) == []  # ... with no id to cancel yet
    cancel = op.send(reply(id="j0", status="IN_QUEUE"))
    assert isinstance(cancel, Send) and cancel.request.operation == "cancel"
    assert cancel.request.job_id == "j0"
    with pytest.raises(BatchStopped):
        op.send(reply(id="j0", status="CANCELLED"))
    report = run.report()
    assert report.cancelled == ("j0",) and report.unnamed_submits == 0
    assert run.journal is not None
    entry = run.journal.entry(0)
    assert entry is not None and entry.phase is Phase.WITHDRAWN


def test_a_job_that_ended_before_its_cancel_keeps_its_outcome(tmp_path: Path) -> None:
    run = make_run(tmp_path, Clock())
    op = run.operation(work_for(run, 0))
    next(op)
    run.begin_stop(cancel=True)
    cancel = op.send(reply(id="j0", status="IN_QUEUE"))
    assert cancel.request.operation == "cancel"
    with pytest.raises(BatchStopped):
        op.send(reply(id="j0", status="COMPLETED"))  # it had ended: the cancel came late
    assert run.journal is not None
    entry = run.journal.entry(0)
    # Not withdrawn: a resumed batch fetches its result instead of running it again.
    assert entry is not None and entry.phase is Phase.ACCEPTED and entry.job_id == "j0"


def test_a_stop_reaches_a_waiting_item_at_its_next_request(tmp_path: Path) -> None:
    run = make_run(tmp_path, Clock())
    op = run.operation(work_for(run, 0))
    next(op)
    wait = op.send(reply(id="j0", status="IN_QUEUE"))
    assert wait.request.operation == "status-sync"
    assert run.begin_stop(cancel=False) == []
    with pytest.raises(BatchStopped):
        op.send(reply(id="j0", status="IN_PROGRESS"))
    assert run.report().left_running == ("j0",)


def test_no_submit_starts_once_the_batch_has_stopped(tmp_path: Path) -> None:
    run = make_run(tmp_path, Clock())
    work = work_for(run, 0)
    run.begin_stop(cancel=False)
    with pytest.raises(BatchStopped):
        next(run.operation(work))
    assert run.journal is not None and run.journal.entry(0) is None
    assert run.stats.submitted == 0


@pytest.mark.parametrize(
    ("status", "phase", "final"),
    [
        (503, Phase.SENDING, False),  # a server error may hide a created job
        (401, None, False),  # turned away: no job, nothing to remember
        (429, None, False),
        (400, Phase.FINAL, True),  # this input's final answer
    ],
)
def test_a_failed_submit_leaves_what_the_server_may_have_done(
    tmp_path: Path, status: int, phase: Phase | None, final: bool
) -> None:
    run = make_run(tmp_path, Clock())
    work = work_for(run, 0)
    op = run.operation(work)
    next(op)
    with pytest.raises(StopIteration) as done:
        op.send(reply(status, error="no"))
    item = done.value.value
    assert item.job_id is None and item.final is final
    run.deliver(work, item)
    assert run.journal is not None
    entry = run.journal.entry(0)
    assert (None if entry is None else entry.phase) is phase


def test_a_cut_short_reply_that_names_the_job_is_waited_for(tmp_path: Path) -> None:
    run = make_run(tmp_path, Clock())
    op = run.operation(work_for(run, 0))
    next(op)
    # A 2xx whose body is cut short, but names the job: it exists.
    wait = op.send(ApiResponse(200, {}, b'{"id": "j0", "status": "IN_QU'))
    assert isinstance(wait, Send) and wait.request.job_id == "j0"
    assert run.journal is not None
    entry = run.journal.entry(0)
    assert entry is not None and entry.phase is Phase.ACCEPTED


def test_backoff_of_a_very_long_wait_does_not_overflow() -> None:
    # A wait polling /status for hours reaches poll number 1,700+ (found by a batch test).
    assert 0 < jittered_backoff(5000, 0.2, 1.5, 5.0, 0.2, lambda: 0.5) <= 5.0
