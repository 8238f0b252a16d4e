"""Error replies: the typed exception for an HTTP error status, and the job an error reply may
describe (RunPod answers a failed ``/runsync`` with HTTP 400 and the failed job)."""

from __future__ import annotations

from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from .._exceptions import STATUS_CLASSES, APIStatusError, InternalServerError, RateLimitError
from .._logging import redact
from .._status import is_terminal
from .._transports.base import ApiRequest, ApiResponse
from .._types import JobState
from .bodies import BodyShapeError, decode_object
from .replies import _id_in_text, _preview, job_state_from_object, parse_retry_after

__all__ = ["error_from_response", "is_server_failure", "job_in_error_reply"]


def _error_data(response: ApiResponse) -> dict[str, Any] | None:
    try:
        return decode_object(response.content)
    except BodyShapeError:  # also a body nested too deeply to decode
        return None


def _server_message(response: ApiResponse, data: Any) -> str:
    """The server's own words: JSON ``error``/``message`` if there, else the text itself."""
    text = response.text.strip()
    if not text:
        return "(empty body)"
    if data is not None:
        for key in ("error", "message", "detail"):
            value = data.get(key)
            if isinstance(value, str) and value:
                return _preview(value)
    return _preview(text)


def job_in_error_reply(response: ApiResponse, request: ApiRequest) -> JobState | None:
    """The job an error reply describes, if its body is a terminal job.

    RunPod's public endpoints answer a failed ``/runsync`` with HTTP 400 and the failed job
    (``{"id": …, "status": "FAILED", "error": …}``); that is the job's outcome, not a
    rejected request."""
    if request.reply not in ("Job", "JobSubmitted", "CancelResponse"):
        return None
    data = _error_data(response)
    if data is None or not isinstance(data.get("id"), str):
        return None
    try:
        state = job_state_from_object(data, response.content, expected_id=request.job_id)
    except BodyShapeError:
        return None
    return state if is_terminal(state.status) else None


def error_from_response(response: ApiResponse, request: ApiRequest) -> APIStatusError:
    """The typed exception for an HTTP error reply. Its ``job_id`` is the request's job, or
    the one the body names."""
    return status_error(response, operation=request.operation, job_id=request.job_id)


def status_error(
    response: ApiResponse,
    *,
    operation: str,
    job_id: str | None = None,
    classes: Mapping[int, type[APIStatusError]] | None = None,
) -> APIStatusError:
    """The typed exception for an error reply to ``operation``, for every API of the
    package (the job API, the Batch Jobs API): the server's message, the body and headers
    with an echoed API key masked, ``retry_after`` on a 429, and ``job_id`` — the one given,
    else the one the body names. ``classes`` overrides the class of some statuses."""
    code = response.status_code
    data = _error_data(response)
    # A server or proxy may echo the Authorization header back: mask the key everywhere.
    message = redact(_server_message(response, data))
    if job_id is None:
        named = data.get("id") if data is not None else _id_in_text(response.text)
        job_id = named if isinstance(named, str) and named else None
    common: dict[str, Any] = {
        "status_code": code,
        "body": redact(response.text),
        "headers": response.headers,
        "operation": operation,
        "job_id": job_id,
    }
    if code == 429:
        return RateLimitError(message, retry_after=parse_retry_after(response.headers), **common)
    kind = (classes or {}).get(code) or STATUS_CLASSES.get(code)
    if kind is None:
        kind = InternalServerError if is_server_failure(code) else APIStatusError
    return kind(message, **common)


_IANA_CODES = frozenset(status.value for status in HTTPStatus)


def is_server_failure(code: int) -> bool:
    """Every 5xx, and codes outside the IANA registry: no answer of the service's own, but a
    proxy's or a load balancer's (Cloudflare 520-527, nginx 444/499, AWS ELB 460/463)."""
    return code >= 500 or code not in _IANA_CODES
