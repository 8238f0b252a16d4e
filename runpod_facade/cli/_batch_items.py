"""What each item of a ``batch`` becomes: its OUTPUT line, and whether it stops the batch
(:class:`Breaker`: submits that cannot succeed, whatever the line)."""

from __future__ import annotations

from typing import Any

from .._batches.types import BatchItem
from .._exceptions import (
    APIConnectionError,
    APIStatusError,
    InternalServerError,
    JobFailed,
    RateLimitError,
    RunpodError,
)
from ._batch_input import BadLine
from ._errors import cli_terms
from ._exit import EXIT_API_ERROR, EXIT_CONNECTION_ERROR

__all__ = ["Breaker", "Stopped", "result_record"]

#: Submits refused so are the same for every line (a wrong key or endpoint id): stop.
_REFUSED = frozenset({401, 403, 404})


class Stopped(Exception):
    """The batch stopped early: the API refuses or keeps failing every submit. ``code``
    is the exit code; ``error`` the last item's error."""

    def __init__(self, error: RunpodError, code: int, why: str) -> None:
        super().__init__(why)
        self.error = error
        self.code = code


class Breaker:
    """Stops a batch whose submits cannot succeed: refused as a wrong key or endpoint id
    would be (401/403/404, at the first one), or failing with no answer, a server error or
    a long 429 ``limit`` times in a row without a job ending meanwhile. Otherwise a dead
    API would have every line of a million-line file tried, and fail, one by one."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.failures = 0

    def check(self, item: BatchItem) -> None:
        """Count ``item``; raise :class:`Stopped` if the batch is to stop."""
        error = item.error
        if item.final:
            self.failures = 0
            return
        if (
            isinstance(error, APIStatusError)
            and item.job_id is None
            and error.status_code in _REFUSED
        ):
            raise Stopped(error, EXIT_API_ERROR, "the API refused the submit")
        if isinstance(error, APIConnectionError | InternalServerError | RateLimitError):
            self.failures += 1
            if self.failures >= self.limit:
                no_answer = isinstance(error, APIConnectionError)
                code = EXIT_CONNECTION_ERROR if no_answer else EXIT_API_ERROR
                raise Stopped(error, code, f"{self.failures} requests in a row failed")


def _error_json(error: RunpodError | None, bad: BadLine | None) -> dict[str, Any] | None:
    if bad is not None:
        return {"type": "InvalidInputError", "message": f"the line is {bad.reason}"}
    if error is None:
        return None
    data: dict[str, Any] = {"type": type(error).__name__, "message": cli_terms(str(error))}
    if isinstance(error, JobFailed):
        # The worker's error as RunPod reported it: parsed JSON, else its text.
        details = error.error_details if error.error_details is not None else error.error
        if details is not None:
            data["details"] = details
    return data


def result_record(item: BatchItem, bad: BadLine | None) -> dict[str, Any]:
    """The OUTPUT line of a final ``item`` (``bad``: the line was no job input)."""
    record = {
        "line": item.index + 1,
        "id": item.job_id,
        "status": None if item.status is None else str(item.status),
        "output": item.output,
        "error": _error_json(item.error, bad),
    }
    if item.possibly_duplicated:
        record["possibly_duplicated"] = True
    return record
