"""The blocking load-balancing client: :class:`LoadBalancedEndpoint`."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from types import EllipsisType, TracebackType
from typing import Any, Self

import httpx

from .._constants import DEFAULT_LIMITS
from .._exceptions import ClientClosedError, InvalidInputError
from .affinity import Affinity, AffinityMode
from .base import EndpointBase
from .core import Action, Attempts, Deadline, Decision, LBRetryPolicy, ReadyPoll
from .errors import NotReadyError
from .outcome import (
    attempt_timeout,
    connection_error,
    failure_of,
    is_sent,
    log_resend,
    must_read,
    reply_error,
    timeout_error,
)
from .prepare import Prepared
from .settings import DEFAULT_LB_TIMEOUT

__all__ = ["LoadBalancedEndpoint", "PinnedSession"]

_Timeout = float | EllipsisType | None


class LoadBalancedEndpoint(EndpointBase):
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

    def __init__(
        self,
        endpoint_id: str | None = None,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        timeout: float | None = DEFAULT_LB_TIMEOUT,
        max_retries: int | None = None,
        retry_policy: LBRetryPolicy | None = None,
        allow_insecure_http: bool = False,
        http_client: httpx.Client | None = None,
        clock: Callable[[], float] | None = None,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        self._setup(
            endpoint_id,
            api_key=api_key,
            base_url=base_url,
            timeout=timeout,
            max_retries=max_retries,
            retry_policy=retry_policy,
            allow_insecure_http=allow_insecure_http,
            clock=clock,
        )
        self._sleep = sleep or time.sleep
        self._owns_client = http_client is None
        self._http = http_client or self._new_client()

    def _new_client(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.url,
            limits=DEFAULT_LIMITS,
            follow_redirects=False,
        )

    # ------------------------------------------------------------------ requests

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        content: bytes | str | None = None,
        params: Any = None,
        headers: dict[str, str] | None = None,
        timeout: _Timeout = ...,
        affinity: Affinity | str | None = None,
        idempotent: bool | None = None,
    ) -> httpx.Response:
        """Send ``method path`` to a worker and return its reply (body read).

        ``affinity`` pins the call to a worker (an :class:`Affinity` or the header form
        ``"strict <worker-id>"``); ``idempotent=True`` lets a POST be sent again after its
        reply was lost (``False`` forbids it for any method).
        """
        prep = self._prepare(
            method,
            path,
            json=json,
            content=content,
            params=params,
            headers=headers,
            timeout=timeout,
            affinity=affinity,
            idempotent=idempotent,
        )
        return self._send(prep, stream=False)

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", path, **kwargs)

    def put(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("PUT", path, **kwargs)

    def patch(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("PATCH", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("DELETE", path, **kwargs)

    def head(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("HEAD", path, **kwargs)

    def options(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("OPTIONS", path, **kwargs)

    @contextlib.contextmanager
    def stream(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        content: bytes | str | None = None,
        params: Any = None,
        headers: dict[str, str] | None = None,
        timeout: _Timeout = ...,
        affinity: Affinity | str | None = None,
        idempotent: bool | None = None,
    ) -> Iterator[httpx.Response]:
        """``with ep.stream("POST", "/generate", json=...) as r:`` then ``r.iter_lines()``
        (SSE) or ``r.iter_bytes()``. The deadline covers getting the reply's headers
        (cold-start retries included); each chunk after that may take up to ``timeout``."""
        prep = self._prepare(
            method,
            path,
            json=json,
            content=content,
            params=params,
            headers=headers,
            timeout=timeout,
            affinity=affinity,
            idempotent=idempotent,
        )
        response = self._send(prep, stream=True)
        try:
            yield response
        finally:
            response.close()

    def _send(self, prep: Prepared, *, stream: bool) -> httpx.Response:
        attempts = Attempts(
            self._settings.policy, Deadline(prep.timeout, self._clock), repeatable=prep.repeatable
        )
        while True:
            attempts.start()
            request = self._http.build_request(
                prep.method,
                self.url + prep.path,
                content=prep.content,
                params=prep.params,
                headers=prep.headers,
                timeout=attempt_timeout(attempts.attempt_timeout()),
            )
            try:
                response = self._http.send(request, stream=True)
                if must_read(response) or not stream:
                    response.read()
            except httpx.TransportError as exc:
                sent = is_sent(exc)
                timed_out = isinstance(exc, httpx.TimeoutException)
                decision = attempts.on_transport_error(sent=sent, timed_out=timed_out)
                if decision.action is Action.TIMEOUT:
                    raise timeout_error(prep, attempts, sent=sent) from exc
                if decision.action is Action.RAISE:
                    raise connection_error(exc, prep, attempts) from exc
                log_resend(prep, attempts, decision.delay, type(exc).__name__)
                self._sleep(decision.delay)
                continue
            failure = failure_of(response)
            decision = attempts.on_reply(response.status_code, failure)
            if decision.action is Action.RETURN:
                return response
            self._finish(response, prep, attempts, decision)

    def _finish(
        self, response: httpx.Response, prep: Prepared, attempts: Attempts, decision: Decision
    ) -> None:
        """A reply that is not returned: raise its error, or wait before the next attempt."""
        try:
            response.read()
        except httpx.TransportError:
            pass  # only the status matters now
        finally:
            response.close()
        if decision.action is Action.RETRY:
            why = f"got HTTP {response.status_code}"
            log_resend(prep, attempts, decision.delay, why)
            self._sleep(decision.delay)
            return
        assert decision.failure is not None
        raise reply_error(decision.failure, response, prep, attempts.sent)

    # ------------------------------------------------------------------ health

    def ping(self, *, timeout: _Timeout = ...) -> httpx.Response:
        """One ``GET /ping``, never resent, its reply returned whatever it is: 200 a worker
        is healthy, 204 one is initializing, the router's 400 "no workers available" …
        Raises only when no reply came (:class:`APIConnectionError`, ``APITimeoutError``)."""
        prep = self._prepare_ping(timeout)
        attempts = Attempts(
            self._settings.policy, Deadline(prep.timeout, self._clock), repeatable=False
        )
        attempts.start()
        request = self._http.build_request(
            "GET",
            self.url + "/ping",
            headers=prep.headers,
            timeout=attempt_timeout(attempts.attempt_timeout()),
        )
        try:
            return self._http.send(request)
        except httpx.TimeoutException as exc:
            raise timeout_error(prep, attempts, sent=is_sent(exc)) from exc
        except httpx.TransportError as exc:
            raise connection_error(exc, prep, attempts) from exc

    def wait_ready(self, timeout: float | None = 120.0) -> httpx.Response:
        """Poll ``/ping`` until a worker answers 200 and return that reply (its worker id
        names the ready worker). 204 (initializing) is polled again every few tens of ms,
        other answers with backoff. Raises :class:`NotReadyError` (a ``TimeoutError``) when
        ``timeout`` passes, :class:`AuthenticationError` when the key is refused."""
        prep = self._prepare_ping(timeout)
        poll = ReadyPoll(self._settings.policy, Deadline(prep.timeout, self._clock))
        while True:
            request = self._http.build_request(
                "GET",
                self.url + "/ping",
                headers=prep.headers,
                timeout=attempt_timeout(poll.attempt_timeout()),
            )
            try:
                response = self._http.send(request)
            except httpx.TransportError:
                decision = poll.on_transport_error()
            else:
                failure = failure_of(response)
                decision = poll.on_reply(response.status_code, failure)
                if decision.action is Action.RETURN:
                    return response
                if decision.action is Action.RAISE and decision.failure is not None:
                    raise reply_error(decision.failure, response, prep, poll.polls)
            if decision.action is Action.TIMEOUT:
                raise NotReadyError(timeout, poll.last_status, poll.polls)
            self._sleep(decision.delay)

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

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class PinnedSession:
    """Calls pinned to one worker: the first goes anywhere (or to ``worker_id``), the next
    ones to the worker that served the last reply. Outside its ``with`` block it refuses."""

    def __init__(
        self, endpoint: LoadBalancedEndpoint, mode: AffinityMode, worker_id: str | None
    ) -> None:
        self._endpoint = endpoint
        self.mode: AffinityMode = mode
        Affinity("probe", mode)  # checks the mode before any call
        self.worker_id: str | None = None if worker_id is None else Affinity(worker_id).worker_id
        self._open = True

    @property
    def affinity(self) -> Affinity | None:
        """The affinity the next call carries (``None`` before the first reply)."""
        return None if self.worker_id is None else Affinity(self.worker_id, self.mode)

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        self._check_open(kwargs)
        response = self._endpoint.request(method, path, affinity=self.affinity, **kwargs)
        self.worker_id = self._endpoint.worker_id(response) or self.worker_id
        return response

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", path, **kwargs)

    def put(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("PUT", path, **kwargs)

    def patch(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("PATCH", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("DELETE", path, **kwargs)

    @contextlib.contextmanager
    def stream(self, method: str, path: str, **kwargs: Any) -> Iterator[httpx.Response]:
        self._check_open(kwargs)
        with self._endpoint.stream(method, path, affinity=self.affinity, **kwargs) as response:
            self.worker_id = self._endpoint.worker_id(response) or self.worker_id
            yield response

    def _check_open(self, kwargs: dict[str, Any]) -> None:
        if not self._open:
            raise ClientClosedError("this pinned session has ended (its with block exited)")
        if "affinity" in kwargs:
            raise InvalidInputError("a pinned session sets affinity itself")

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self._open = False
        self.worker_id = None
