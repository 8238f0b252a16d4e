"""Batches against the real local endpoint over loopback sockets: run_many's fail-fast with
real ``/runsync`` holds, the requests each submit mode costs, a result past retention, and the
journal's lock held across processes."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from runpod_facade import (
    AsyncEndpoint,
    Endpoint,
    JobFailed,
    NotFoundError,
    PollPolicy,
    RetryPolicy,
)
from runpod_facade.local import Fault, LocalEndpoint

FAST_RETRY = RetryPolicy(max_retries=3, initial_delay=0.01, max_delay=0.05)
FAST_POLL = PollPolicy(initial=0.02, maximum=0.1)


class Handler:
    """``{"sleep": s}`` blocks until the test releases it (or ``s`` seconds pass, then it
    records that it ran to its end); ``{"fail": k}`` raises once ``k`` jobs have started;
    anything else is echoed."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.ended: list[Any] = []
        self.started = 0
        self.lock = threading.Condition()

    def __call__(self, job: dict[str, Any]) -> Any:
        data = job["input"]
        with self.lock:
            self.started += 1
            self.lock.notify_all()
        if "fail" in data:
            # Fail once every job of the batch is running: the slow ones' /runsync replies
            # (held 1 s) are then certainly still on their way.
            with self.lock:
                self.lock.wait_for(lambda: self.started >= int(data["fail"]), timeout=5)
            raise ValueError("failing on purpose")
        if "sleep" in data:
            if not self.release.wait(float(data["sleep"])):
                with self.lock:
                    self.ended.append(job["id"])
            return {"slept": data["sleep"]}
        return data


@pytest.fixture
def handler() -> Iterator[Handler]:
    h = Handler()
    yield h
    h.release.set()


@pytest.fixture
def local(handler: Handler) -> Iterator[LocalEndpoint]:
    with LocalEndpoint(handler, workers=8, run_retention_s=1.0) as ep:
        yield ep


def connect(local: LocalEndpoint) -> Endpoint:
    return Endpoint(
        local.endpoint_id,
        base_url=local.base_url,
        api_key=local.api_key,
        retry_policy=FAST_RETRY,
        poll_policy=FAST_POLL,
    )


def connect_async(local: LocalEndpoint) -> AsyncEndpoint:
    return AsyncEndpoint(
        local.endpoint_id,
        base_url=local.base_url,
        api_key=local.api_key,
        retry_policy=FAST_RETRY,
        poll_policy=FAST_POLL,
    )


SLOW_FAIL_SLOW = [{"sleep": 3}, {"fail": 3}, {"sleep": 3}]


def check_fail_fast(local: LocalEndpoint, handler: Handler, error: JobFailed) -> None:
    # run_many returned while both slow jobs were still running (neither handler had
    # reached its 3 s end) ...
    assert handler.ended == []
    # ... after cancelling them on the server, though their /runsync replies (and ids)
    # arrived only after the failure: held for the server's 1 s minimum.
    slow = [
        r.job_id for r in local.requests if r.operation == "runsync" and r.job_id != error.job_id
    ]
    cancelled = [r.job_id for r in local.requests if r.operation == "cancel"]
    assert len(slow) == 2 and sorted(cancelled) == sorted(slow)
    with connect(local) as ep:
        assert {str(ep.status(job_id).status) for job_id in slow} == {"CANCELLED"}
    notes = "\n".join(error.__notes__)
    assert all(job_id in notes for job_id in slow)
    assert [r.operation for r in local.requests].count("runsync") == 3


def test_sync_run_many_fails_fast_and_cancels_the_slow_jobs(
    local: LocalEndpoint, handler: Handler
) -> None:
    with connect(local) as ep, pytest.raises(JobFailed) as info:
        ep.run_many(SLOW_FAIL_SLOW)
    check_fail_fast(local, handler, info.value)


async def test_async_run_many_fails_fast_and_cancels_the_slow_jobs(
    local: LocalEndpoint, handler: Handler
) -> None:
    async with connect_async(local) as ep:
        with pytest.raises(JobFailed) as info:
            await ep.run_many(SLOW_FAIL_SLOW)
    await asyncio.to_thread(check_fail_fast, local, handler, info.value)


def test_return_exceptions_lets_the_slow_jobs_finish(
    local: LocalEndpoint, handler: Handler
) -> None:
    threading.Timer(0.2, handler.release.set).start()
    with connect(local) as ep:
        results = ep.run_many(SLOW_FAIL_SLOW, return_exceptions=True)
    assert [type(r).__name__ for r in results] == ["JobState", "JobFailed", "JobState"]
    assert not any(r.operation == "cancel" for r in local.requests)


def test_requests_per_job_of_each_submit_mode(local: LocalEndpoint, tmp_path: Path) -> None:
    with connect(local) as ep:
        assert all(item.ok for item in ep.map({"n": n} for n in range(20)))
        runsync = [r.operation for r in local.requests]
        local.clear_requests()
        items = list(ep.map(({"n": n} for n in range(20)), journal=tmp_path / "j"))
        assert all(item.ok for item in items)
        run = [r.operation for r in local.requests]
    # A job that ends within the 1 s hold: one /runsync. With a journal: /run, then a wait.
    assert runsync == ["runsync"] * 20
    assert run.count("run") == 20 and run.count("status-sync") >= 20
    assert "runsync" not in run


def test_a_result_past_retention_is_reported_not_rerun(
    local: LocalEndpoint, handler: Handler, tmp_path: Path
) -> None:
    journal = tmp_path / "j"
    with connect(local) as ep:
        results = ep.map([{"echo": 0}, {"sleep": 30}], concurrency=2, journal=journal)
        assert next(results).index == 0
        # On a loaded machine the slow job's submit may not have left yet: close() submits
        # nothing more, so wait until the server has it (close() waits for its reply).
        for _ in range(400):
            if sum(r.operation == "run" for r in local.requests) == 2:
                break
            time.sleep(0.01)
        report = results.close()  # the slow job is left running, its id journaled
        (job_id,) = report.left_running
        handler.release.set()
        # The job ends, and its result is dropped after the endpoint's 1 s retention.
        ep.wait(job_id, timeout=10)
        for _ in range(200):
            try:
                ep.status(job_id)
            except NotFoundError:
                break
            threading.Event().wait(0.05)
        local.clear_requests()
        items = {item.index: item for item in ep.map([{"echo": 0}, {"sleep": 30}], journal=journal)}
    lost = items[1].error
    assert isinstance(lost, NotFoundError) and lost.job_id == job_id and items[1].final
    assert items[0].resumed and items[0].ok
    assert not any(r.operation in ("run", "runsync") for r in local.requests)


def test_the_journal_is_locked_against_another_process(
    local: LocalEndpoint, tmp_path: Path
) -> None:
    journal = tmp_path / "j"
    probe = (
        "import sys\n"
        "from runpod_facade import JournalError\n"
        "from runpod_facade._batches.journal import Journal\n"
        "try:\n"
        f"    Journal({str(journal)!r}, {local.endpoint_id!r})\n"
        "except JournalError as exc:\n"
        "    print(exc); sys.exit(3)\n"
    )
    with connect(local) as ep:
        results = ep.map([{"n": 0}], journal=journal)
        busy = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
        assert busy.returncode == 3 and "in use by another batch run" in busy.stdout
        assert len(list(results)) == 1
    free = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert free.returncode == 0, free.stdout + free.stderr


#: how the batch is stopped -> the StopReport field that lists the jobs it left.
STOPS: dict[str, tuple[bool, bool, str]] = {
    "left running": (False, False, "left_running"),
    "cancelled": (True, False, "cancelled"),
    "cancel failed": (True, True, "cancel_failed"),
}
STOPS_FIELDS = ("left_running", "cancelled", "cancel_failed")


@pytest.mark.parametrize("stop", list(STOPS))
def test_a_stopped_batch_reports_the_jobs_it_left_in_input_order(stop: str) -> None:
    cancel, cancel_fails, field = STOPS[stop]
    ids: dict[int, str] = {}
    release = threading.Event()

    def blocking(job: dict[str, Any]) -> Any:
        ids[job["input"]["i"]] = job["id"]
        if job["input"]["i"]:
            release.wait(10)
        return job["input"]

    with LocalEndpoint(blocking, workers=8) as local, connect(local) as ep:
        try:
            # cancel_on_interrupt: submitted with /run, so every id is known at once.
            results = ep.map([{"i": i} for i in range(6)], concurrency=6, cancel_on_interrupt=True)
            assert next(results).index == 0
            while results.stats.running < 5:
                time.sleep(0.01)
            if cancel_fails:
                local.faults.add(Fault("cancel", "http_error", status=400, times=None))
            report = results.close(cancel=cancel)
        finally:
            release.set()
    left = tuple(ids[i] for i in range(1, 6))
    assert {name: getattr(report, name) for name in STOPS_FIELDS} == {
        name: left if name == field else () for name in STOPS_FIELDS
    }
    assert report.unnamed_submits == 0
