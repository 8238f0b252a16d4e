"""A job the batch cancels on a stop whose wait sees the cancel first: the item's long-poll
returns CANCELLED (the batch's own cancel) before the cancel's reply arrives. The job must
still be recorded as withdrawn, so a resumed batch runs its input again instead of
reporting the CANCELLED outcome the batch itself caused."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from runpod_facade import BatchItem, JobCancelled, PollPolicy, RetryPolicy
from runpod_facade._batches.item import Work, cancel_job
from runpod_facade._batches.journal import Journal, Phase
from runpod_facade._batches.run import BatchRun
from runpod_facade._core.effects import Send
from runpod_facade._core.engine import EndpointCore
from runpod_facade._transports.base import ApiResponse
from runpod_facade._wire.requests import encode_job


def make_run(tmp_path: Path) -> BatchRun:
    core = EndpointCore("ep-1", retry=RetryPolicy(max_retries=0), poll=PollPolicy())
    return BatchRun(
        core,
        concurrency=4,
        deadline=core.deadline(None),
        retry_failed=0,
        journal=Journal(tmp_path / "j", "ep-1"),
        cancel_on_interrupt=True,
        replay=True,
    )


def reply(**body: Any) -> ApiResponse:
    return ApiResponse(200, {}, json.dumps(body).encode())


def test_a_job_whose_wait_sees_the_batchs_own_cancel_first_is_withdrawn(
    tmp_path: Path,
) -> None:
    run = make_run(tmp_path)
    taken = run.take(encode_job({"n": 0}))
    assert isinstance(taken, Work)
    op = run.operation(taken)
    next(op)  # the submit
    wait = op.send(reply(id="j0", status="IN_PROGRESS"))
    assert isinstance(wait, Send) and wait.request.operation == "status-sync"
    # Ctrl-C: the batch stops and is to cancel j0, whose long-poll is in flight.
    assert run.begin_stop(cancel=True) == ["j0"]
    # The cancel lands; the long-poll answers first, with the CANCELLED it caused.
    with pytest.raises(StopIteration) as done:
        op.send(reply(id="j0", status="CANCELLED"))
    item = done.value.value
    assert isinstance(item, BatchItem) and isinstance(item.error, JobCancelled)
    # ... then the cancel's own reply (the scheduler's cancel of j0).
    cancel = cancel_job(run, "j0")
    request = next(cancel)
    assert isinstance(request, Send) and request.request.operation == "cancel"
    with pytest.raises(StopIteration):
        cancel.send(reply(id="j0", status="CANCELLED"))

    report = run.report()
    assert report.cancelled == ("j0",) and report.left_running == ()
    assert run.journal is not None
    entry = run.journal.entry(0)
    assert entry is not None and entry.phase is Phase.WITHDRAWN, entry
    run.close()

    # A resumed batch runs the input again (after checking the job did not end otherwise).
    resumed = make_run(tmp_path)
    again = resumed.take(encode_job({"n": 0}))
    assert isinstance(again, Work) and again.withdrawn and again.job_id == "j0"
    resumed.close()
