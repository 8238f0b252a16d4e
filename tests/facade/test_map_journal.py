"""map with a journal over a scripted job server: resume (replayed, reattached, submitted),
possibly duplicated submits, refusals, forgotten results, withdrawn jobs, and guards against
another batch, another endpoint, or a second run on the same file."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from runpod_facade import (
    APIConnectionError,
    BadRequestError,
    BatchItem,
    BatchTimeout,
    InvalidInputError,
    JournalError,
    NotFoundError,
    RetryPolicy,
    WaitTimeout,
)

from .mapfake import FakeJobs, completes


def numbered(count: int, start: int = 0) -> Iterator[dict[str, int]]:
    for n in range(start, start + count):
        yield {"n": n}


def by_index(items: list[BatchItem]) -> dict[int, BatchItem]:
    out = {item.index: item for item in items}
    assert len(out) == len(items), "an index was yielded twice"
    return out


def end_when_waited(fake: FakeJobs, *numbers: int) -> None:
    def end() -> None:
        fake.wait_until(lambda f: f.waiting_on(*(f"j{n}" for n in numbers)))
        for n in numbers:
            fake.finish(n)

    threading.Thread(target=end, daemon=True).start()


def test_resume_replays_reattaches_and_submits_only_what_was_never_sent(tmp_path: Path) -> None:
    journal = tmp_path / "batch.journal"
    fake = FakeJobs()
    with fake.endpoint() as ep:
        # Run 1: j0 and j1 end and are yielded; j2 and j3 (read when j0's slot freed) are
        # accepted and left running; input 4 is never read.
        results = ep.map(numbered(5), concurrency=3, journal=journal)
        end_when_waited(fake, 0, 1)
        first = [next(results), next(results)]
        fake.wait_until(lambda f: f.waiting_on("j2", "j3"))
        report = results.close()
        assert report.left_running == ("j2", "j3")
        assert sorted(i.index for i in first) == [0, 1]
        assert sorted(fake.ops("run")) == ["j0", "j1", "j2", "j3"]  # a journal uses /run
        fake.finish(2)
        fake.finish(3)

        fake.log.clear()
        resumed = ep.map(numbered(5), concurrency=3, journal=journal)
        end_when_waited(fake, 4)
        items = by_index(list(resumed))
    assert sorted(items) == [0, 1, 2, 3, 4]
    assert items[0].resumed and items[1].resumed and items[0].output == 0
    assert not items[2].resumed and items[2].job_id == "j2" and items[2].ok
    assert all(i.ok and not i.possibly_duplicated for i in items.values())
    # Nothing was run twice: j2 and j3 were waited for by id, only input 4 was submitted.
    assert fake.ops("run") == ["j4"]
    assert "j0" not in fake.ops("status-sync") and "j3" in fake.ops("status-sync")
    stats = resumed.stats
    assert (stats.resumed, stats.reattached, stats.submitted, stats.yielded) == (2, 2, 1, 5)


def test_replay_false_yields_only_what_is_new(tmp_path: Path) -> None:
    journal = tmp_path / "j"
    fake = FakeJobs(auto=completes)
    with fake.endpoint() as ep:
        assert len(list(ep.map(numbered(3), journal=journal))) == 3
        fake.log.clear()
        assert list(ep.map(numbered(3), journal=journal, replay=False)) == []
        assert fake.log == []
        again = by_index(list(ep.map(numbered(3), journal=journal)))
    assert all(item.resumed and item.ok for item in again.values())
    assert [again[n].output for n in range(3)] == [0, 1, 2]
    assert fake.log == []


def test_a_submit_of_unknown_fate_is_resent_and_flagged(tmp_path: Path) -> None:
    journal = tmp_path / "j"
    fake = FakeJobs(auto=completes)
    fake.submit_failures[1] = httpx.ReadTimeout("the reply was lost")
    with fake.endpoint() as ep:
        first = by_index(list(ep.map(numbered(3), journal=journal)))
        assert isinstance(first[1].error, APIConnectionError) and not first[1].final
        second = ep.map(numbered(3), journal=journal)
        items = by_index(list(second))
        assert items[1].ok and items[1].possibly_duplicated and not items[1].resumed
        assert second.stats.possibly_duplicated == 1
        # The flag stays with the item in later replays.
        third = by_index(list(ep.map(numbered(3), journal=journal)))
    assert third[1].resumed and third[1].possibly_duplicated
    assert not third[0].possibly_duplicated


def test_a_submit_that_provably_never_left_is_not_flagged(tmp_path: Path) -> None:
    journal = tmp_path / "j"
    fake = FakeJobs(auto=completes)
    fake.submit_failures[1] = httpx.ConnectError("connection refused")
    with fake.endpoint(retry_policy=RetryPolicy(max_retries=0)) as ep:
        first = by_index(list(ep.map(numbered(2), journal=journal)))
        error = first[1].error
        assert isinstance(error, APIConnectionError) and not error.request_sent
        items = by_index(list(ep.map(numbered(2), journal=journal)))
    assert items[1].ok and not items[1].possibly_duplicated


def test_a_refused_input_is_final_and_not_sent_again(tmp_path: Path) -> None:
    journal = tmp_path / "j"
    fake = FakeJobs(auto=completes)
    fake.submit_refusals[0] = 400
    with fake.endpoint() as ep:
        assert isinstance(
            by_index(list(ep.map(numbered(2), journal=journal)))[0].error, BadRequestError
        )
        fake.log.clear()
        items = by_index(list(ep.map(numbered(2), journal=journal)))
    assert isinstance(items[0].error, BadRequestError) and items[0].resumed
    assert "refused input 0" in str(items[0].error)
    assert fake.log == []


def test_an_input_that_cannot_be_sent_is_never_journaled_and_reported_by_every_run(
    tmp_path: Path,
) -> None:
    # Endpoint.map: "such an input is never journaled, so every run reports it again".
    journal = tmp_path / "j"
    inputs = [{"n": 0}, {"n": {1, 2}}, {"n": 2}]  # a set is not JSON
    fake = FakeJobs(auto=completes)
    with fake.endpoint() as ep:
        runs = [by_index(list(ep.map(inputs, journal=journal)))]
        fake.log.clear()
        runs.append(by_index(list(ep.map(inputs, journal=journal))))
    for items in runs:
        assert isinstance(items[1].error, InvalidInputError) and items[1].job_id is None
        assert not items[1].resumed and items[1].final
    assert [runs[1][i].resumed for i in (0, 2)] == [True, True]
    assert fake.log == []  # the second run sent nothing: the others came from the journal


def test_a_result_past_retention_is_reported_with_its_job_id(tmp_path: Path) -> None:
    journal = tmp_path / "j"
    fake = FakeJobs()
    with fake.endpoint() as ep:
        results = ep.map(numbered(2), concurrency=2, journal=journal)
        end_when_waited(fake, 0)
        next(results)
        fake.wait_until(lambda f: f.waiting_on("j1"))
        results.close()
        fake.finish(1)
        fake.forget(1)  # ... and the server no longer keeps it
        items = by_index(list(ep.map(numbered(2), journal=journal)))
        lost = items[1].error
        assert isinstance(lost, NotFoundError) and lost.job_id == "j1" and items[1].final
        assert "past retention" in str(lost)
        assert sorted(fake.ops("run")) == ["j0", "j1"]  # it is not run again
        replayed = by_index(list(ep.map(numbered(2), journal=journal)))[1]
    assert replayed.resumed and isinstance(replayed.error, NotFoundError)
    assert replayed.job_id == "j1"


def test_jobs_cancelled_by_a_stop_are_run_again_on_resume(tmp_path: Path) -> None:
    journal = tmp_path / "j"
    fake = FakeJobs()
    with fake.endpoint() as ep:
        results = ep.map(numbered(3), concurrency=3, journal=journal)
        end_when_waited(fake, 0)
        next(results)
        fake.wait_until(lambda f: f.waiting_on("j1", "j2"))
        report = results.close(cancel=True)
        assert sorted(report.cancelled) == ["j1", "j2"]
        fake.log.clear()
        rerun = ep.map(numbered(3), concurrency=3, journal=journal)
        end_when_waited(fake, 1, 2)
        # The reruns are new jobs j1.1 / j2.1; finish them as they come.
        threading.Thread(
            target=lambda: (
                fake.wait_until(lambda f: "j1.1" in f.jobs and "j2.1" in f.jobs),
                fake.finish(1),
                fake.finish(2),
            ),
            daemon=True,
        ).start()
        items = by_index(list(rerun))
    assert items[0].resumed
    assert items[1].ok and items[1].job_id == "j1.1" and not items[1].possibly_duplicated
    assert items[2].ok and items[2].job_id == "j2.1"


def test_a_job_that_ended_as_the_batch_stopped_is_not_run_again(tmp_path: Path) -> None:
    journal = tmp_path / "j"
    fake = FakeJobs()
    with fake.endpoint() as ep:
        results = ep.map(numbered(2), concurrency=2, journal=journal)
        end_when_waited(fake, 0)
        next(results)
        fake.wait_until(lambda f: f.waiting_on("j1"))
        fake.finish(1)  # ends on the server, and is cancelled (too late) by the stop
        results.close(cancel=True)
        fake.log.clear()
        items = by_index(list(ep.map(numbered(2), journal=journal)))
    assert items[1].ok and items[1].job_id == "j1"
    assert fake.ops("run") == []


def test_waits_cut_by_the_deadline_are_reattached_on_resume(tmp_path: Path) -> None:
    journal = tmp_path / "j"
    fake = FakeJobs()
    with fake.endpoint() as ep:
        timed_out: list[BatchItem] = []
        with pytest.raises(BatchTimeout):
            timed_out.extend(ep.map(numbered(4), concurrency=2, timeout=0.3, journal=journal))
        assert all(isinstance(i.error, WaitTimeout) and not i.final for i in timed_out)
        for n in (0, 1):
            fake.finish(n)
        fake.log.clear()
        end_when_waited(fake, 2, 3)
        items = by_index(list(ep.map(numbered(4), concurrency=2, journal=journal)))
    assert all(item.ok for item in items.values())
    assert sorted(j for j in fake.ops("run") if j) == ["j2", "j3"]


def test_another_batch_is_refused_before_anything_is_sent(tmp_path: Path) -> None:
    journal = tmp_path / "j"
    fake = FakeJobs(auto=completes)
    with fake.endpoint() as ep:
        list(ep.map(numbered(3), journal=journal))
        fake.log.clear()
        with pytest.raises(JournalError, match="input 0 is not the input") as other:
            list(ep.map(numbered(3, start=10), journal=journal))
        assert fake.log == []
        # Other job options are another batch too.
        with pytest.raises(JournalError, match="input 0") as options:
            list(ep.map(numbered(3), journal=journal, webhook="https://example.com/hook"))
        # A shorter batch is told at the end, once its inputs ran out.
        with pytest.raises(JournalError, match="longer batch") as shorter:
            list(ep.map(numbered(2), journal=journal))
        assert fake.log == []
        # The documented reason, for a caller that words its own advice.
        assert {e.value.reason for e in (other, options, shorter)} == {"other_batch"}


def test_a_journal_of_another_endpoint_is_refused(tmp_path: Path) -> None:
    journal = tmp_path / "j"
    fake = FakeJobs(auto=completes)
    with fake.endpoint() as ep:
        list(ep.map(numbered(1), journal=journal))
    with (
        FakeJobs(auto=completes).endpoint("ep-2") as ep,
        pytest.raises(JournalError, match="belongs to endpoint 'ep-1'"),
    ):
        ep.map(numbered(1), journal=journal)


def test_a_second_run_on_the_same_journal_is_refused(tmp_path: Path) -> None:
    journal = tmp_path / "j"
    fake = FakeJobs(auto=completes)
    with fake.endpoint() as ep:
        first = ep.map(numbered(3), journal=journal)
        with pytest.raises(JournalError, match="in use by another batch run"):
            ep.map(numbered(3), journal=journal)
        assert len(list(first)) == 3
        # Released when the first ends.
        assert len(list(ep.map(numbered(3), journal=journal))) == 3


def test_a_file_that_is_not_a_journal_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("not a database, just some text that is long enough " * 20)
    with FakeJobs().endpoint() as ep, pytest.raises(JournalError, match="not a batch journal"):
        ep.map(numbered(1), journal=path)


async def test_async_resume(tmp_path: Path) -> None:
    journal = tmp_path / "j"
    fake = FakeJobs(auto=completes)
    fake.submit_failures[2] = httpx.ReadTimeout("lost")
    async with fake.async_endpoint() as ep:
        first = {i.index: i async for i in ep.map(numbered(4), journal=journal)}
        assert not first[2].final
        fake.log.clear()
        items = {i.index: i async for i in ep.map(numbered(4), journal=journal)}
    assert [items[n].resumed for n in range(4)] == [True, True, False, True]
    assert items[2].ok and items[2].possibly_duplicated
    assert fake.ops("run") == ["j2"]


def test_breaking_out_of_a_for_loop_releases_the_journal_at_once(tmp_path: Path) -> None:
    journal = tmp_path / "j"
    fake = FakeJobs()
    with fake.endpoint() as ep:
        end_when_waited(fake, 0)
        for item in ep.map(numbered(10), concurrency=3, journal=journal):
            assert item.index == 0
            break
        # No close(), no with block: dropping the iterator stopped the batch, recorded the
        # ids in flight and released the journal.
        left = [n for n in range(1, 10) if f"j{n}" in fake.jobs]
        for n in left:
            fake.finish(n)
        fake.auto = completes
        fake.log.clear()
        items = by_index(list(ep.map(numbered(10), concurrency=3, journal=journal)))
    assert sorted(items) == list(range(10)) and all(i.ok for i in items.values())
    assert items[0].resumed
    # What the first run had submitted is waited for by id, not submitted again.
    assert {j for j in fake.ops("run") if j} == {f"j{n}" for n in range(1, 10) if n not in left}
