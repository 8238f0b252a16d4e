"""The blocking client: :class:`Endpoint`, :class:`Job`, :class:`JobStream`. What it shares
with the asyncio client is defined once on the bases (``base``, ``handles``); these classes
add how operations run (blocking, over httpx) and the methods whose return type differs."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Literal, Self, Unpack, overload

from .._batches.plan import (
    DEFAULT_CONCURRENCY,
    DEFAULT_RETRY_FAILED,
    Ordered,
    PerJob,
    fail_fast_notes,
    plan_batch,
    prepare_bodies,
)
from .._config import resolve_settings
from .._constants import DEFAULT_MAX_RETRIES
from .._core.retry import PollPolicy, RetryPolicy
from .._deferred import deferred_module
from .._drivers.api import Closing
from .._drivers.sync import SyncDriver
from .._exceptions import InvalidInputError, RunpodError
from .._options import ExecutionPolicy, S3Config
from .._rate_limits import RateLimitsOption
from .._timeout import DEFAULT_TIMEOUT, Timeout
from .._types import JobState
from .._wire.requests import encode_job
from .api import EndpointLink, SyncRunner
from .base import BatchApiMapOptions, EndpointBase, MapOptions, RunManyErrorsInPlace, RunManyOptions
from .handles import JobBase, StreamBase

# httpx, the batch machinery and the Batch Jobs API: imported on first use, or when something
# evaluates the annotations that name them (hence those name the module, not the class).
if TYPE_CHECKING:
    import httpx

    from .. import _batchjobs as batchjobs
    from .._batches import threads as batch_threads
else:
    httpx = deferred_module("httpx")
    batchjobs = deferred_module("runpod_facade._batchjobs")
    batch_threads = deferred_module("runpod_facade._batches.threads")

__all__ = ["Endpoint", "Job", "JobStream"]


class Endpoint(EndpointBase, SyncRunner, Closing):
    """A RunPod serverless endpoint, used from blocking code.

    Args:
        endpoint_id: the endpoint's id (default: ``RUNPOD_ENDPOINT_ID``).
        api_key: the API key (default: ``RUNPOD_API_KEY``). Never logged or shown in a repr.
        base_url: the API root (default: ``RUNPOD_BASE_URL`` or ``https://api.runpod.ai/v2``).
        timeout: per-request HTTP timeouts: seconds (or a ``timedelta``), a :class:`Timeout`
            per phase, or an ``httpx.Timeout`` (long-polls get a read timeout derived from their
            hold).
            Deadlines of waits are separate arguments.
        max_retries: retries per request on connection errors, 408/429/5xx (submits only
            when provably safe: see the README).
        retry_policy: full retry settings; overrides ``max_retries``.
        poll_policy: ``/status`` polling interval when server long-poll is unavailable.
        long_poll: use ``/status-sync`` long-polls to wait (default). ``False`` polls.
        http_client: an ``httpx.Client`` to send every call with, ``batches`` and
            ``map(via="batch-api")`` included (its pool, proxies, TLS); not closed by us.
        allow_insecure_http: allow ``http://`` to a non-loopback host.
        rate_limits: how the job routes' requests are paced per route, shared by every
            call of this client: ``"learn"`` (default: a route is paced once a 429 taught
            its rate), ``"runpod"`` (RunPod's documented limits from the start), a
            ``RateLimits`` or a mapping of route to ``RateLimit`` /
            ``(requests, per_seconds)``, or ``None`` (no pacing). The routes of ``batches``
            are not paced: RunPod documents no rate limit for them.

    Use it as a context manager, or call :meth:`close`, to release connections. One
    ``Endpoint`` may be shared by many threads.
    """

    def __init__(
        self,
        endpoint_id: str | None = None,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        timeout: float | timedelta | Timeout | httpx.Timeout | None = DEFAULT_TIMEOUT,
        max_retries: int = DEFAULT_MAX_RETRIES,
        retry_policy: RetryPolicy | None = None,
        poll_policy: PollPolicy | None = None,
        long_poll: bool = True,
        http_client: httpx.Client | None = None,
        allow_insecure_http: bool = False,
        rate_limits: RateLimitsOption = "learn",
    ) -> None:
        self._settings = resolve_settings(
            endpoint_id,
            api_key=api_key,
            base_url=base_url,
            timeout=timeout,
            max_retries=max_retries,
            retry_policy=retry_policy,
            poll_policy=poll_policy,
            long_poll=long_poll,
            allow_insecure_http=allow_insecure_http,
        )
        core = self._new_core(rate_limits)  # checked before a transport is made
        # httpx with the first Endpoint, not with the package: asyncio code on aiohttp never
        # pays its import (a third of the package's) nor has its objects in every full
        # pass of the garbage collector.
        import httpx

        from .._transports.httpx import HttpxTransport

        if http_client is not None and not isinstance(http_client, httpx.Client):
            raise InvalidInputError(
                "http_client must be an httpx.Client (use AsyncEndpoint for httpx.AsyncClient)"
            )
        transport = HttpxTransport(self._settings.base_url, self._settings.headers(), http_client)
        self._link = EndpointLink(core, SyncDriver(transport))
        self._http_client = http_client  # ep.batches sends through it too

    @property
    def batches(self) -> batchjobs.Batches:
        """The Batch Jobs API of this endpoint: ``create``, ``add``, ``finalize``, ``wait``,
        ``results`` … (RunPod runs the batch on its own batch workers). Sent through the
        ``http_client`` you passed, if any, as every other call."""
        from .._batchjobs import Batches

        return Batches(
            self._settings, http_client=self._http_client, check_open=self._driver.check_open
        )

    def close(self) -> None:
        """Release pooled connections (not those of an ``http_client`` you passed in). Any
        later call raises ClientClosedError."""
        self._driver.close()

    def __enter__(self) -> Self:
        self._driver.check_open()
        return self

    def run(
        self,
        input: Any,
        *,
        policy: ExecutionPolicy | None = None,
        webhook: str | None = None,
        s3_config: S3Config | None = None,
    ) -> Job:
        """Queue a job (``/run``) and return its handle at once.

        ``input`` is any JSON-serializable value; it is sent as the request's ``input``.
        Raises InvalidInputError before sending if it is not serializable or over 10 MiB.
        """
        body = encode_job(input, policy=policy, webhook=webhook, s3_config=s3_config)
        state = self._perform(self._core.run(body))
        return Job(self, state.id, state, link=self._link)

    def job(self, job_id: str) -> Job:
        """A handle to an existing job, e.g. one submitted by another process."""
        return Job(self, self._job_id(job_id), link=self._link)

    def retry(self, job_id: str) -> Job:
        """Requeue a FAILED or TIMED_OUT job under the same id (``/retry``) and return its
        handle, to follow up (``.wait()``); ``job.last_state`` is the reply's state."""
        job = self.job(job_id)
        job.retry()
        return job

    def stream(
        self,
        job_id: str,
        *,
        timeout: float | timedelta | None = None,
        idle_timeout: float | timedelta | None = None,
        raw: bool = False,
    ) -> JobStream:
        """Iterate the outputs of a generator handler: ``ep.job(job_id).stream(...)``."""
        return self.job(job_id).stream(timeout=timeout, idle_timeout=idle_timeout, raw=raw)

    @overload
    def map(
        self, inputs: Iterable[Any], **options: Unpack[BatchApiMapOptions]
    ) -> batchjobs.BatchApiResults: ...

    @overload
    def map(
        self, inputs: Iterable[Any], **options: Unpack[MapOptions]
    ) -> batch_threads.BatchResults: ...

    def map(
        self,
        inputs: Iterable[Any],
        *,
        concurrency: int = DEFAULT_CONCURRENCY,
        timeout: float | timedelta | None = None,
        journal: str | os.PathLike[str] | None = None,
        replay: bool = True,
        retry_failed: int = DEFAULT_RETRY_FAILED,
        policy: ExecutionPolicy | None = None,
        webhook: str | None = None,
        s3_config: S3Config | None = None,
        cancel_on_interrupt: bool = False,
        via: Literal["jobs", "batch-api"] = "jobs",
        batch_size: int | None = None,
    ) -> batch_threads.BatchResults | batchjobs.BatchApiResults:
        """Run each input as its own job, at most ``concurrency`` at a time (100 at most: the
        long requests a client runs at once), and yield a :class:`BatchItem` per input as its
        job ends (completion order; ``item.index`` is its position in ``inputs``)::

            with ep.map(read_lines(), journal="out.journal") as results:
                for item in results:
                    save(item.index, item.output if item.ok else item.error)

        ``inputs`` may be any iterable, a generator of millions included: it is read lazily,
        one input when a slot frees up, each encoded just before it is submitted, and
        nothing is kept per input once its item is yielded (memory stays flat: see
        ``benchmarks/map_memory.py``). An input that cannot be sent (not JSON, over 10 MiB)
        becomes its item's ``InvalidInputError`` and the batch goes on; such an input is
        never journaled, so every run reports it again. Every other argument is checked at
        once (InvalidInputError before anything is read).

        A failed job is an item, not an exception (``item.error``; ``item.result()`` raises
        it). ``timeout`` is one deadline for the whole batch: jobs in flight then end as
        ``WaitTimeout`` items (they go on running), no further input is read, and the
        iteration raises :class:`BatchTimeout`. ``retry_failed`` requeues a FAILED or
        TIMED_OUT job up to that many times (``/retry``, same id).

        ``journal`` (a file path; SQLite) makes the batch resumable: run the same inputs
        with the same journal again and finished inputs are not run again — their items are
        yielded from the journal (``item.resumed``) unless ``replay=False`` — jobs already
        submitted are waited for by id, and only inputs never submitted are submitted. An
        input whose submit was in flight when a run died is submitted again and flagged
        ``item.possibly_duplicated``. A result the server no longer keeps (30 min after a
        ``/run`` job ends) comes back as ``NotFoundError`` with its job id. A journal of
        another batch or endpoint, or one in use by another run, raises ``JournalError``.

        Jobs are submitted with ``/runsync?wait=1000`` (one request for a job that ends within
        a second), or with ``/run`` (id at once) when there is a journal or
        ``cancel_on_interrupt=True``. On Ctrl-C nothing more is submitted, the jobs still
        running are cancelled only with ``cancel_on_interrupt=True``, and the
        KeyboardInterrupt is re-raised with notes naming every job left running. Leaving the
        loop early (``break``, or ``results.close(cancel=...)``) stops the batch the same way;
        a batch dropped unclosed (``break`` without ``with``) logs what it left running at
        WARNING — on stderr when logging is not configured — as no exception carries it.
        The notes say what stopped the batch (Ctrl-C, the caller stopped iterating, the input
        iterator raised, the deadline). SIGTERM is left to the application: by default the
        process dies at once and nothing is told (a journal still resumes the batch); to
        treat it as Ctrl-C, install ``signal.signal(signal.SIGTERM,
        signal.default_int_handler)``.

        ``via="batch-api"`` hands the inputs to RunPod's Batch Jobs API instead (batches of
        up to ``batch_size`` <= 5,000 requests, at most 10 live, run on RunPod's batch
        workers) and yields a :class:`BatchApiItem` per input as each batch is done; with a
        ``journal`` a rerun resumes by batch id and creates nothing twice. ``concurrency``,
        ``retry_failed``, ``policy``, ``webhook``, ``s3_config`` and
        ``cancel_on_interrupt`` do not apply there.
        """
        options = PerJob(concurrency, retry_failed, policy, webhook, s3_config, cancel_on_interrupt)
        if via != "jobs" or batch_size is not None:
            # RunPod's Batch Jobs API runs the batch (see runpod_facade._batchjobs._mapper).
            from .._batchjobs._mapper import map_via

            return map_via(
                self.batches,
                inputs,
                options,
                via=via,
                endpoint_id=self.endpoint_id,
                journal=journal,
                timeout=timeout,
                replay=replay,
                batch_size=batch_size,
            )
        run, encode = plan_batch(
            self._core, inputs, options, timeout=timeout, journal=journal, replay=replay
        )
        from .._batches.run import encoded_inputs
        from .._batches.threads import BatchResults

        return BatchResults(self._driver, run, encoded_inputs(inputs, encode))

    @overload
    def run_many(
        self, inputs: Iterable[Any], **options: Unpack[RunManyOptions]
    ) -> list[JobState]: ...

    @overload
    def run_many(
        self, inputs: Iterable[Any], **options: Unpack[RunManyErrorsInPlace]
    ) -> list[JobState | RunpodError]: ...

    def run_many(
        self,
        inputs: Iterable[Any],
        *,
        concurrency: int = DEFAULT_CONCURRENCY,
        timeout: float | timedelta | None = None,
        policy: ExecutionPolicy | None = None,
        webhook: str | None = None,
        s3_config: S3Config | None = None,
        retry_failed: int = DEFAULT_RETRY_FAILED,
        return_exceptions: bool = False,
        cancel_on_interrupt: bool = False,
    ) -> list[JobState] | list[JobState | RunpodError]:
        """Run each input as its own job, at most ``concurrency`` in flight, and return the
        final states in input order: :meth:`map`, collected. ``timeout`` is one deadline for
        the whole batch.

        Every input is checked before anything is sent. By default the first error is raised
        at once, after cancelling every job still running — including those whose submit
        reply was still on its way (each is cancelled as its id arrives, within about a
        second); its notes name them. With ``return_exceptions=True`` nothing is cancelled
        and each failed input's error takes its place (``BatchTimeout`` for inputs the
        deadline left unsubmitted).
        """
        options = PerJob(concurrency, retry_failed, policy, webhook, s3_config, cancel_on_interrupt)
        bodies = prepare_bodies(inputs, options)
        run, _ = plan_batch(self._core, bodies, options, timeout=timeout, journal=None, replay=True)
        from .._batches.threads import BatchResults
        from .._batches.types import BatchTimeout

        ordered = Ordered(len(bodies), return_exceptions)
        with BatchResults(self._driver, run, iter(bodies)) as results:
            try:
                for item in results:
                    error = ordered.add(item)
                    if error is not None:
                        raise fail_fast_notes(error, results.close(cancel=True))
            except BatchTimeout as timed_out:
                if not return_exceptions:
                    raise
                ordered.fill(timed_out)
        return ordered.results()


class Job(JobBase, SyncRunner):
    """A handle to one job, for blocking code. Every method but :meth:`stream` sends a
    request; the wait methods block until the job ends or their deadline passes."""

    __slots__ = ()

    endpoint: Endpoint

    def stream(
        self,
        *,
        timeout: float | timedelta | None = None,
        idle_timeout: float | timedelta | None = None,
        raw: bool = False,
    ) -> JobStream:
        """Iterate the outputs a generator handler yields, as they arrive.

        ``timeout`` bounds the whole stream; ``idle_timeout`` the gap between chunks. Ends on
        COMPLETED or CANCELLED (then ``stream.state`` is the job's final state, its ``output``
        the handler's result — also when the handler streamed nothing); raises JobFailed or
        JobTimedOut. ``raw=True`` yields each chunk object whole (``output`` and e.g.
        ``metrics``) instead of its ``output``.
        """
        return JobStream(self, self._link, *self._stream_args(timeout, idle_timeout), raw)


class JobStream(StreamBase, Closing):
    """An iterator over a job's streamed outputs. Use it in a ``for`` loop or ``with`` block;
    breaking out early is safe (no request is left open between chunks)."""

    job: Job

    def __init__(
        self,
        job: Job,
        link: EndpointLink[SyncDriver],
        timeout: float | None,
        idle_timeout: float | None,
        raw: bool = False,
    ) -> None:
        super().__init__(job, link, timeout, idle_timeout, raw)
        self._iterator = link.driver.iterate(self._operation)

    def __iter__(self) -> Iterator[Any]:
        return self

    def __next__(self) -> Any:
        return next(self._iterator)

    def close(self) -> None:
        """Stop iterating; nothing is left open."""
        self._iterator.close()
