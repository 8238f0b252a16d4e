"""``ep.map(inputs, via="batch-api")`` against the local endpoint, through real sockets: the
inputs cut into batches, ids journaled before finalize, results per input; and a run cut at
each step where a reply can be lost, then rerun: nothing created twice (the server's records
agree) and every input's result handed out."""

from __future__ import annotations

import asyncio
import inspect
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import pytest

from runpod_facade import (
    AsyncEndpoint,
    BatchJournalError,
    Endpoint,
    ExecutionPolicy,
    InvalidInputError,
    RunpodError,
    S3Config,
)
from runpod_facade._batches.plan import PerJob
from runpod_facade._batchjobs._journal import APPLICATION_ID
from runpod_facade._batchjobs._mapper import BatchApiResults
from runpod_facade._batchjobs._sync import Batches
from runpod_facade._transports.wakeup import WAKE_EVERY
from runpod_facade.local import LocalEndpoint
from tests._support.handlers import dispatch
from tests._support.lost_wakeup import seconds_to_act_on_ctrl_c

COUNT = 11
SIZE = 4  # batches of 4, 4, 3


class Killed(BaseException):
    """Stands for SIGKILL at one step: nothing in the run catches it."""


@pytest.fixture
def local() -> Iterator[LocalEndpoint]:
    with LocalEndpoint(dispatch, workers=2) as ep:
        yield ep


@pytest.fixture
def ep(local: LocalEndpoint) -> Iterator[Endpoint]:
    with Endpoint(local.endpoint_id, base_url=local.base_url, api_key=local.api_key) as client:
        yield client


def _inputs() -> list[dict[str, Any]]:
    return [{"n": i, "pad": "x" * 40} for i in range(COUNT)]


def _server_records(local: LocalEndpoint) -> tuple[int, list[Any]]:
    created = local.app.batches.store.created
    return (
        sum(1 for c in created if c.request_id is None),
        sorted(c.input["n"] for c in created if c.request_id is not None),
    )


def _run(ep: Endpoint, journal: Path, **extra: Any) -> BatchApiResults:
    # Calls of at most 3 requests (by bytes), so that every batch needs an append.
    return BatchApiResults(
        ep.batches,
        _inputs(),
        endpoint_id=ep.endpoint_id,
        journal=str(journal),
        batch_size=SIZE,
        max_call_bytes=3 * 70,
        interval=0.05,
        **extra,
    )


def test_map_via_batch_api(ep: Endpoint, local: LocalEndpoint, tmp_path: Path) -> None:
    inputs = [{"n": n} for n in range(9)]
    inputs[5] = {"task": "fail", "message": "row 5 is bad"}
    with ep.map(iter(inputs), via="batch-api", batch_size=4) as results:
        items = sorted(results, key=lambda item: item.index)
        assert results.stats.batches_created == 3 and results.stats.requests_created == 9
    assert [i.index for i in items] == list(range(9))
    assert [i.output for i in items if i.ok] == [inputs[n] for n in (0, 1, 2, 3, 4, 6, 7, 8)]
    assert not items[5].ok and "row 5 is bad" in (items[5].error or "")
    assert len({i.batch_id for i in items}) == 3
    created = local.app.batches.store.created
    assert sum(1 for c in created if c.request_id is None) == 3
    assert {c.request_id for c in created if c.request_id} == {i.request_id for i in items}


def test_journal_then_replay(ep: Endpoint, local: LocalEndpoint, tmp_path: Path) -> None:
    journal = tmp_path / "run.journal"
    with _run(ep, journal) as first:
        done = sorted(item.index for item in first)
    assert done == list(range(COUNT))
    with _run(ep, journal) as again:
        replayed = list(again)
    assert all(item.resumed for item in replayed)
    assert sorted((i.index, i.output["n"]) for i in replayed) == [(n, n) for n in range(COUNT)]
    with _run(ep, journal, replay=False) as quiet:
        assert list(quiet) == []
    assert _server_records(local) == (3, list(range(COUNT)))
    db = sqlite3.connect(journal)
    assert db.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
    assert db.execute("PRAGMA user_version").fetchone()[0] == 1
    assert db.execute("SELECT count(*) FROM requests").fetchone()[0] == COUNT
    db.close()


def _after(method: str) -> Callable[..., Any]:
    real = getattr(Batches, method)

    def cut(self: Batches, *args: Any, **kwargs: Any) -> Any:
        real(self, *args, **kwargs)  # the server applied it; its reply is lost
        raise Killed(method)

    return cut


def _before(method: str) -> Callable[..., Any]:
    def cut(self: Batches, *args: Any, **kwargs: Any) -> Any:
        raise Killed(method)  # the call never left

    return cut


@pytest.mark.parametrize(
    ("method", "cut"),
    [
        ("create_encoded", _after),
        ("create_encoded", _before),
        ("add_encoded", _after),
        ("add_encoded", _before),
        ("finalize", _after),
        ("finalize", _before),
        ("results", _before),
    ],
)
def test_a_run_cut_at_each_step_resumes_without_duplicates(
    ep: Endpoint,
    local: LocalEndpoint,
    tmp_path: Path,
    method: str,
    cut: Callable[[str], Callable[..., Any]],
) -> None:
    journal = tmp_path / "run.journal"
    seen: list[int] = []
    with (
        mock.patch.object(Batches, method, cut(method)),
        _run(ep, journal) as doomed,
        pytest.raises(Killed),
    ):
        seen.extend(item.index for item in doomed)
    with _run(ep, journal, replay=False) as resumed:
        seen.extend(item.index for item in resumed)
    assert sorted(set(seen)) == list(range(COUNT))
    batches, requests = _server_records(local)
    assert (batches, requests) == (3, list(range(COUNT)))


def test_a_consumer_that_stops_mid_batch_gets_that_batch_again(
    ep: Endpoint, local: LocalEndpoint, tmp_path: Path
) -> None:
    journal = tmp_path / "run.journal"
    with _run(ep, journal) as first:
        head = [next(first).index, next(first).index]
    with _run(ep, journal, replay=False) as second:
        rest = [item.index for item in second]
    assert set(head) <= set(rest) and sorted(rest) == list(range(COUNT))
    assert _server_records(local) == (3, list(range(COUNT)))


@pytest.mark.misuse("journal")
@pytest.mark.parametrize(
    ("prepare", "fragment"),
    [
        (lambda p: p.write_bytes(b"not a database at all" * 100), "not a usable journal"),
        (lambda p: sqlite3.connect(p).execute("CREATE TABLE t (x)").close(), "not a batch-jobs"),
        ("other-endpoint", "journal of endpoint other"),
        ("other-inputs", "differ from those the journal"),
    ],
)
def test_a_journal_of_something_else_is_refused(
    ep: Endpoint, local: LocalEndpoint, tmp_path: Path, prepare: Any, fragment: str
) -> None:
    journal = tmp_path / "run.journal"
    if prepare == "other-endpoint":
        with Endpoint("other", base_url=local.base_url, api_key=local.api_key) as other:
            list(_run(other, journal))
    elif prepare == "other-inputs":
        list(_run(ep, journal))
    else:
        prepare(journal)
    before = _server_records(local)
    with pytest.raises(BatchJournalError, match=fragment):
        if prepare == "other-inputs":
            list(
                BatchApiResults(
                    ep.batches, [{"n": 99}], endpoint_id=ep.endpoint_id, journal=str(journal)
                )
            )
        else:
            list(_run(ep, journal))
    assert _server_records(local) == before  # refused before anything was created


@pytest.mark.misuse("argument")
@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"batch_size": 5001}, "batch_size"),
        ({"batch_size": 0}, "batch_size"),
        ({"concurrency": 4}, "concurrency cannot be used"),
        ({"retry_failed": 1, "cancel_on_interrupt": True}, "cancel_on_interrupt, retry_failed"),
        ({"timeout": -1}, "timeout"),
    ],
)
def test_map_arguments_checked_before_sending(
    ep: Endpoint, local: LocalEndpoint, kwargs: dict[str, Any], fragment: str
) -> None:
    with pytest.raises(InvalidInputError, match=fragment):
        ep.map([1, 2], via="batch-api", **kwargs)
    with pytest.raises(InvalidInputError, match="via must be"):
        ep.map([1], via="batch")  # type: ignore[call-overload]
    assert local.requests == []


# Each option of job-by-job mapping, set, is refused by name with the same message by both
# endpoints; left at its default (passed explicitly or not) it is not.
@pytest.mark.misuse("argument")
@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("concurrency", 4),
        ("retry_failed", 1),
        ("policy", ExecutionPolicy(ttl=600)),
        ("webhook", "https://example.com/hook"),
        ("s3_config", S3Config("a", "b", "c", "https://s3.example.com")),
        ("cancel_on_interrupt", True),
    ],
)
async def test_each_job_by_job_option_is_refused_by_name_with_via_batch_api(
    ep: Endpoint, local: LocalEndpoint, name: str, value: object
) -> None:
    message = f"{name} cannot be used with via='batch-api' (RunPod runs the batch)"
    with pytest.raises(InvalidInputError) as sync_error:
        ep.map([1], via="batch-api", **{name: value})  # type: ignore[call-overload]
    async with AsyncEndpoint(
        local.endpoint_id, base_url=local.base_url, api_key=local.api_key
    ) as aep:
        with pytest.raises(InvalidInputError) as async_error:
            aep.map([1], via="batch-api", **{name: value})  # type: ignore[call-overload]
    assert str(sync_error.value) == str(async_error.value) == message
    assert local.requests == []


@pytest.mark.parametrize(
    "method", [Endpoint.map, AsyncEndpoint.map, Endpoint.run_many, AsyncEndpoint.run_many]
)
def test_the_signatures_show_the_defaults_that_decide_what_was_set(method: Any) -> None:
    parameters = inspect.signature(method).parameters
    shown = {name: parameters[name].default for name in PerJob._fields}
    assert shown == PerJob()._asdict()  # values, though the source names the constants
    assert shown["concurrency"] == 16 and shown["retry_failed"] == 0


def test_job_by_job_options_left_at_their_defaults_are_accepted_with_via_batch_api(
    ep: Endpoint, local: LocalEndpoint
) -> None:
    defaults = PerJob()._asdict()
    with ep.map([], via="batch-api", **defaults) as results:  # type: ignore[call-overload]
        assert list(results) == []
    assert local.requests == []


# Checked for via="jobs", but not by map_via (_batchjobs/_mapper.py), though map's docstring
# says every argument is checked at once with InvalidInputError. Not marked misuse: the
# reliability report must not count a case known to fail.
@pytest.mark.misuse("argument")
@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"journal": 42}, "journal must be a file path"),
        ({"replay": "yes"}, "replay must be True or False"),
        ({"timeout": float("nan")}, "finite"),
        ({"timeout": float("inf")}, "finite"),
        ({"timeout": -1}, "must not be negative"),
    ],
)
def test_map_via_batch_api_checks_what_map_via_jobs_checks(
    ep: Endpoint, local: LocalEndpoint, kwargs: dict[str, Any], fragment: str
) -> None:
    with pytest.raises(InvalidInputError, match=fragment):
        ep.map([1], **kwargs)  # the same argument is refused job by job ...
    with pytest.raises(InvalidInputError, match=fragment):
        ep.map([1, 2], via="batch-api", **kwargs)  # ... and should be here
    assert local.requests == []


@pytest.mark.misuse("argument")
def test_batch_size_without_via_batch_api_is_refused_naming_batch_size(
    ep: Endpoint, local: LocalEndpoint
) -> None:
    with pytest.raises(InvalidInputError, match="batch_size"):
        ep.map([1, 2], batch_size=10)
    with pytest.raises(InvalidInputError, match="batch_size applies only with via='batch-api'"):
        ep.map([1, 2], via="jobs", batch_size=10)
    assert local.requests == []


async def test_async_map_via_batch_api(local: LocalEndpoint, tmp_path: Path) -> None:
    journal = tmp_path / "async.journal"
    async with AsyncEndpoint(
        local.endpoint_id, base_url=local.base_url, api_key=local.api_key
    ) as aep:
        async with aep.map(_inputs(), via="batch-api", batch_size=SIZE, journal=journal) as run:
            items = [item async for item in run]
            assert run.stats.batches_created == 3
        assert sorted((i.index, i.output["n"]) for i in items) == [(n, n) for n in range(COUNT)]
        async with aep.map(_inputs(), via="batch-api", batch_size=SIZE, journal=journal) as again:
            assert all([item.resumed async for item in again])
        with pytest.raises(InvalidInputError, match="async one"):
            aep.map(_agen(), via="batch-api")
    assert _server_records(local) == (3, list(range(COUNT)))


def test_ctrl_c_under_asyncio_run_stops_a_batch_api_map_at_once(
    local: LocalEndpoint, tmp_path: Path
) -> None:
    """The asyncio map's steps run on a worker thread, and while one polls the batch (4 s of
    work here) the main loop waits on that thread alone: a Ctrl-C whose wake-up was lost (see
    ``_transports.wakeup``) was acted on only when the step ended. Acted on, it also stops
    the step at its next pause, or asyncio.run's shutdown would wait for the batch."""

    def finalized() -> bool:
        return any(r.operation == "batch-finalize" for r in local.requests)

    async def main(press: Callable[[], None]) -> None:
        async with AsyncEndpoint(
            local.endpoint_id, base_url=local.base_url, api_key=local.api_key
        ) as aep:
            inputs = [{"task": "sleep", "seconds": 4}]
            async with aep.map(inputs, via="batch-api", journal=tmp_path / "j") as run:
                press()
                async for _ in run:
                    raise AssertionError("the batch ended before Ctrl-C")

    late = seconds_to_act_on_ctrl_c(main, finalized)
    assert late < WAKE_EVERY + 1.5, f"Ctrl-C acted on {late:.2f} s after it was pressed"


async def test_a_cancelled_step_stops_and_the_journal_resumes_the_run(
    local: LocalEndpoint, tmp_path: Path
) -> None:
    """Cancelling the task stops the step polling on its thread at once (it is not left to
    run on until the batch ends); the run hands out nothing more, and says why, and a rerun
    with the journal picks the finalized batch up by id and creates nothing."""
    journal = tmp_path / "j"
    inputs = [{"task": "sleep", "seconds": 1.5, "n": 0}]
    async with AsyncEndpoint(
        local.endpoint_id, base_url=local.base_url, api_key=local.api_key
    ) as aep:
        async with aep.map(inputs, via="batch-api", journal=journal) as run:
            task = asyncio.create_task(anext(run))
            while not any(r.operation == "batch-finalize" for r in local.requests):
                await asyncio.sleep(0.01)
            await asyncio.sleep(0.2)  # the step pauses between polls now
            cancelled = time.monotonic()
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert time.monotonic() - cancelled < 0.5  # not the batch's 1.5 s
            with pytest.raises(RunpodError, match="same journal"):
                await anext(run)
        async with aep.map(inputs, via="batch-api", journal=journal) as again:
            items = [item async for item in again]
            assert again.stats.batches_created == 0
    assert [(i.index, i.ok) for i in items] == [(0, True)]
    assert _server_records(local) == (1, [0])


async def _agen() -> Any:
    yield 1
