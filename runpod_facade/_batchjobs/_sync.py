"""``ep.batches``: each method written once, run blocking here and awaited in :mod:`._async`.

A method of :class:`BatchesBase` checks its arguments (before anything is sent) and returns
an operation, a generator yielding the :class:`~._plan.Call` to send (answered with the
``httpx.Response``, or its transport error thrown in), a ``Sleep`` or an ``Emit`` (an item
of ``results``). :class:`batch_api` makes it a method of :class:`Batches` and a coroutine of
:class:`~._async.AsyncBatches`; those only send and sleep. Each call goes through the
endpoint's ``http_client`` when the caller gave one, else through a short-lived ``httpx``
client of ours (or the pool of a ``with`` block); :mod:`._http` builds its request.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import ssl
import time
from collections.abc import Callable, Generator, Iterable, Iterator
from datetime import timedelta
from typing import Any, ParamSpec, Self, TypeVar, cast

import httpx

from .._config import Settings
from .._core.effects import Emit, Sleep
from .._drivers.api import Closing, SyncRunner, api
from .._exceptions import APIConnectionError, APITimeoutError, WaitTimeout
from .._transports.httpx import NEVER_SENT
from .._validation import optional_seconds
from . import _plan
from ._http import BatchRequests, Send, client_send
from ._model import (
    BatchRequestResult,
    BatchSummary,
    CreatedBatch,
    parse_created,
    parse_list,
    parse_page,
    parse_summary,
)
from ._plan import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, Call

__all__ = [
    "BatchOperation",
    "Batches",
    "BatchesBase",
    "Done",
    "advance",
    "batch_api",
]

P = ParamSpec("P")
T = TypeVar("T")

#: What an operation yields to the resource that runs it.
BatchOperation = Generator[Call | Sleep | Emit, Any, T]


@functools.cache
def tls_context() -> ssl.SSLContext:
    """One TLS context per process: building one costs tens of milliseconds, and a call of
    the resource outside a ``with`` block opens a client of its own."""
    return httpx.create_ssl_context()


def transport_error(call: Call, exc: httpx.TransportError) -> APIConnectionError:
    """The SDK's error for an HTTP exchange that got no answer."""
    sent = not isinstance(exc, NEVER_SENT)
    kind = APITimeoutError if isinstance(exc, httpx.TimeoutException) else APIConnectionError
    return kind(
        f"{type(exc).__name__}: {exc}", operation=call.operation, job_id=call.batch_id,
        request_sent=sent,
    )  # fmt: skip


@dataclasses.dataclass(frozen=True, slots=True)
class Done:
    """An operation's end: what it returned."""

    value: Any


def advance(operation: BatchOperation[Any], outcome: Any) -> Call | Sleep | Emit | Done:
    """The operation's next step, given the outcome of its last (an exception is thrown in)."""
    try:
        if isinstance(outcome, Exception):
            return operation.throw(outcome)
        return operation.send(outcome)
    except StopIteration as end:
        return Done(end.value)


class batch_api(api[P, T]):
    """:class:`~runpod_facade._drivers.api.api` for ``ep.batches``: an awaitable method's
    signature shows the operation's result, as an ``async def``'s does."""

    awaitable_returns = "{}"


class BatchesBase:
    """What the blocking and the asyncio ``ep.batches`` share: the methods, as operations."""

    def __init__(
        self,
        settings: Settings,
        clock: Callable[[], float] = time.monotonic,
        check_open: Callable[[], None] | None = None,
    ) -> None:
        self._settings = settings
        self._requests = BatchRequests(settings)
        self._clock = clock
        # The endpoint's: its own clients are not this resource's, so its close must be asked.
        self._check_open = check_open

    def __repr__(self) -> str:
        return f"{type(self).__name__}(endpoint_id={self._settings.endpoint_id!r})"

    def _client_options(self) -> dict[str, Any]:
        """Our own clients' options: the URL, headers and timeouts are set per request."""
        return {"verify": tls_context(), "follow_redirects": False}

    def _send(self, call: Call) -> BatchOperation[Any]:
        """The JSON of ``call``'s reply, sent again after each failure ``retry_delay`` allows."""
        retry = self._settings.retry
        attempt = 0
        while True:
            if self._check_open is not None:
                self._check_open()  # ClientClosedError once the endpoint is closed
            try:
                try:
                    reply: httpx.Response = yield call
                except httpx.TransportError as exc:  # thrown in by the runner
                    raise transport_error(call, exc) from exc
                return _plan.decide(call, reply.status_code, reply.headers, reply.content)
            except Exception as error:
                backoff = retry.backoff(attempt)
                delay = _plan.retry_delay(call, attempt, retry.max_retries, backoff, error)
                if delay is None:
                    raise
            yield Sleep(delay)
            attempt += 1

    def _call(self, operation: str, batch_id: str | None, **extra: Any) -> Call:
        return _plan.simple_call(operation, self._settings.endpoint_id, batch_id, **extra)

    def _summary(self, call: Call) -> BatchOperation[BatchSummary]:
        return parse_summary((yield from self._send(call)), call.operation, call.batch_id)

    def _simple(self, operation: str, batch_id: str, **extra: Any) -> BatchOperation[BatchSummary]:
        return self._summary(self._call(operation, _plan.check_batch_id(batch_id), **extra))

    @batch_api
    def create(self, inputs: Iterable[Any] = ()) -> BatchOperation[CreatedBatch]:
        """Create a DRAFT batch holding one request per input (none: an empty batch).

        Raises InvalidInputError before sending when an input is not JSON, there are over
        5,000 or the body is over 10 MiB. A DRAFT batch does not run until :meth:`finalize`.
        """
        return BatchesBase.create_encoded.build(self, _plan.encode_items(inputs))

    @batch_api
    def create_encoded(self, items: list[bytes]) -> BatchOperation[CreatedBatch]:
        """:meth:`create` with each request already encoded (``{"input": ...}`` JSON)."""
        call = _plan.create_call(self._settings.endpoint_id, items)
        return parse_created((yield from self._send(call)))

    @batch_api
    def add(self, batch_id: str, inputs: Iterable[Any]) -> BatchOperation[BatchSummary]:
        """Append one request per input to a DRAFT batch (at most 10 MiB per call)."""
        return BatchesBase.add_encoded.build(self, batch_id, _plan.encode_items(inputs))

    @batch_api
    def add_encoded(self, batch_id: str, items: list[bytes]) -> BatchOperation[BatchSummary]:
        """:meth:`add` with each request already encoded (``{"input": ...}`` JSON)."""
        batch_id = _plan.check_batch_id(batch_id)
        return self._summary(_plan.add_call(self._settings.endpoint_id, batch_id, items))

    @batch_api
    def finalize(self, batch_id: str) -> BatchOperation[BatchSummary]:
        """Lock a DRAFT batch (FINALIZED) so that the batch workers run it."""
        return self._simple("batch-finalize", batch_id)

    @batch_api
    def get(self, batch_id: str) -> BatchOperation[BatchSummary]:
        """The batch's status and the counts of its requests."""
        return self._simple("batch-get", batch_id)

    @batch_api
    def cancel(self, batch_id: str) -> BatchOperation[BatchSummary]:
        """Cancel the batch: queued requests at once, running ones finish first."""
        return self._simple("batch-cancel", batch_id)

    @batch_api
    def remove(self, batch_id: str, request_id: str) -> BatchOperation[BatchSummary]:
        """Remove one request from a DRAFT batch."""
        request_id = _plan.check_batch_id(request_id, "request_id")
        return self._simple("batch-remove", batch_id, request_id=request_id)

    @batch_api
    def update(self, batch_id: str, *, name: str) -> BatchOperation[BatchSummary]:
        """Set the batch's display name."""
        return self._simple("batch-update", batch_id, body=_plan.check_name(name))

    @batch_api
    def list(self, *, page_size: int = DEFAULT_PAGE_SIZE) -> BatchOperation[list[BatchSummary]]:
        """Every batch of the endpoint, newest first (all pages)."""
        size = _plan.check_count(page_size, "page_size", MAX_PAGE_SIZE)
        found: list[BatchSummary] = []
        offset: int | None = 0
        while offset is not None:
            call = self._call("batch-list", None, params={"offset": offset, "limit": size})
            page = parse_list((yield from self._send(call)), offset)
            found.extend(page.items)
            offset = _plan.next_offset(page)
        return found

    def _results(self, batch_id: str, page_size: int, offset: int) -> BatchOperation[None]:
        """The operation of ``results`` (checked at once): each item an ``Emit``."""
        batch_id = _plan.check_batch_id(batch_id)
        size, start = (
            _plan.check_count(page_size, "page_size", MAX_PAGE_SIZE),
            _plan.check_offset(offset),
        )
        return self._pages(batch_id, size, start)

    def _pages(self, batch_id: str, size: int, start: int) -> BatchOperation[None]:
        offset: int | None = start
        while offset is not None:
            call = self._call("batch-requests", batch_id, params={"offset": offset, "limit": size})
            page = parse_page((yield from self._send(call)), batch_id, offset)
            for item in page.items:
                yield Emit(item)
            offset = _plan.next_offset(page)

    @batch_api
    def wait(
        self,
        batch_id: str,
        *,
        timeout: float | timedelta | None = None,
        interval: float | timedelta = 2.0,
    ) -> BatchOperation[BatchSummary]:
        """Poll until every request has ended (completed + failed == total) or the batch
        is FAILED or CANCELLED, and return the last summary. Polls come quickly at first,
        then every ``interval`` seconds. Raises WaitTimeout (the batch
        goes on) after ``timeout`` seconds, and InvalidInputError for a DRAFT batch."""
        batch_id = _plan.check_batch_id(batch_id)
        interval = _plan.check_interval(interval)
        limit = optional_seconds(timeout, "timeout")
        deadline = None if limit is None else self._clock() + limit
        pause = min(_plan.FIRST_PAUSE, interval)
        while True:
            summary = yield from self._summary(self._call("batch-get", batch_id))
            step = _plan.wait_step(summary, self._clock(), deadline, pause)
            if step.action == "done":
                return summary
            if step.action == "expired":
                raise WaitTimeout(
                    batch_id, timeout=limit, subject="batch", progress=_plan.progress(summary)
                )
            yield Sleep(step.seconds)
            pause = _plan.next_pause(pause, interval)


class Batches(BatchesBase, SyncRunner, Closing):
    """The Batch Jobs API of one endpoint (``ep.batches``): batches that RunPod runs on its
    own batch workers. Sequence: :meth:`create` (DRAFT), :meth:`add` more, :meth:`finalize`,
    then :meth:`wait` and :meth:`results`. ``ep.map(inputs, via="batch-api")`` does all of
    it, resumably, for you. Its calls go through the endpoint's ``http_client`` if you gave
    one (never closed here), else through clients of its own."""

    def __init__(
        self,
        settings: Settings,
        *,
        http_client: httpx.Client | None = None,
        send: Send | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        check_open: Callable[[], None] | None = None,
    ) -> None:
        """``http_client``: the endpoint's caller's client; ``send``: how each call is sent
        when the caller's client is not a blocking one (see ``_http.loop_send``)."""
        super().__init__(settings, clock, check_open)
        self._sleep = sleep
        self._shared: httpx.Client | None = None
        if http_client is not None:
            send = client_send(http_client, self._requests)
        self._caller_send = send

    def __enter__(self) -> Self:
        """Keep one connection pool for every call until the block ends (otherwise each
        call opens and closes its own; through a caller's client, its pool is used)."""
        if self._shared is None and self._caller_send is None:
            self._shared = self._client()
        return self

    def close(self) -> None:
        """Close the pool of a ``with`` block (a no-op otherwise, and never the caller's)."""
        shared, self._shared = self._shared, None
        if shared is not None:
            shared.close()

    def results(
        self, batch_id: str, *, page_size: int = DEFAULT_PAGE_SIZE, offset: int = 0
    ) -> Iterator[BatchRequestResult]:
        """The batch's requests with their outputs and errors, one page at a time (pages are
        fetched as the iterator is consumed), in the order they were added."""
        return self._emitted(self._results(batch_id, page_size, offset))

    def _emitted(self, operation: BatchOperation[None]) -> Iterator[Any]:
        with self._http() as http:
            while isinstance(step := self._step(http, operation), Emit):
                yield step.value

    def _perform(self, operation: BatchOperation[T]) -> T:
        with self._http() as http:
            step = self._step(http, operation)
        assert isinstance(step, Done), "only results() emits"
        return cast(T, step.value)

    def _client(self) -> httpx.Client:
        return httpx.Client(**self._client_options())

    @contextlib.contextmanager
    def _http(self) -> Iterator[Send]:
        """The caller's client, the ``with`` block's pool, or a client of the call's own."""
        if self._caller_send is not None:
            yield self._caller_send
        elif self._shared is not None:
            yield client_send(self._shared, self._requests)
        else:
            with self._client() as client:
                yield client_send(client, self._requests)

    def _step(self, send: Send, operation: BatchOperation[Any]) -> Emit | Done:
        """Run ``operation`` until it emits a value or ends."""
        outcome: Any = None
        while not isinstance(step := advance(operation, outcome), Emit | Done):
            outcome = None
            if isinstance(step, Sleep):
                self._sleep(step.seconds)
                continue
            try:
                outcome = send(step)
            except httpx.TransportError as exc:
                outcome = exc
        return step
