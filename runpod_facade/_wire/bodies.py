"""A reply body decoded as one JSON object, and the error that says it is not of the shape
expected of it (:class:`BodyShapeError`), shared by every parser of a body."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

__all__ = ["BodyShapeError", "decode_object", "require_object"]

_Hook = Callable[[str], Any] | None
# json.loads without its three Python-level layers, for the common case (see decode_object).
_scan: Callable[[str, int], tuple[Any, int]] = json.JSONDecoder().scan_once  # type: ignore[attr-defined]


class BodyShapeError(ValueError):
    """A body that is not the JSON shape expected of it. ``why`` says what is wrong and
    ``job_id`` is the job the body named, if any. Callers turn it into their own error:
    APIResponseValidationError for a reply, WebhookPayloadError for a webhook."""

    def __init__(self, why: str, job_id: str | None = None) -> None:
        self.why = why
        self.job_id = job_id
        super().__init__(why)


def decode_object(
    content: bytes | str, *, parse_constant: _Hook = None, parse_float: _Hook = None
) -> dict[str, Any]:
    """``content`` decoded as one JSON object; BodyShapeError if it is not one. The hooks are
    ``json.loads``'s (a webhook uses them to find ``NaN`` and ``1e999``)."""
    data: Any = None
    end = -1  # where json's scanner ended the object at the start of a reply (none: -1)
    try:
        if isinstance(content, bytes) and content[:1] == b"{" and content[1:2] != b"\0":
            # What json.loads(bytes) would detect (UTF-8: no BOM, no NUL byte), without its
            # Python-level detection on every reply.
            content = content.decode("utf-8", "surrogatepass")
            if parse_constant is None and parse_float is None:
                try:
                    data, end = _scan(content, 0)
                except StopIteration:  # not JSON: json.loads says so below
                    end = -1
        if end != len(content):  # more after the object, not JSON, or hooks: as json decides
            data = json.loads(content, parse_constant=parse_constant, parse_float=parse_float)
    except ValueError:  # also invalid UTF-8 (UnicodeDecodeError)
        raise BodyShapeError("the body is not JSON") from None
    except RecursionError:
        raise BodyShapeError("the body is nested too deeply") from None
    return data if data.__class__ is dict else require_object(data)


def require_object(data: Any) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise BodyShapeError(f"expected a JSON object, got {type(data).__name__}")
    return data
