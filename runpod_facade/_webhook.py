"""Reading what RunPod POSTs to a job's ``webhook`` URL when the job ends."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from ._exceptions import InvalidInputError, WebhookPayloadError
from ._types import JobState
from ._validation import check_id
from ._wire.replies import JOB_FIELD_TYPES, BodyShapeError, decode_object, job_state_from_object

__all__ = ["parse_webhook"]

# The webhook body is the job's status body plus the echoed request fields; of those only
# `webhook` has a type to check (`input` is any JSON value).
_WEBHOOK_FIELD_TYPES = (*JOB_FIELD_TYPES, ("webhook", str))


def parse_webhook(body: bytes | str | Mapping[str, Any]) -> JobState:
    """The job a RunPod webhook delivery describes.

    When a job submitted with ``webhook=URL`` ends, RunPod POSTs to ``URL`` the job as
    ``/status`` returns it (``id``, ``status``, ``output``, ``error``, ``delayTime``,
    ``executionTime``, ``workerId``, ...) plus the job's ``input`` and ``webhook`` echoed
    back. Pass the request body as received (``bytes`` or ``str``), or already decoded (a
    mapping, e.g. from ``await request.json()``).

    The returned :class:`JobState` keeps the whole body in ``raw_json``: ``state.to_dict()``
    has the echoed ``input`` and ``webhook`` as well as fields this SDK does not model.

    **The payload is unauthenticated.** RunPod signs nothing, so anyone who learns the URL can
    POST a convincing body. Treat it as a hint: when acting on it matters (billing, releasing
    results), confirm with ``ep.status(state.id)`` — and keep the URL unguessable, for example
    with a random token in its path or query that your receiver checks.

    Delivery is at least once: RunPod re-sends (twice more, 10 s apart) when the receiver does
    not answer 2xx in time, so the same job can arrive more than once — make handling
    idempotent on ``state.id`` and answer quickly (queue slow work).

    Raises:
        WebhookPayloadError: (an :class:`InvalidInputError`, so also a ``ValueError``) the
            body is not a job: not JSON, not a JSON object, no non-empty ``id`` or no
            ``status`` string, an ``id`` that is no valid job id, or a field of the wrong
            type (``delayTime``/``executionTime``/``retries`` not numbers, ``workerId``/
            ``webhook`` not strings). A receiver answers it with 400.
    """
    data, raw_json = _decode(body)
    job_id = data.get("id")
    if isinstance(job_id, str) and job_id:
        try:
            check_id(job_id, "the job id")
        except InvalidInputError as exc:
            # Not echoed: the value is untrusted and may be what breaks a log line.
            raise WebhookPayloadError(f"not a RunPod webhook payload: {exc}") from None
    try:
        return job_state_from_object(data, raw_json, field_types=_WEBHOOK_FIELD_TYPES)
    except BodyShapeError as exc:
        raise WebhookPayloadError(
            f"not a RunPod webhook payload: {exc.why}", job_id=exc.job_id
        ) from None


def _decode(body: object) -> tuple[dict[str, Any], bytes]:
    """The body as an object and as the JSON bytes the state keeps."""
    try:
        if isinstance(body, bytes | bytearray | memoryview):
            raw_json = bytes(body)
            return decode_object(raw_json), raw_json
        if isinstance(body, str):
            return decode_object(body), _utf8(body)
        if isinstance(body, Mapping):
            # Re-decoded from its JSON text: the state shares nothing mutable with the caller,
            # and a mapping that JSON could not have carried is refused like a bad body.
            raw_json = _utf8(_dumps(body))
            return decode_object(raw_json), raw_json
        raise BodyShapeError(f"expected a JSON object, got {type(body).__name__}")
    except BodyShapeError as exc:
        raise WebhookPayloadError(f"not a RunPod webhook payload: {exc.why}") from None


def _dumps(body: Mapping[Any, Any]) -> str:
    try:
        return json.dumps(dict(body), ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise BodyShapeError(f"the mapping is not JSON data ({exc})") from None
    except RecursionError:
        raise BodyShapeError("the mapping is nested too deeply (or contains a cycle)") from None


def _utf8(text: str) -> bytes:
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        raise BodyShapeError("the body is not valid Unicode text") from None
