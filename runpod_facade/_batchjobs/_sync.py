"""``ep.batches``: the Batch Jobs API from blocking code (the methods are :mod:`._api`'s).

Each call sends its requests with a short-lived ``httpx.Client`` built from the endpoint's
settings (base URL, API key, timeouts), so the resource holds no connection between calls.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from typing import Any, Self, TypeVar, cast

import httpx

from .._config import Settings
from .._core.effects import Emit, Sleep
from ._api import (
    BatchesBase,
    BatchOperation,
    Done,
    SyncRun,
    advance,
    request_options,
    transport_error,
)
from ._model import BatchRequestResult
from ._plan import DEFAULT_PAGE_SIZE

__all__ = ["Batches"]

T = TypeVar("T")


class Batches(BatchesBase, SyncRun):
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
        super().__init__(settings, clock)
        self._sleep = sleep
        self._shared: httpx.Client | None = None

    def __enter__(self) -> Self:
        """Keep one connection pool for every call until the block ends (otherwise each
        call opens and closes its own)."""
        if self._shared is None:
            self._shared = self._client()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the pool of a ``with`` block (a no-op otherwise)."""
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

    def _run(self, operation: BatchOperation[T]) -> T:
        with self._http() as http:
            step = self._step(http, operation)
        assert isinstance(step, Done), "only results() emits"
        return cast(T, step.value)

    def _client(self) -> httpx.Client:
        return httpx.Client(**self._client_options())

    @contextlib.contextmanager
    def _http(self) -> Iterator[httpx.Client]:
        if self._shared is not None:
            yield self._shared
        else:
            with self._client() as http:
                yield http

    def _step(self, http: httpx.Client, operation: BatchOperation[Any]) -> Emit | Done:
        """Run ``operation`` until it emits a value or ends."""
        outcome: Any = None
        while not isinstance(step := advance(operation, outcome), Emit | Done):
            outcome = None
            if isinstance(step, Sleep):
                self._sleep(step.seconds)
                continue
            try:
                outcome = http.request(step.method, step.path, **request_options(step))
            except httpx.TransportError as exc:
                outcome = transport_error(step, exc)
        return step
