"""What ``map`` and ``run_many`` of both endpoints share: argument checks, opening the journal,
encoding inputs, and ``run_many``'s ordered, fail-fast collection over ``map``'s items."""

from __future__ import annotations

import os
from collections.abc import AsyncIterable, Callable, Iterable
from datetime import timedelta
from typing import TYPE_CHECKING, Any, NamedTuple

from .._core.engine import EndpointCore
from .._exceptions import InvalidInputError, RunpodError
from .._options import ExecutionPolicy, S3Config
from .._types import JobState
from .._validation import check_flag, check_retry_failed, optional_seconds
from .._wire.requests import JobBody, encode_job

if TYPE_CHECKING:  # the rest of the map machinery is imported by the first batch (cold import)
    from .run import BatchRun
    from .types import BatchItem, BatchTimeout, StopReport

__all__ = [
    "DEFAULT_CONCURRENCY",
    "DEFAULT_RETRY_FAILED",
    "Ordered",
    "PerJob",
    "fail_fast_notes",
    "plan_batch",
    "prepare_bodies",
]

#: ``map``'s and ``run_many``'s defaults, named by both endpoints' signatures.
DEFAULT_CONCURRENCY = 16
DEFAULT_RETRY_FAILED = 0


class PerJob(NamedTuple):
    """``map``'s and ``run_many``'s options that apply job by job, with their signatures'
    defaults; ``map(via="batch-api")`` refuses each one set (:meth:`given`)."""

    concurrency: int = DEFAULT_CONCURRENCY
    retry_failed: int = DEFAULT_RETRY_FAILED
    policy: ExecutionPolicy | None = None
    webhook: str | None = None
    s3_config: S3Config | None = None
    cancel_on_interrupt: bool = False

    def given(self) -> list[str]:
        """The names of the options set to other than their default, sorted."""
        return sorted(k for k, v in self._asdict().items() if v != self._field_defaults[k])


def _check_inputs(inputs: object, *, allow_async: bool = False) -> None:
    if isinstance(inputs, (str, bytes, dict)):
        raise InvalidInputError("inputs must be an iterable of inputs, one per job")
    if isinstance(inputs, Iterable) or (allow_async and isinstance(inputs, AsyncIterable)):
        return
    raise InvalidInputError(
        f"inputs must be an iterable of inputs, one per job, got {type(inputs).__name__}"
    )


def _encoder(options: PerJob) -> Callable[[Any], JobBody]:
    """A function encoding one input as its job's body (InvalidInputError if it cannot be
    sent: not JSON, or over ``/run``'s payload limit — the stricter of the two routes a
    batch submits by). The job options are checked here, once, before any input is read."""
    policy, webhook, s3_config = options.policy, options.webhook, options.s3_config
    encode_job(None, policy=policy, webhook=webhook, s3_config=s3_config)

    def encode(value: Any) -> JobBody:
        body = encode_job(value, policy=policy, webhook=webhook, s3_config=s3_config)
        body.check_fits("run")
        return body

    return encode


def check_batch_options(
    timeout: float | timedelta | None, journal: object, replay: object
) -> tuple[float | None, bool]:
    """The checks of ``map``'s options that apply whatever runs the batch (job by job, or
    RunPod's Batch Jobs API): the deadline in seconds, and ``replay``."""
    seconds = optional_seconds(timeout, "timeout")
    if journal is not None and not isinstance(journal, (str, os.PathLike)):
        raise InvalidInputError(f"journal must be a file path, got {type(journal).__name__}")
    return seconds, check_flag(replay, "replay")


def plan_batch(
    core: EndpointCore,
    inputs: Iterable[Any] | AsyncIterable[Any],
    options: PerJob,
    *,
    timeout: float | timedelta | None,
    journal: str | os.PathLike[str] | None,
    replay: bool,
    allow_async: bool = False,
) -> tuple[BatchRun, Callable[[Any], JobBody]]:
    """Check every argument of ``map`` (InvalidInputError before anything is read or sent),
    then open the journal. Returns the run and the encoder of one input."""
    _check_inputs(inputs, allow_async=allow_async)
    concurrency = options.concurrency
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
        raise InvalidInputError(f"concurrency must be a positive int, got {concurrency!r}")
    retry_failed = check_retry_failed(options.retry_failed)
    cancel_on_interrupt = check_flag(options.cancel_on_interrupt, "cancel_on_interrupt")
    seconds, replay = check_batch_options(timeout, journal, replay)
    encode = _encoder(options)
    from .journal import Journal
    from .run import BatchRun

    # Last: nothing may fail between taking the journal's lock and handing the run back.
    opened = None if journal is None else Journal(journal, core.endpoint_id, source=inputs)
    run = BatchRun(
        core,
        concurrency=concurrency,
        deadline=core.deadline(seconds),
        retry_failed=retry_failed,
        journal=opened,
        cancel_on_interrupt=cancel_on_interrupt,
        replay=replay,
    )
    return run, encode


def prepare_bodies(inputs: Iterable[Any], options: PerJob) -> list[JobBody]:
    """``run_many``: every input encoded and checked before the first request is sent, so a
    bad batch sends nothing."""
    _check_inputs(inputs)
    encode = _encoder(options)
    return [encode(value) for value in inputs]


class Ordered:
    """``run_many``'s results in input order over ``map``'s items, which come as they end."""

    def __init__(self, size: int, return_exceptions: bool) -> None:
        self._results: list[JobState | RunpodError | None] = [None] * size
        self.return_exceptions = check_flag(return_exceptions, "return_exceptions")

    def add(self, item: BatchItem) -> RunpodError | None:
        """Place ``item``; return the error to raise at once (fail-fast), if any."""
        if item.error is not None:
            if not self.return_exceptions:
                return item.error
            self._results[item.index] = item.error
        else:
            self._results[item.index] = item.state
        return None

    def fill(self, timeout: BatchTimeout) -> None:
        """The deadline passed before some inputs were submitted: their entries hold it."""
        for index in range(timeout.next_index, len(self._results)):
            self._results[index] = timeout

    def results(self) -> list[Any]:
        assert all(value is not None for value in self._results)
        return list(self._results)


def fail_fast_notes(error: RunpodError, report: StopReport) -> RunpodError:
    """``error``, with notes saying what run_many cancelled when it stopped at it."""
    why = "because run_many stops at the first error (return_exceptions=False)"
    for note in report.notes(cancel=True, why=why, stopped_by="run_many stopped at an error"):
        if note.endswith("no job was left running"):
            continue
        error.add_note(note)
    return error
