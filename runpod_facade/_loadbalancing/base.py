"""What the sync and async load-balancing clients share: settings, addresses, request checks,
and each call written once as an operation, a generator of the I/O it needs (:class:`Send`,
:class:`Discard`, a float: sleep that long), which each client performs in its own way. The
operations turn what httpx reports into the core's terms, and its verdicts into errors."""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, NoReturn, TypeVar

import httpx

from .._core.deadline import Deadline
from .._exceptions import (
    STATUS_CLASSES,
    APIConnectionError,
    APIError,
    APITimeoutError,
    ClientClosedError,
    InvalidInputError,
)
from .._logging import logger, redact
from .._transports.httpx import NEVER_SENT
from .affinity import Affinity, AffinityMode, worker_id
from .core import CLASSIFY_BODY_LIMIT, Action, Attempts, Failure, ReadyPoll, classify
from .errors import MESSAGES, PLATFORM_ERRORS, NotReadyError, PlatformError
from .prepare import Prepared, RequestOptions, _Timeout, prepare
from .settings import CONNECT_TIMEOUT, LBSettings

__all__ = ["Discard", "EndpointBase", "Operation", "PinnedBase", "Send", "must_read"]

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


def attempt_timeout(seconds: float | None) -> httpx.Timeout:
    """httpx's timeouts for one attempt that may take ``seconds`` (``None``: no limit)."""
    connect = CONNECT_TIMEOUT if seconds is None else min(CONNECT_TIMEOUT, seconds)
    return httpx.Timeout(seconds, connect=connect)


def must_read(response: httpx.Response) -> bool:
    """Whether the body is needed to tell a platform reply from a worker's (400/404, short)."""
    if response.status_code not in (400, 404):
        return False
    length = response.headers.get("content-length")
    return length is None or (length.isdigit() and int(length) <= CLASSIFY_BODY_LIMIT)


def failure_of(response: httpx.Response) -> Failure | None:
    """The platform failure a reply is (its body read when :func:`must_read`), or ``None``."""
    body = response.content if must_read(response) else b""
    return classify(response.status_code, body, has_worker_id=worker_id(response) is not None)


def reply_error(
    failure: Failure, response: httpx.Response, prep: Prepared, attempts: int
) -> APIError:
    """The typed error of a platform reply (its body must have been read)."""
    kind = PLATFORM_ERRORS[failure.value]
    if failure is Failure.AUTH:  # 401 or 403: the classes the queue API raises for them
        kind = STATUS_CLASSES[response.status_code]
    error = kind(
        MESSAGES[failure.value],
        status_code=response.status_code,
        body=redact(response.text[:2000]),
        headers=response.headers,
        operation=prep.operation,
    )
    if isinstance(error, PlatformError):
        pinned = prep.affinity.worker_id if prep.affinity is not None else None
        error.worker_id = worker_id(response) or pinned
        error.attempts = attempts
    return error


def timeout_error(prep: Prepared, attempts: Attempts, *, sent: bool) -> APITimeoutError:
    limit = prep.timeout
    within = f" within {limit:g}s" if limit is not None else ""
    tried = f" ({attempts.sent} attempts)" if attempts.sent > 1 else ""
    if attempts.cold_starts:
        tried += f"; no worker was ready on {attempts.cold_starts} of them"
    return APITimeoutError(f"no reply{within}{tried}", operation=prep.operation, request_sent=sent)


def connection_error(
    exc: httpx.TransportError, prep: Prepared, attempts: Attempts
) -> APIConnectionError:
    sent = not isinstance(exc, NEVER_SENT)
    what = "the reply was lost" if sent else "could not connect"
    detail = redact(str(exc)) or type(exc).__name__
    tried = f" after {attempts.sent} attempts" if attempts.sent > 1 else ""
    return APIConnectionError(
        f"{what}{tried} ({type(exc).__name__}: {detail})",
        operation=prep.operation,
        request_sent=sent,
    )


def log_resend(prep: Prepared, attempts: Attempts, delay: float, why: str) -> None:
    """One debug line per resend (method, path and reason only: never headers or bodies)."""
    logger.debug(
        "load-balancing %s: attempt %d %s; sending again in %.3f s",
        prep.operation,
        attempts.sent,
        why,
        delay,
    )


class EndpointBase:
    """Settings and addresses of one load-balancing endpoint, and its calls as operations."""

    _settings: LBSettings
    _clock: Callable[[], float]
    _http: httpx.Client | httpx.AsyncClient
    _closed = False

    @property
    def endpoint_id(self) -> str:
        return self._settings.endpoint_id

    def __reduce__(self) -> NoReturn:
        # A client holds connections and the API key: neither belongs in a pickle or a copy.
        raise TypeError(
            f"{type(self).__name__} cannot be pickled (it holds connections and the API key); "
            "create a client in each process"
        )

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
        unknown = sorted(options.keys() - RequestOptions.__annotations__.keys())
        if unknown:
            # Named here: Python's own message would name prepare(), not the caller's method.
            known = ", ".join(RequestOptions.__annotations__)
            raise TypeError(f"unexpected keyword argument {unknown[0]!r} (a request takes {known})")
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
        deadline = Deadline(prep.timeout, clock=self._clock)
        attempts = Attempts(self._settings.policy, deadline, repeatable=prep.repeatable)
        while True:
            attempts.start()
            try:
                response: httpx.Response = yield Send(
                    self._build(prep, attempts.attempt_timeout()), stream
                )
            except httpx.TransportError as exc:
                sent = not isinstance(exc, NEVER_SENT)
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
            self._settings.policy, Deadline(prep.timeout, clock=self._clock), repeatable=False
        )
        attempts.start()
        try:
            response: httpx.Response = yield Send(self._build(prep, attempts.attempt_timeout()))
        except httpx.TimeoutException as exc:
            raise timeout_error(prep, attempts, sent=not isinstance(exc, NEVER_SENT)) from exc
        except httpx.TransportError as exc:
            raise connection_error(exc, prep, attempts) from exc
        return response

    def _wait_ready(self, timeout: float | timedelta | None) -> Operation[httpx.Response]:
        """``/ping`` polled as :class:`ReadyPoll` decides, until a worker answers 200."""
        prep = self._prepare("GET", "/ping", {"timeout": timeout, "idempotent": False})
        poll = ReadyPoll(self._settings.policy, Deadline(prep.timeout, clock=self._clock))
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
                raise NotReadyError(prep.timeout, poll.last_status, poll.polls)
            yield decision.delay

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.endpoint_id!r}, url={self.url!r})"


class PinnedBase:
    """What both pinned sessions share: the worker they pin to, and refusing outside the block
    (before it, a session would pin with no end; after it, nothing is pinned any more)."""

    #: ``with`` or ``async with``: how the session is opened, for the error outside it.
    _block = "with"

    def __init__(self, mode: AffinityMode, worker_id: str | None) -> None:
        self.mode: AffinityMode = mode
        Affinity("probe", mode)  # checks the mode before any call
        self.worker_id: str | None = None if worker_id is None else Affinity(worker_id).worker_id
        self._open = False
        self._ended = False

    @property
    def affinity(self) -> Affinity | None:
        """The affinity the next call carries: ``None`` until a reply names its worker, unless
        the session was pinned to a ``worker_id`` from the start."""
        return None if self.worker_id is None else Affinity(self.worker_id, self.mode)

    def _pin(self, options: RequestOptions) -> RequestOptions:
        self._check_not_ended()
        if not self._open:
            raise ClientClosedError(
                f"a pinned session works inside its block: {self._block} ep.pinned() as session: "
                "session.post(...)"
            )
        if "affinity" in options:
            raise InvalidInputError("a pinned session sets affinity itself")
        return {**options, "affinity": self.affinity}

    def _served(self, response: httpx.Response) -> httpx.Response:
        self.worker_id = worker_id(response) or self.worker_id
        return response

    def _check_not_ended(self) -> None:
        if self._ended:
            raise ClientClosedError(
                f"this pinned session has ended (its {self._block} block exited)"
            )

    def _begin(self) -> None:
        self._check_not_ended()
        self._open = True

    def _end(self) -> None:
        self._open = False
        self._ended = True
        self.worker_id = None
