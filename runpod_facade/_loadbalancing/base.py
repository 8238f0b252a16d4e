"""What the sync and async load-balancing clients share: settings, addresses, request checks,
and each call written once as an operation, a generator of the I/O it needs (:class:`Send`,
:class:`Discard`, a float: sleep that long), which each client performs in its own way."""

from __future__ import annotations

import time
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx

from .._exceptions import ClientClosedError, InvalidInputError
from .affinity import Affinity, AffinityMode, worker_id
from .core import Action, Attempts, Deadline, ReadyPoll
from .errors import NotReadyError
from .outcome import (
    attempt_timeout,
    connection_error,
    failure_of,
    is_sent,
    log_resend,
    reply_error,
    timeout_error,
)
from .prepare import Prepared, RequestOptions, _Timeout, prepare
from .settings import LBSettings

__all__ = ["Discard", "EndpointBase", "Operation", "PinnedBase", "Send"]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Send:
    """Send ``request``; answer with the response, its body read unless ``stream`` (and not
    needed to classify it), or throw the ``httpx.TransportError`` into the operation."""

    request: httpx.Request
    stream: bool = False


@dataclass(frozen=True, slots=True)
class Discard:
    """Read what comes of ``response``'s body (only its status matters now), then close it."""

    response: httpx.Response


Operation = Generator[Send | Discard | float, Any, T]


class EndpointBase:
    """Settings and addresses of one load-balancing endpoint, and its calls as operations."""

    _settings: LBSettings
    _clock: Callable[[], float]
    _http: httpx.Client | httpx.AsyncClient
    _closed = False

    def _setup(self, settings: LBSettings, clock: Callable[[], float] | None) -> None:
        self._settings = settings
        self._clock = clock or time.monotonic

    @property
    def endpoint_id(self) -> str:
        return self._settings.endpoint_id

    @property
    def url(self) -> str:
        """The endpoint's root, ``https://{endpoint_id}.api.runpod.ai`` on RunPod; the worker's
        routes are under it."""
        return self._settings.base_url

    @property
    def openai_base_url(self) -> str:
        """``{url}/v1``: the ``base_url`` for ``openai.OpenAI`` when the worker serves the
        OpenAI routes (the vLLM load-balancing worker); pass the same API key."""
        return f"{self.url}/v1"

    @property
    def timeout(self) -> float | None:
        """The default deadline of one call, in seconds (``None``: no limit)."""
        return self._settings.timeout

    @staticmethod
    def worker_id(response: httpx.Response) -> str | None:
        """The worker that served ``response`` (its ``X-Runpod-Worker-Id``), or ``None``."""
        return worker_id(response)

    def _check_not_closed(self) -> None:
        """ClientClosedError once closed: no request, and no re-entry of a ``with`` block."""
        if self._closed:
            raise ClientClosedError("this load-balancing client is closed; create a new one")

    def _prepare(self, method: object, path: object, options: RequestOptions) -> Prepared:
        self._check_not_closed()
        settings = self._settings
        return prepare(
            method, path, default_timeout=settings.timeout, base_headers=settings.headers, **options
        )

    def _build(self, prep: Prepared, seconds: float | None) -> httpx.Request:
        return self._http.build_request(
            prep.method,
            self.url + prep.path,
            content=prep.content,
            params=prep.params,
            headers=prep.headers,
            timeout=attempt_timeout(seconds),
        )

    def _send(self, prep: Prepared, *, stream: bool) -> Operation[httpx.Response]:
        """One call: sent again as :class:`Attempts` decides, within one deadline."""
        deadline = Deadline(prep.timeout, self._clock)
        attempts = Attempts(self._settings.policy, deadline, repeatable=prep.repeatable)
        while True:
            attempts.start()
            try:
                response: httpx.Response = yield Send(
                    self._build(prep, attempts.attempt_timeout()), stream
                )
            except httpx.TransportError as exc:
                sent = is_sent(exc)
                timed_out = isinstance(exc, httpx.TimeoutException)
                decision = attempts.on_transport_error(sent=sent, timed_out=timed_out)
                if decision.action is Action.TIMEOUT:
                    raise timeout_error(prep, attempts, sent=sent) from exc
                if decision.action is Action.RAISE:
                    raise connection_error(exc, prep, attempts) from exc
                log_resend(prep, attempts, decision.delay, type(exc).__name__)
                yield decision.delay
                continue
            decision = attempts.on_reply(response.status_code, failure_of(response))
            if decision.action is Action.RETURN:
                return response
            yield Discard(response)
            if decision.action is not Action.RETRY:
                assert decision.failure is not None
                raise reply_error(decision.failure, response, prep, attempts.sent)
            log_resend(prep, attempts, decision.delay, f"got HTTP {response.status_code}")
            yield decision.delay

    def _ping(self, timeout: _Timeout) -> Operation[httpx.Response]:
        """One ``GET /ping``: no body, no affinity, never resent."""
        prep = self._prepare("GET", "/ping", {"timeout": timeout, "idempotent": False})
        attempts = Attempts(
            self._settings.policy, Deadline(prep.timeout, self._clock), repeatable=False
        )
        attempts.start()
        try:
            response: httpx.Response = yield Send(self._build(prep, attempts.attempt_timeout()))
        except httpx.TimeoutException as exc:
            raise timeout_error(prep, attempts, sent=is_sent(exc)) from exc
        except httpx.TransportError as exc:
            raise connection_error(exc, prep, attempts) from exc
        return response

    def _wait_ready(self, timeout: float | None) -> Operation[httpx.Response]:
        """``/ping`` polled as :class:`ReadyPoll` decides, until a worker answers 200."""
        prep = self._prepare("GET", "/ping", {"timeout": timeout, "idempotent": False})
        poll = ReadyPoll(self._settings.policy, Deadline(prep.timeout, self._clock))
        while True:
            try:
                response: httpx.Response = yield Send(self._build(prep, poll.attempt_timeout()))
            except httpx.TransportError:
                decision = poll.on_transport_error()
            else:
                decision = poll.on_reply(response.status_code, failure_of(response))
                if decision.action is Action.RETURN:
                    return response
                if decision.action is Action.RAISE and decision.failure is not None:
                    raise reply_error(decision.failure, response, prep, poll.polls)
            if decision.action is Action.TIMEOUT:
                raise NotReadyError(timeout, poll.last_status, poll.polls)
            yield decision.delay

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.endpoint_id!r}, url={self.url!r})"


class PinnedBase:
    """What both pinned sessions share: the worker they pin to, and refusing after the block."""

    def __init__(self, mode: AffinityMode, worker_id: str | None) -> None:
        self.mode: AffinityMode = mode
        Affinity("probe", mode)  # checks the mode before any call
        self.worker_id: str | None = None if worker_id is None else Affinity(worker_id).worker_id
        self._open = True

    @property
    def affinity(self) -> Affinity | None:
        """The affinity the next call carries (``None`` before the first reply)."""
        return None if self.worker_id is None else Affinity(self.worker_id, self.mode)

    def _pin(self, options: RequestOptions) -> RequestOptions:
        if not self._open:
            raise ClientClosedError("this pinned session has ended (its with block exited)")
        if "affinity" in options:
            raise InvalidInputError("a pinned session sets affinity itself")
        return {**options, "affinity": self.affinity}

    def _served(self, response: httpx.Response) -> httpx.Response:
        self.worker_id = worker_id(response) or self.worker_id
        return response

    def _end(self) -> None:
        self._open = False
        self.worker_id = None
