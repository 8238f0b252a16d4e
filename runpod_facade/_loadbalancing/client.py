"""The blocking load-balancing client: :class:`LoadBalancedEndpoint`."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any, Self, TypeVar, Unpack

import httpx

from .._drivers.api import Closing
from .._exceptions import InvalidInputError
from .._transports.httpx import DEFAULT_LIMITS
from .affinity import AffinityMode
from .base import Discard, EndpointBase, Operation, PinnedBase, Send, must_read
from .core import LBRetryPolicy
from .prepare import RequestOptions, _Timeout, spelled_out
from .settings import DEFAULT_LB_TIMEOUT, resolve

__all__ = ["LoadBalancedEndpoint", "PinnedSession"]

T = TypeVar("T")


class _Verbs:
    """``get`` … ``delete``: :meth:`request` with the method filled in."""

    def request(self, method: str, path: str, **options: Unpack[RequestOptions]) -> httpx.Response:
        raise NotImplementedError

    def get(self, path: str, **options: Unpack[RequestOptions]) -> httpx.Response:
        return self.request("GET", path, **options)

    def post(self, path: str, **options: Unpack[RequestOptions]) -> httpx.Response:
        return self.request("POST", path, **options)

    def put(self, path: str, **options: Unpack[RequestOptions]) -> httpx.Response:
        return self.request("PUT", path, **options)

    def patch(self, path: str, **options: Unpack[RequestOptions]) -> httpx.Response:
        return self.request("PATCH", path, **options)

    def delete(self, path: str, **options: Unpack[RequestOptions]) -> httpx.Response:
        return self.request("DELETE", path, **options)


class LoadBalancedEndpoint(EndpointBase, _Verbs, Closing):
    """A RunPod load-balancing endpoint: HTTP straight to a worker's own server.

    ``LoadBalancedEndpoint("ENDPOINT_ID")`` sends to ``https://ENDPOINT_ID.api.runpod.ai``
    with the key from ``RUNPOD_API_KEY``. Each call returns the worker's reply as an
    :class:`httpx.Response`, whatever its status; the platform's own failures raise typed
    errors (:class:`NoWorkersAvailableError`, :class:`AffinityWorkerGoneError` …).

    ``timeout`` is one deadline per call, cold-start retries included (default 480 s: the
    router may wait 2 min for a worker, which may then process for 5.5 min).
    ``max_retries`` bounds resends of a call that may have reached a worker (only for
    idempotent methods unless ``idempotent=True``) and of failed connections.
    """

    _http: httpx.Client

    def __init__(
        self,
        endpoint_id: str | None = None,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        timeout: float | timedelta | None = DEFAULT_LB_TIMEOUT,
        max_retries: int | None = None,
        retry_policy: LBRetryPolicy | None = None,
        allow_insecure_http: bool = False,
        http_client: httpx.Client | None = None,
    ) -> None:
        self._settings = resolve(
            endpoint_id,
            api_key=api_key,
            base_url=base_url,
            timeout=timeout,
            max_retries=max_retries,
            retry_policy=retry_policy,
            allow_insecure_http=allow_insecure_http,
        )
        if http_client is not None and not isinstance(http_client, httpx.Client):
            raise InvalidInputError(
                "http_client must be an httpx.Client (use AsyncLoadBalancedEndpoint for "
                f"httpx.AsyncClient), got {type(http_client).__name__}"
            )
        # What waits and reads the time: tests put a fake clock here.
        self._clock: Callable[[], float] = time.monotonic
        self._sleep: Callable[[float], None] = time.sleep
        self._owns_client = http_client is None
        self._http = http_client or httpx.Client(
            base_url=self.url, limits=DEFAULT_LIMITS, follow_redirects=False
        )

    def _run(self, operation: Operation[T]) -> T:
        """Perform ``operation``'s I/O, blocking, and return what it returns."""
        reply: Any = None
        error: httpx.TransportError | None = None
        while True:
            try:
                effect = operation.send(reply) if error is None else operation.throw(error)
            except StopIteration as stop:
                return stop.value  # type: ignore[no-any-return]
            reply, error = None, None
            if isinstance(effect, Send):
                try:
                    reply = self._http.send(effect.request, stream=effect.stream)
                    if effect.stream and must_read(reply):
                        reply.read()
                except httpx.TransportError as exc:
                    error = exc
            elif isinstance(effect, Discard):
                with contextlib.closing(effect.response), contextlib.suppress(httpx.TransportError):
                    effect.response.read()
            else:
                self._sleep(effect)

    # ------------------------------------------------------------------ requests

    @spelled_out
    def request(self, method: str, path: str, **options: Unpack[RequestOptions]) -> httpx.Response:
        """Send ``method path`` to a worker and return its reply (body read).

        Options, all keyword-only and optional: ``json=`` or ``content=`` (the body),
        ``params=``, ``headers=``, ``timeout=`` (seconds; default the client's, ``None``: no
        limit); ``affinity=`` pins the call to a worker (an :class:`Affinity` or the header
        form ``"strict <worker-id>"``); ``idempotent=True`` lets a POST be sent again after
        its reply was lost (``False`` forbids it for any method).
        """
        return self._run(self._send(self._prepare(method, path, options), stream=False))

    def head(self, path: str, **options: Unpack[RequestOptions]) -> httpx.Response:
        return self.request("HEAD", path, **options)

    def options(self, path: str, **options: Unpack[RequestOptions]) -> httpx.Response:
        return self.request("OPTIONS", path, **options)

    @contextlib.contextmanager
    @spelled_out
    def stream(
        self, method: str, path: str, **options: Unpack[RequestOptions]
    ) -> Iterator[httpx.Response]:
        """``with ep.stream("POST", "/generate", json=...) as r:`` then ``r.iter_lines()``
        (SSE) or ``r.iter_bytes()``. The deadline covers getting the reply's headers
        (cold-start retries included); each chunk after that may take up to ``timeout``."""
        prep = self._prepare(method, path, options)
        with contextlib.closing(self._run(self._send(prep, stream=True))) as response:
            yield response

    # ------------------------------------------------------------------ health

    def ping(self, *, timeout: _Timeout = ...) -> httpx.Response:
        """One ``GET /ping``, never resent, its reply returned whatever it is: 200 a worker
        is healthy, 204 one is initializing, the router's 400 "no workers available" …
        Raises only when no reply came (:class:`APIConnectionError`, ``APITimeoutError``)."""
        return self._run(self._ping(timeout))

    def wait_ready(self, *, timeout: float | timedelta | None = 120.0) -> httpx.Response:
        """Poll ``/ping`` until a worker answers 200 and return that reply (its worker id
        names the ready worker). 204 (initializing) is polled again every few tens of ms,
        other answers with backoff. Raises :class:`NotReadyError` (a ``TimeoutError``) when
        ``timeout`` passes, :class:`AuthenticationError` (401) or
        :class:`PermissionDeniedError` (403) when the key is refused."""
        return self._run(self._wait_ready(timeout))

    # ------------------------------------------------------------------ affinity

    def pinned(
        self, mode: AffinityMode = "strict", *, worker_id: str | None = None
    ) -> PinnedSession:
        """``with ep.pinned() as s:``: ``s.post(...)`` calls go to the worker that served the
        session's first call (or ``worker_id``), with ``mode`` affinity; nothing is pinned
        after the block, so the worker can go idle."""
        return PinnedSession(self, mode, worker_id)

    # ------------------------------------------------------------------ lifecycle

    def close(self) -> None:
        """Close the connection pool (unless it was passed in); idempotent."""
        self._closed = True
        if self._owns_client:
            self._http.close()

    def __enter__(self) -> Self:
        self._check_not_closed()
        return self


class PinnedSession(PinnedBase, _Verbs):
    """Calls pinned to one worker: the first goes anywhere (or to ``worker_id``), the next
    ones to the worker that served the last reply. Outside its ``with`` block it refuses."""

    def __init__(
        self, endpoint: LoadBalancedEndpoint, mode: AffinityMode, worker_id: str | None
    ) -> None:
        self._endpoint = endpoint
        super().__init__(mode, worker_id)

    def request(self, method: str, path: str, **options: Unpack[RequestOptions]) -> httpx.Response:
        return self._served(self._endpoint.request(method, path, **self._pin(options)))

    @contextlib.contextmanager
    def stream(
        self, method: str, path: str, **options: Unpack[RequestOptions]
    ) -> Iterator[httpx.Response]:
        with self._endpoint.stream(method, path, **self._pin(options)) as response:
            yield self._served(response)

    def __enter__(self) -> Self:
        self._begin()
        return self

    def __exit__(self, *exc: object) -> None:
        self._end()
