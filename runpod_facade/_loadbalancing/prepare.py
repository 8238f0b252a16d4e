"""Checking and encoding one request before anything is sent: method, path, body (and its
30 MiB limit), headers, params, affinity and timeout. Shared by the sync and async clients."""

from __future__ import annotations

import inspect
import json as _json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from types import EllipsisType
from typing import Any, TypedDict, TypeVar

import httpx

from .._exceptions import InvalidInputError
from .affinity import WORKER_ID_HEADER, Affinity, coerce_affinity
from .core import MAX_PAYLOAD_BYTES, is_repeatable
from .errors import RequestTooLargeError
from .settings import check_timeout

__all__ = ["Prepared", "RequestOptions", "prepare", "spelled_out"]

_Timeout = float | timedelta | EllipsisType | None
F = TypeVar("F", bound=Callable[..., Any])

_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_BAD_PATH = re.compile(r"[\s\x00-\x1f\x7f#]")
_BAD_VALUE = re.compile(r"[\r\n\x00]")
# Headers the client owns: the key is sent from api_key only, affinity from affinity=.
_RESERVED = {"authorization": "pass api_key= instead", "x-runpod-worker-id": "pass affinity="}


class RequestOptions(TypedDict, total=False):
    """The keyword arguments of every request method (``request``, ``get`` …, ``stream``)."""

    json: Any  # the body as JSON (Content-Type application/json unless headers= set one)
    content: bytes | str | None  # the body as is (not with json=)
    params: Any  # the query: a mapping, (name, value) pairs or a string
    headers: dict[str, str] | None  # sent under the client's own (not Authorization)
    timeout: _Timeout  # the call's deadline in seconds; ``...``: the client's, None: no limit
    affinity: Affinity | str | None  # an Affinity, or its header form "strict <worker-id>"
    idempotent: bool | None  # may it be sent again after its reply was lost (None: by method)


def spelled_out(method: F) -> F:
    """``method`` with its ``**options`` shown by ``inspect.signature`` (``help()``) as the
    keyword-only parameters they are, each with its default."""
    signature = inspect.signature(method)
    fixed = [p for p in signature.parameters.values() if p.kind is not p.VAR_KEYWORD]
    options = [
        inspect.Parameter(
            name,
            inspect.Parameter.KEYWORD_ONLY,
            default=... if name == "timeout" else None,
            annotation=hint.__forward_arg__,
        )
        for name, hint in RequestOptions.__annotations__.items()
    ]
    method.__signature__ = signature.replace(parameters=[*fixed, *options])  # type: ignore[attr-defined]
    return method


@dataclass(frozen=True, slots=True)
class Prepared:
    method: str
    path: str
    content: bytes | None
    headers: dict[str, str]
    params: httpx.QueryParams | None
    timeout: float | None
    affinity: Affinity | None
    repeatable: bool

    @property
    def operation(self) -> str:
        return f"{self.method} {self.path}"


def _check_method(method: object) -> str:
    if not isinstance(method, str) or not _TOKEN.fullmatch(method):
        raise InvalidInputError(f"method must be an HTTP method such as 'GET', got {method!r}")
    return method.upper()


def _check_path(path: object) -> str:
    if not isinstance(path, str):
        raise InvalidInputError(f"path must be a string, got {type(path).__name__}")
    if not path.startswith("/") or path.startswith("//"):
        # A full URL (or '//host') would send the API key to another host.
        raise InvalidInputError(
            f"path must start with a single '/' (a route of the worker), got {path[:80]!r}"
        )
    if _BAD_PATH.search(path):
        raise InvalidInputError("path must not contain whitespace, control characters or '#'")
    return path


def _encode(json: object, content: object) -> bytes | None:
    if json is not None and content is not None:
        raise InvalidInputError("pass json= or content=, not both")
    if json is not None:
        try:
            text = _json.dumps(json, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
        except (TypeError, ValueError) as exc:
            raise InvalidInputError(f"json must be JSON-serializable (no NaN): {exc}") from None
        except RecursionError:
            raise InvalidInputError("json is nested too deeply (or contains a cycle)") from None
        return text.encode("utf-8")
    if content is None:
        return None
    if isinstance(content, str):
        return content.encode("utf-8")
    if isinstance(content, (bytes, bytearray, memoryview)):
        return bytes(content)
    raise InvalidInputError(
        f"content must be bytes or str (sent as is, and again on a retry), "
        f"got {type(content).__name__}"
    )


def _check_headers(headers: object, has_json: bool) -> dict[str, str]:
    if headers is not None and not isinstance(headers, Mapping):
        raise InvalidInputError(f"headers must be a mapping, got {type(headers).__name__}")
    result: dict[str, str] = {}
    for name, value in (headers or {}).items():
        if not isinstance(name, str) or not _TOKEN.fullmatch(name):
            raise InvalidInputError(f"header name {name!r} is not a valid HTTP token")
        if not isinstance(value, str) or _BAD_VALUE.search(value):
            raise InvalidInputError(
                f"header {name!r} must be a string without CR, LF or NUL characters"
            )
        why = _RESERVED.get(name.lower())
        if why is not None:
            raise InvalidInputError(f"header {name!r} is set by the client: {why}")
        result[name] = value
    if has_json and not any(name.lower() == "content-type" for name in result):
        result["Content-Type"] = "application/json"
    return result


def _check_params(params: object) -> httpx.QueryParams | None:
    if params is None:
        return None
    try:
        return httpx.QueryParams(params)  # type: ignore[arg-type]
    except (TypeError, ValueError, AttributeError) as exc:
        raise InvalidInputError(
            f"params must be a mapping, a list of (name, value) pairs or a string: {exc}"
        ) from None


def prepare(
    method: object,
    path: object,
    *,
    default_timeout: float | None,
    base_headers: Mapping[str, str],
    json: object = None,
    content: object = None,
    params: object = None,
    headers: object = None,
    timeout: object = ...,
    affinity: object = None,
    idempotent: object = None,
) -> Prepared:
    """Everything checked, the body encoded once, ``base_headers`` (the client's: auth, user
    agent) under the caller's; raises :class:`InvalidInputError` (or
    :class:`RequestTooLargeError`) before any request is sent."""
    verb = _check_method(method)
    route = _check_path(path)
    body = _encode(json, content)
    if body is not None and len(body) > MAX_PAYLOAD_BYTES:
        raise RequestTooLargeError(len(body), MAX_PAYLOAD_BYTES)
    if idempotent is not None and not isinstance(idempotent, bool):
        raise InvalidInputError(f"idempotent must be True, False or None, got {idempotent!r}")
    pin = coerce_affinity(affinity)
    sent_headers = {**base_headers, **_check_headers(headers, json is not None)}
    if pin is not None:
        sent_headers[WORKER_ID_HEADER] = pin.header_value()
    return Prepared(
        method=verb,
        path=route,
        content=body,
        headers=sent_headers,
        params=_check_params(params),
        timeout=default_timeout if isinstance(timeout, EllipsisType) else check_timeout(timeout),
        affinity=pin,
        repeatable=is_repeatable(verb, idempotent),
    )
