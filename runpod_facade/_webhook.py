"""Reading what RunPod POSTs to a job's ``webhook`` URL when the job ends."""

from __future__ import annotations

import json
import math
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
    mapping, e.g. from ``await request.json()``). The returned :class:`JobState` keeps the
    whole body in ``raw_json``: ``state.to_dict()`` has the echoed ``input`` and ``webhook``
    as well as fields this SDK does not model.

    **The payload is unauthenticated.** RunPod signs nothing, so anyone who learns the URL can
    POST a convincing body. Treat it as a hint: when acting on it matters (billing, releasing
    results), confirm with ``ep.status(state.id)``, and keep the URL unguessable
    (:func:`webhook_url`). Delivery is at least once: RunPod re-sends (twice more, 10 s apart)
    when the receiver does not answer 2xx in time, so make handling idempotent on
    ``state.id`` (:class:`WebhookDeduplicator`) and answer quickly (queue slow work).

    Raises:
        WebhookPayloadError: (an :class:`InvalidInputError`, so also a ``ValueError``) the
            body is not a job: not JSON, not a JSON object, no non-empty ``id`` or no
            ``status`` string, an ``id`` that is no valid job id, or a field of the wrong
            type (``delayTime``/``executionTime``/``retries`` not numbers, ``workerId``/
            ``webhook`` not strings), or a number JSON cannot carry (``NaN``, ``Infinity``,
            ``-Infinity``, or one too large for a float), anywhere in the body. A receiver
            answers it with 400.
    """
    data, raw_json, not_json = _decode(body)
    job_id = data.get("id")
    job_id = job_id if isinstance(job_id, str) and job_id else None
    if job_id is not None:
        try:
            check_id(job_id, "the job id")
        except InvalidInputError as exc:
            # Not echoed: the value is untrusted and may be what breaks a log line.
            raise WebhookPayloadError(f"not a RunPod webhook payload: {exc}") from None
    if not_json is not None:
        # Python's json module reads these, JSON does not: the SDK refuses them everywhere.
        raise WebhookPayloadError(f"not a RunPod webhook payload: {not_json}", job_id=job_id)
    try:
        return job_state_from_object(data, raw_json, field_types=_WEBHOOK_FIELD_TYPES)
    except BodyShapeError as exc:
        raise WebhookPayloadError(
            f"not a RunPod webhook payload: {exc.why}", job_id=exc.job_id
        ) from None


def _decode(body: object) -> tuple[dict[str, Any], bytes, str | None]:
    """The body as an object, as the JSON bytes the state keeps, and why a number in it is
    not JSON (``None`` when every number is)."""
    try:
        if isinstance(body, Mapping):
            # Re-decoded from its JSON text: the state shares nothing mutable with the caller,
            # and a mapping that JSON could not have carried is refused like a bad body.
            body = _dumps(body)
        if isinstance(body, str):
            data, not_json = _loads(body)
            return data, _utf8(body), not_json
        if isinstance(body, bytes | bytearray | memoryview):
            raw_json = bytes(body)
            data, not_json = _loads(raw_json)
            return data, raw_json, not_json
        raise BodyShapeError(f"expected a JSON object, got {type(body).__name__}")
    except BodyShapeError as exc:
        raise WebhookPayloadError(f"not a RunPod webhook payload: {exc.why}") from None


def _loads(content: bytes | str) -> tuple[dict[str, Any], str | None]:
    """``content`` decoded as one JSON object, and the first number in it that JSON has no
    form for (``json.loads`` reads ``NaN``, ``Infinity`` and overflowing numbers as floats)."""
    not_json: list[str] = []

    def constant(name: str) -> float:
        not_json.append(f"`{name}` is not a JSON number")
        return math.nan

    def number(text: str) -> float:
        value = float(text)
        if math.isinf(value):  # e.g. 1e999; the text itself is not echoed (it is untrusted)
            not_json.append("a number is too large for a float")
        return value

    data = decode_object(content, parse_constant=constant, parse_float=number)
    return data, (not_json[0] if not_json else None)


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
