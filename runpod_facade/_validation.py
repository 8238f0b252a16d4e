"""Checks that run before any request is sent, each with a message that says what to fix."""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from ._exceptions import InvalidInputError
from ._options import to_seconds

__all__ = [
    "check_base_url",
    "check_id",
    "check_webhook",
    "encode_body",
    "is_loopback_host",
]

_MAX_ID_LENGTH = 512
# Checked on every call, so one compiled scan instead of a per-character loop.
_BLANK_OR_CONTROL = re.compile(r"[\s\x00-\x1f\x7f]")


def not_a_string(value: object, what: str) -> InvalidInputError:
    """The error for an id that is not a string; a handle or a snapshot is told to pass its id."""
    hint = " (pass its .id)" if isinstance(getattr(value, "id", None), str) else ""
    return InvalidInputError(f"{what} must be a string, got {type(value).__name__}{hint}")


def check_id(value: object, what: str) -> str:
    """An endpoint or job id: a non-empty string without whitespace or control characters.

    Ids are opaque (slugs may contain dots and dashes) and are path-escaped when sent, so
    ``/`` or ``?`` cannot change the route; blank and control characters are always mistakes.
    """
    if not isinstance(value, str):
        raise not_a_string(value, what)
    if not value or not value.strip():
        raise InvalidInputError(f"{what} must not be empty")
    if len(value) > _MAX_ID_LENGTH:
        raise InvalidInputError(f"{what} is too long ({len(value)} characters)")
    if _BLANK_OR_CONTROL.search(value):
        raise InvalidInputError(f"{what} must not contain whitespace or control characters")
    if value in {".", ".."}:
        raise InvalidInputError(f"{what} must not be {value!r}")
    return value


def is_loopback_host(host: str) -> bool:
    if host.lower() in {"localhost", "localhost."}:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_base_url(url: object, *, allow_insecure_http: bool) -> str:
    """The API base URL (``https://api.runpod.ai/v2`` by default), without a trailing slash.

    Plain ``http://`` would send the API key in clear text, so it is refused for any host but
    loopback unless ``allow_insecure_http`` is set.
    """
    if not isinstance(url, str) or not url.strip():
        raise InvalidInputError(
            "base_url must be a non-empty string such as https://api.runpod.ai/v2"
        )
    parts = urlsplit(url.strip())
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise InvalidInputError(f"base_url must be an http(s) URL with a host, got {url!r}")
    if parts.query or parts.fragment:
        raise InvalidInputError("base_url must not have a query or a fragment")
    if parts.username or parts.password:
        raise InvalidInputError("base_url must not contain credentials; pass api_key instead")
    if parts.scheme == "http" and not allow_insecure_http and not is_loopback_host(parts.hostname):
        raise InvalidInputError(
            f"refusing plain http:// to non-loopback host {parts.hostname!r}: the API key would "
            "travel unencrypted. Use https://, or pass allow_insecure_http=True if you must."
        )
    return url.strip().rstrip("/")


def check_webhook(url: object) -> str:
    """A webhook must be an absolute http(s) URL; RunPod POSTs the job to it when it finishes."""
    if not isinstance(url, str) or not url.strip():
        raise InvalidInputError("webhook must be a non-empty URL string")
    if url != url.strip() or any(ord(ch) < 33 for ch in url):
        raise InvalidInputError("webhook must not contain whitespace or control characters")
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise InvalidInputError(f"webhook must be an absolute http(s) URL, got {url!r}")
    return url


# json.dumps with these options would build a new encoder on every call.
_ENCODER = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"))


# What _ENCODER.encode(body) runs for a dict, made once: it makes this C encoder anew on every
# call (two Python-level layers and a closure). Without `markers`, its cycle check, a cycle
# ends in RecursionError, and encode_body asks _ENCODER which of the two it was. The C
# encoder keeps no state between calls (threads may share it).
_make_encoder: Callable[..., Callable[[Any, int], list[str]]] | None = getattr(
    json.encoder,
    "c_make_encoder",
    None,  # None: an interpreter without the C accelerator
)
# Its arguments: markers, default, encoder, indent, key_separator, item_separator, sort_keys,
# skipkeys, allow_nan — _ENCODER's options.
_C_ARGS = (
    None,
    _ENCODER.default,
    json.encoder.encode_basestring,
    None,
    ":",
    ",",
    False,
    False,
    False,
)
try:
    _encode_dict = None if _make_encoder is None else _make_encoder(*_C_ARGS)
except TypeError:  # another interpreter's private signature: the public encoder does it all
    _encode_dict = None


def encode_body(body: dict[str, Any]) -> bytes:
    """Serialize the request body once, strictly (the payload limit is the route's:
    ``_wire.requests.JobBody.check_fits``)."""
    try:
        try:
            data = _ENCODER.encode(body) if _encode_dict is None else "".join(_encode_dict(body, 0))
        except RecursionError:
            data = _ENCODER.encode(body)  # "Circular reference detected", or nested too deeply
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(
            f"input must be JSON-serializable (dicts, lists, str, int, float, bool, None; "
            f"no NaN or infinity): {exc}"
        ) from None
    except RecursionError:
        raise InvalidInputError("input is nested too deeply (or contains a cycle)") from None
    return data.encode("utf-8")


def check_retry_failed(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidInputError(f"retry_failed must be a non-negative int, got {value!r}")
    return value


def check_flag(value: object, name: str) -> bool:
    """``value`` if it is a bool: a truthy ``"no"`` must not switch an option on."""
    if value is True or value is False:
        return value
    raise InvalidInputError(f"{name} must be True or False, got {value!r}")


def check_callback(value: object, name: str) -> None:
    if value is not None and not callable(value):
        raise InvalidInputError(f"{name} must be callable, got {type(value).__name__}")


def optional_seconds(value: float | timedelta | None, name: str) -> float | None:
    return None if value is None else to_seconds(value, name)
