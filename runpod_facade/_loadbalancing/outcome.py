"""Turning what httpx reported into the core's terms, and the core's verdicts into this SDK's
errors. Shared by the sync and async clients (they differ only in how they wait and read)."""

from __future__ import annotations

import httpx

from .._exceptions import APIConnectionError, APIError, APITimeoutError
from .._logging import logger, redact
from .affinity import worker_id
from .core import CLASSIFY_BODY_LIMIT, Attempts, Failure, classify
from .errors import MESSAGES, PLATFORM_ERRORS, PlatformError
from .prepare import Prepared
from .settings import CONNECT_TIMEOUT

__all__ = [
    "attempt_timeout",
    "connection_error",
    "failure_of",
    "is_sent",
    "log_resend",
    "must_read",
    "reply_error",
    "timeout_error",
]


def attempt_timeout(seconds: float | None) -> httpx.Timeout:
    """httpx's timeouts for one attempt that may take ``seconds`` (``None``: no limit)."""
    connect = CONNECT_TIMEOUT if seconds is None else min(CONNECT_TIMEOUT, seconds)
    return httpx.Timeout(seconds, connect=connect)


def is_sent(exc: httpx.TransportError) -> bool:
    """False only when the request provably never reached the router."""
    return not isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout))


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
    error = PLATFORM_ERRORS[failure.value](
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
    sent = is_sent(exc)
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
