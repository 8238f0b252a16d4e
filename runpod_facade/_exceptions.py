"""The exception tree. Every error the SDK raises derives from :class:`RunpodError`; the
README's "Errors" section draws the whole tree, with the status of each class (and
tests/facade/test_error_tree.py checks the drawing against these classes). It follows
openai's: ``except APIError`` catches every failed request, whether no answer came
(:class:`APIConnectionError`), an error status (:class:`APIStatusError`) or an unusable reply
(:class:`APIResponseValidationError`).

Every error tied to a job carries ``job_id``: once the server has issued an id the caller
always gets it back, in the return value or on the exception.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypedDict, Unpack

from ._deferred import deferred_module

# ._types imports this module; the annotations that name its JobState import it when evaluated.
if TYPE_CHECKING:
    from . import _types
else:
    _types = deferred_module("runpod_facade._types")

__all__ = [
    "APIConnectionError",
    "APIError",
    "APIResponseValidationError",
    "APIStatusError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "ClientClosedError",
    "ConflictError",
    "InternalServerError",
    "InvalidInputError",
    "JobCancelled",
    "JobError",
    "JobFailed",
    "JobTimedOut",
    "NotFoundError",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "RateLimitError",
    "RunpodError",
    "StreamIdleTimeout",
    "UnprocessableEntityError",
    "WaitTimeout",
    "WebhookPayloadError",
]

_BODY_PREVIEW = 300


class RunpodError(Exception):
    """Base class of every error raised by runpod_facade. Every one pickles (a worker
    process can hand it back whole), whatever its constructor takes."""

    job_id: str | None = None

    def __reduce__(self) -> tuple[Any, ...]:
        # Exception's own pickling calls ``cls(*args)``, which keyword-only arguments break:
        # rebuild without __init__, then restore the attributes.
        return (_rebuilt, (type(self), self.args), self.__dict__)


def _subject(operation: str) -> str:
    """What an error's ``job_id`` names: the Batch Jobs API's operations carry a batch id."""
    return "batch" if operation.startswith("batch-") else "job"


def _rebuilt(cls: type[RunpodError], args: tuple[Any, ...]) -> RunpodError:
    error = cls.__new__(cls, *args)
    error.args = args  # OSError's __new__ (TimeoutError's) leaves them to __init__
    return error


class ClientClosedError(RunpodError):
    """The client was closed (``close()``/``aclose()`` or the end of its ``with`` block)."""


class InvalidInputError(RunpodError, ValueError):
    """An argument was rejected before any request was sent."""


class WebhookPayloadError(InvalidInputError):
    """A body given to :func:`runpod_facade.parse_webhook` is not a RunPod job: not JSON, not
    an object, no ``id`` or ``status`` string, or a field of the wrong type. A receiver
    answers it with 400. ``job_id`` is the id the body named, when it was a valid id."""

    def __init__(self, message: str, *, job_id: str | None = None) -> None:
        self.job_id = job_id
        super().__init__(message)


class APIError(RunpodError):
    """A request to the API went wrong: no answer (:class:`APIConnectionError`), an error
    status (:class:`APIStatusError`), or a success whose body breaks the contract
    (:class:`APIResponseValidationError`). As in openai's client, ``except APIError`` catches
    all three.

    Attributes:
        message: what happened (the server's own words for an error status).
        operation: the API operation (``run``, ``status`` …).
        job_id: the job concerned, when there is one.
    """

    def __init__(self, message: str, *, operation: str = "", job_id: str | None = None) -> None:
        self.message = message
        self.operation = operation
        self.job_id = job_id
        super().__init__(message)


class _Reply(APIError):
    """An error about an HTTP reply that did arrive: its status, body and headers."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        body: str = "",
        headers: Mapping[str, str] | None = None,
        operation: str = "",
        job_id: str | None = None,
    ) -> None:
        self.status_code = status_code
        self.body = body
        self.headers: Mapping[str, str] = dict(headers or {})
        super().__init__(message, operation=operation, job_id=job_id)

    def __str__(self) -> str:
        where = f"{self.operation} " if self.operation else ""
        job = f" ({_subject(self.operation)} {self.job_id})" if self.job_id else ""
        return f"{where}failed with HTTP {self.status_code}{job}: {self.message}"


class ReplyFields(TypedDict, total=False):
    """The optional keywords of an error about a reply, for subclasses that add their own."""

    body: str
    headers: Mapping[str, str] | None
    operation: str
    job_id: str | None


#: The class of each status that has one (``class NotFoundError(APIStatusError, status=404)``):
#: openai's classes for the statuses it names, and RunPod's 413.
STATUS_CLASSES: dict[int, type[APIStatusError]] = {}


class APIStatusError(_Reply):
    """The API answered with an HTTP error status.

    Attributes:
        status_code: the HTTP status code (an ``int``, also for non-IANA codes).
        body: the raw response body, decoded as text (an echoed API key masked).
        headers: the response headers.
        message, operation, job_id: as on :class:`APIError`.
    """

    def __init_subclass__(cls, *, status: int | None = None, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if status is not None:
            STATUS_CLASSES[status] = cls


class BadRequestError(APIStatusError, status=400):
    """400: the API rejected the request."""


class AuthenticationError(APIStatusError, status=401):
    """401: the API key is missing or wrong."""


class PermissionDeniedError(APIStatusError, status=403):
    """403: the API key is valid but not allowed on this endpoint."""


class NotFoundError(APIStatusError, status=404):
    """404: unknown endpoint or job, or a job whose result expired (TTL or retention)."""


class ConflictError(APIStatusError, status=409):
    """409: the request conflicts with the job's current state."""


class PayloadTooLargeError(APIStatusError, status=413):
    """413: the request body is over the API's limit."""


class UnprocessableEntityError(APIStatusError, status=422):
    """422: the request was well-formed but its content was refused."""


class RateLimitError(APIStatusError, status=429):
    """429: too many requests. ``retry_after`` is the server's hint in seconds, if any."""

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        status_code: int = 429,
        **fields: Unpack[ReplyFields],
    ) -> None:
        self.retry_after = retry_after
        super().__init__(message, status_code=status_code, **fields)


class InternalServerError(APIStatusError):
    """5xx, 499 or a non-IANA status (Cloudflare 520/524): the service or a proxy failed."""


class APIResponseValidationError(_Reply):
    """A success status whose body does not match the contract (not JSON, missing ``id`` …).
    ``status_code``, ``body`` and ``headers`` are the reply's, as on :class:`APIStatusError`,
    which this is not: the status said success."""


class APIConnectionError(APIError):
    """No HTTP answer was received.

    Attributes:
        request_sent: ``False`` when the request provably never reached the server (the
            connection could not be made), ``True`` when it may have been processed.
        message, operation, job_id: as on :class:`APIError`.
    """

    def __init__(
        self,
        message: str,
        *,
        operation: str = "",
        job_id: str | None = None,
        request_sent: bool = True,
    ) -> None:
        self.request_sent = request_sent
        super().__init__(message, operation=operation, job_id=job_id)

    def __str__(self) -> str:
        where = f"{self.operation}: " if self.operation else ""
        job = f" ({_subject(self.operation)} {self.job_id})" if self.job_id else ""
        return f"{where}{self.message}{job}"


class APITimeoutError(APIConnectionError, TimeoutError):
    """The HTTP request timed out (connect, write, read or waiting for a pooled connection)."""


class JobError(RunpodError):
    """The job ended in a terminal state other than COMPLETED. ``state`` is the whole snapshot;
    ``attempts`` every terminal state seen, oldest first, when ``retry_failed`` requeued it."""

    def __init__(self, state: _types.JobState) -> None:
        self.state = state
        self.job_id = state.id
        self.attempts: tuple[_types.JobState, ...] = (state,)
        super().__init__(self._describe())

    def _describe(self) -> str:
        return f"job {self.state.id} ended {self.state.status}"


class JobFailed(JobError):
    """The handler failed. ``error`` is the server's error text; ``error_details`` its JSON."""

    @property
    def error(self) -> str | None:
        return self.state.error

    @property
    def error_details(self) -> dict[str, object] | None:
        return self.state.error_details

    def _describe(self) -> str:
        details = self.state.error_details
        text = self.state.error
        if details is not None:
            kind = details.get("error_type")
            msg = details.get("error_message")
            if msg is not None:
                text = f"{kind}: {msg}" if kind else str(msg)
        if text and len(text) > _BODY_PREVIEW:
            text = text[:_BODY_PREVIEW] + "…"
        return f"job {self.state.id} FAILED: {text or 'no error message'}"


class JobCancelled(JobError):
    """The job was cancelled."""


class JobTimedOut(JobError):
    """The job timed out on the server (execution timeout, or expired before a worker took it).

    Live RunPod often reports an execution timeout differently: it reruns the job once and
    then ends it FAILED with ``"job timed out after 1 retries"`` (``retries: 1``), which
    raises :class:`JobFailed`. ``exc.state.is_timeout`` is true for both forms.
    """


class WaitTimeout(RunpodError, TimeoutError):
    """The client-side deadline passed before the job finished. The job itself goes on
    (unless ``cancelled`` is true: then a cancel was sent on the caller's behalf).

    Attributes:
        job_id: the job (the batch, from ``ep.batches.wait`` and ``map(via="batch-api")``).
        last_state: the last snapshot seen, or ``None`` if none arrived.
        timeout: the deadline in seconds.
        cancelled: whether the remote job was cancelled because of this timeout.
    """

    job_id: str

    def __init__(
        self,
        job_id: str,
        *,
        timeout: float | None,
        last_state: _types.JobState | None = None,
        cancelled: bool = False,
        reason: str = "did not finish",
        subject: str = "job",
        progress: str | None = None,
    ) -> None:
        self.job_id = job_id
        self.timeout = timeout
        self.last_state = last_state
        self.cancelled = cancelled
        if progress is None:
            status = last_state.status if last_state is not None else "unknown"
            progress = f"last status {status}"
        limit = f" within {timeout:g}s" if timeout is not None else ""
        tail = f"; the {subject} was cancelled" if cancelled else ""
        super().__init__(f"{subject} {job_id} {reason}{limit} ({progress}){tail}")


class StreamIdleTimeout(WaitTimeout):
    """The stream produced no chunk within ``idle_timeout`` seconds."""
