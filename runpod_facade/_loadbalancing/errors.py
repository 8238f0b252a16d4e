"""The load-balancing platform's own failures, as typed errors of this SDK's tree (drawn in
``docs/load-balancing.md``). A worker's own replies (any status its HTTP server chooses) are
returned, never raised; these are the replies the platform's router gives instead, plus
:class:`NotReadyError` and :class:`RequestTooLargeError`.

Each router error carries ``worker_id`` when one is known (the reply's ``X-Runpod-Worker-Id``,
else the worker the request was pinned to) and ``attempts``, the times the request was sent.
"""

from __future__ import annotations

from typing import Unpack

from .._exceptions import (
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    InternalServerError,
    InvalidInputError,
    NotFoundError,
    PayloadTooLargeError,
    ReplyFields,
)

__all__ = [
    "MESSAGES",
    "PLATFORM_ERRORS",
    "AffinityTimeoutError",
    "AffinityWorkerGoneError",
    "NoWorkersAvailableError",
    "NotReadyError",
    "PlatformError",
    "ProcessingTimeoutError",
    "RequestTooLargeError",
    "WorkerUnreachableError",
]


class PlatformError(APIStatusError):
    """A reply of the load-balancing router itself, not of a worker (mixed into each type)."""

    worker_id: str | None = None
    attempts: int = 1

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        worker_id: str | None = None,
        attempts: int = 1,
        **fields: Unpack[ReplyFields],
    ) -> None:
        super().__init__(message, status_code=status_code, **fields)
        self.worker_id = worker_id
        self.attempts = attempts

    def __str__(self) -> str:
        text = super().__str__()
        if self.worker_id:
            text += f" [worker {self.worker_id}]"
        if self.attempts > 1:
            text += f" after {self.attempts} attempts"
        return text


class NoWorkersAvailableError(PlatformError, BadRequestError):
    """400 "no workers available": no worker was ready within the router's wait (2 min on
    RunPod). The request reached no worker, so it was retried within its deadline first."""


class AffinityTimeoutError(PlatformError, BadRequestError):
    """400 ``worker_timeout``: strict affinity, and the pinned worker did not free up in time."""


class AffinityWorkerGoneError(PlatformError, NotFoundError):
    """404 ``affinity_worker_gone``: strict affinity to a worker no longer in the active set.
    Send the next request unpinned (or pinned softly) to reach another worker."""


class WorkerUnreachableError(PlatformError, InternalServerError):
    """502: the router could not reach a worker's HTTP server (on RunPod, a misconfigured
    ``PORT``). No worker saw the request, so it was retried within its deadline first."""


class ProcessingTimeoutError(PlatformError, InternalServerError):
    """524: the worker did not answer within the processing limit (5.5 min on RunPod). The
    worker may still be processing the request."""


class NotReadyError(APITimeoutError):
    """``wait_ready(timeout=)`` passed without a healthy worker. ``last_status`` is the last
    ``/ping`` status seen (204: a worker was still initializing; ``None``: no reply)."""

    def __init__(self, timeout: float | None, last_status: int | None, polls: int) -> None:
        self.timeout = timeout
        self.last_status = last_status
        self.polls = polls
        within = f" within {timeout:g}s" if timeout is not None else ""
        seen = "no reply" if last_status is None else f"last /ping status {last_status}"
        super().__init__(
            f"no worker became ready{within} ({polls} polls, {seen})",
            operation="wait_ready",
            request_sent=True,
        )


class RequestTooLargeError(InvalidInputError):
    """The request body is over the platform's limit (30 MiB); nothing was sent."""

    def __init__(self, size: int, limit: int) -> None:
        self.size = size
        self.limit = limit
        super().__init__(
            f"request body is {size:,} bytes; a load-balancing endpoint accepts at most "
            f"{limit:,} bytes. Upload large data elsewhere (e.g. a network volume or S3) and "
            "pass a reference instead."
        )


#: The error of each platform failure, by ``core.Failure`` value, and its message.
PLATFORM_ERRORS: dict[str, type[APIStatusError]] = {
    "no_workers": NoWorkersAvailableError,
    "unreachable": WorkerUnreachableError,
    "processing_timeout": ProcessingTimeoutError,
    "affinity_worker_gone": AffinityWorkerGoneError,
    "worker_timeout": AffinityTimeoutError,
    "auth": AuthenticationError,
    "too_large": PayloadTooLargeError,
}
MESSAGES = {
    "no_workers": "no workers available (no worker became ready in time)",
    "unreachable": "no worker could be reached (502; is the worker listening on PORT?)",
    "processing_timeout": "the worker did not answer within the processing limit (524)",
    "affinity_worker_gone": "the pinned worker is gone (affinity_worker_gone)",
    "worker_timeout": "the pinned worker did not become available in time (worker_timeout)",
    "auth": "the API key was refused",
    "too_large": "the request body is over the endpoint's limit",
}
