"""``ep.batches``: the Batch Jobs API from blocking code.

Each method sends its requests with a short-lived ``httpx.Client`` built from the endpoint's
settings (base URL, API key, timeouts), so the resource holds no connection between calls;
what to send and what a reply means is decided in :mod:`._plan`.
"""

from __future__ import annotations

import contextlib
import functools
import json
import ssl
import time
from collections.abc import Callable, Iterable, Iterator
from types import TracebackType
from typing import Any, Self

import httpx

from .._config import Settings
from .._exceptions import APIConnectionError, APITimeoutError, InvalidInputError, WaitTimeout
from ._model import (
    BatchRequestResult,
    BatchSummary,
    CreatedBatch,
    parse_created,
    parse_list,
    parse_page,
    parse_summary,
)
from ._plan import (
    DEFAULT_PAGE_SIZE,
    FIRST_PAUSE,
    Call,
    add_call,
    check_batch_id,
    check_page_size,
    create_call,
    decide,
    encode_items,
    next_offset,
    next_pause,
    retry_delay,
    simple_call,
    wait_step,
)

__all__ = [
    "Batches",
    "check_interval",
    "check_name",
    "check_offset",
    "check_timeout",
    "progress",
    "tls_context",
    "transport_error",
]

DEFAULT_WAIT_INTERVAL = 2.0


@functools.cache
def tls_context() -> ssl.SSLContext:
    """One TLS context per process: building one costs tens of milliseconds, and a call of
    the resource outside a ``with`` block opens a client of its own."""
    return httpx.create_ssl_context()


def transport_error(call: Call, exc: httpx.TransportError) -> APIConnectionError:
    """The SDK's error for an HTTP exchange that got no answer."""
    sent = not isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout))
    kind = APITimeoutError if isinstance(exc, httpx.TimeoutException) else APIConnectionError
    return kind(
        f"{type(exc).__name__}: {exc}", operation=call.operation, job_id=call.batch_id,
        request_sent=sent,
    )  # fmt: skip


def check_offset(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidInputError(f"offset must be an int >= 0: {value!r}")
    return value


def check_name(value: object) -> bytes:
    """The body of an update that sets the display name."""
    if not isinstance(value, str):
        raise InvalidInputError(f"name must be a string, got {type(value).__name__}")
    return json.dumps({"name": value}).encode()


def check_interval(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise InvalidInputError(f"interval must be a positive number of seconds: {value!r}")
    return float(value)


def check_timeout(value: object) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise InvalidInputError(f"timeout must be seconds >= 0 or None: {value!r}")
    return float(value)


class Batches:
    """The Batch Jobs API of one endpoint (``ep.batches``): batches that RunPod runs on its
    own batch workers. Sequence: :meth:`create` (DRAFT), :meth:`add` more, :meth:`finalize`,
    then :meth:`wait` and :meth:`results`. ``ep.map(inputs, via="batch-api")`` does all of
    it, resumably, for you."""

    def __init__(
        self,
        settings: Settings,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._settings = settings
        self._clock = clock
        self._sleep = sleep
        self._shared: httpx.Client | None = None

    def __repr__(self) -> str:
        return f"Batches(endpoint_id={self._settings.endpoint_id!r})"

    def __enter__(self) -> Self:
        """Keep one connection pool for every call until the block ends (otherwise each
        call opens and closes its own)."""
        if self._shared is None:
            self._shared = self._client()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the pool of a ``with`` block (a no-op otherwise)."""
        shared, self._shared = self._shared, None
        if shared is not None:
            shared.close()

    # ----------------------------------------------------------------- sending

    def _client(self) -> httpx.Client:
        settings = self._settings
        return httpx.Client(
            base_url=settings.base_url,
            headers=settings.headers(),
            timeout=httpx.Timeout(
                connect=settings.timeout.connect,
                read=settings.timeout.read,
                write=settings.timeout.write,
                pool=settings.timeout.pool,
            ),
            verify=tls_context(),
        )

    @contextlib.contextmanager
    def _http(self) -> Iterator[httpx.Client]:
        if self._shared is not None:
            yield self._shared
        else:
            with self._client() as http:
                yield http

    def _send(self, http: httpx.Client, call: Call) -> Any:
        retry = self._settings.retry
        attempt = 0
        while True:
            try:
                try:
                    reply = http.request(
                        call.method,
                        call.path,
                        params=dict(call.params),
                        content=call.body,
                        headers={"Content-Type": "application/json"} if call.body else None,
                    )
                except httpx.TransportError as exc:
                    raise transport_error(call, exc) from exc
                return decide(call, reply.status_code, reply.headers, reply.content)
            except Exception as error:
                delay = retry_delay(call, attempt, retry.max_retries, retry.backoff(attempt), error)
                if delay is None:
                    raise
            self._sleep(delay)
            attempt += 1

    def _one(self, call: Call) -> Any:
        with self._http() as http:
            return self._send(http, call)

    # ----------------------------------------------------------------- the API

    def create(self, inputs: Iterable[Any] = ()) -> CreatedBatch:
        """Create a DRAFT batch holding one request per input (none: an empty batch).

        Raises InvalidInputError before sending when an input is not JSON, there are over
        5,000 or the body is over 10 MiB. A DRAFT batch does not run until :meth:`finalize`.
        """
        return self.create_encoded(encode_items(inputs))

    def create_encoded(self, items: list[bytes]) -> CreatedBatch:
        """:meth:`create` with each request already encoded (``{"input": ...}`` JSON)."""
        return parse_created(self._one(create_call(self._settings.endpoint_id, items)))

    def add(self, batch_id: str, inputs: Iterable[Any]) -> BatchSummary:
        """Append one request per input to a DRAFT batch (at most 10 MiB per call)."""
        return self.add_encoded(batch_id, encode_items(inputs))

    def add_encoded(self, batch_id: str, items: list[bytes]) -> BatchSummary:
        """:meth:`add` with each request already encoded (``{"input": ...}`` JSON)."""
        batch_id = check_batch_id(batch_id)
        call = add_call(self._settings.endpoint_id, batch_id, items)
        return parse_summary(self._one(call), call.operation, batch_id)

    def _simple(self, operation: str, batch_id: str, **extra: Any) -> BatchSummary:
        batch_id = check_batch_id(batch_id)
        call = simple_call(operation, self._settings.endpoint_id, batch_id, **extra)
        return parse_summary(self._one(call), operation, batch_id)

    def finalize(self, batch_id: str) -> BatchSummary:
        """Lock a DRAFT batch (FINALIZED) so that the batch workers run it."""
        return self._simple("batch-finalize", batch_id)

    def get(self, batch_id: str) -> BatchSummary:
        """The batch's status and the counts of its requests."""
        return self._simple("batch-get", batch_id)

    def cancel(self, batch_id: str) -> BatchSummary:
        """Cancel the batch: queued requests at once, running ones finish first."""
        return self._simple("batch-cancel", batch_id)

    def remove(self, batch_id: str, request_id: str) -> BatchSummary:
        """Remove one request from a DRAFT batch."""
        request_id = check_batch_id(request_id, "request_id")
        return self._simple("batch-remove", batch_id, request_id=request_id)

    def update(self, batch_id: str, *, name: str) -> BatchSummary:
        """Set the batch's display name."""
        return self._simple("batch-update", batch_id, body=check_name(name))

    def list(self, *, page_size: int = DEFAULT_PAGE_SIZE) -> list[BatchSummary]:
        """Every batch of the endpoint, newest first (all pages)."""
        size = check_page_size(page_size)
        found: list[BatchSummary] = []
        offset: int | None = 0
        with self._http() as http:
            while offset is not None:
                params = {"offset": offset, "limit": size}
                call = simple_call("batch-list", self._settings.endpoint_id, None, params=params)
                page = parse_list(self._send(http, call), offset)
                found.extend(page.items)
                offset = next_offset(page)
        return found

    def results(
        self, batch_id: str, *, page_size: int = DEFAULT_PAGE_SIZE, offset: int = 0
    ) -> Iterator[BatchRequestResult]:
        """The batch's requests with their outputs and errors, one page at a time (pages are
        fetched as the iterator is consumed), in the order they were added."""
        batch_id = check_batch_id(batch_id)
        size = check_page_size(page_size)
        return self._pages(batch_id, size, check_offset(offset))

    def _pages(self, batch_id: str, size: int, start: int) -> Iterator[BatchRequestResult]:
        offset: int | None = start
        with self._http() as http:
            while offset is not None:
                params = {"offset": offset, "limit": size}
                call = simple_call(
                    "batch-requests", self._settings.endpoint_id, batch_id, params=params
                )
                page = parse_page(self._send(http, call), batch_id, offset)
                yield from page.items
                offset = next_offset(page)

    def wait(
        self,
        batch_id: str,
        *,
        timeout: float | None = None,
        interval: float = DEFAULT_WAIT_INTERVAL,
    ) -> BatchSummary:
        """Poll until every request has ended (completed + failed == total) or the batch
        is FAILED or CANCELLED, and return the last summary. Polls come quickly at first,
        then every ``interval`` seconds. Raises WaitTimeout (the batch
        goes on) after ``timeout`` seconds, and InvalidInputError for a DRAFT batch."""
        batch_id = check_batch_id(batch_id)
        interval = check_interval(interval)
        pause = min(FIRST_PAUSE, interval)
        limit = check_timeout(timeout)
        deadline = None if limit is None else self._clock() + limit
        with self._http() as http:
            while True:
                call = simple_call("batch-get", self._settings.endpoint_id, batch_id)
                summary = parse_summary(self._send(http, call), call.operation, batch_id)
                step = wait_step(summary, self._clock(), deadline, pause)
                if step.action == "done":
                    return summary
                if step.action == "expired":
                    raise WaitTimeout(batch_id, timeout=limit, reason=progress(summary))
                self._sleep(step.seconds)
                pause = next_pause(pause, interval)


def progress(summary: BatchSummary) -> str:
    """The reason of a batch's WaitTimeout."""
    return (
        f"did not finish: {summary.finished} of {summary.request_total} requests done, "
        f"batch {summary.status}"
    )


Batches.__module__ = "runpod_facade"
