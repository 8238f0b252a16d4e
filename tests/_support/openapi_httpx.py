"""openapi-core for httpx: adapters, and a MockTransport that checks all traffic against the spec.

openapi-core ships adapters for requests, aiohttp, starlette … but none for httpx, so the two
small classes below expose an ``httpx.Request``/``httpx.Response`` through openapi-core's
``Request``/``Response`` protocols. :class:`ContractTransport` wraps a reply handler: it
validates each request before the handler sees it (a bad request raises
:class:`ContractViolation` out of the client call) and each reply afterwards.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

import httpx
from runpod_generated.operations import BY_OPERATION_ID

from .spec import SERVER_URL, SPEC_PATH, spec_dict

if TYPE_CHECKING:
    from openapi_core import OpenAPI
    from werkzeug.datastructures import Headers

# openapi-core (and werkzeug) are imported when the first exchange is checked, not when a
# test module that may check one is collected (every pytest-xdist worker collects them all).

HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


@functools.cache
def openapi() -> OpenAPI:
    from openapi_core import OpenAPI

    return OpenAPI.from_file_path(str(SPEC_PATH))


class HttpxOpenAPIRequest:
    """An ``httpx.Request`` as openapi-core's ``Request`` protocol."""

    def __init__(self, request: httpx.Request) -> None:
        self.request = request
        query = request.url.query.decode("ascii")
        from openapi_core.datatypes import RequestParameters
        from werkzeug.datastructures import Headers, ImmutableMultiDict

        self.parameters = RequestParameters(
            query=ImmutableMultiDict(parse_qs(query, keep_blank_values=True)),
            header=Headers(list(request.headers.multi_items())),
            cookie=ImmutableMultiDict(),
        )

    @property
    def host_url(self) -> str:
        return f"{self.request.url.scheme}://{self.request.url.netloc.decode('ascii')}"

    @property
    def path(self) -> str:
        # The path as sent (percent-escapes kept), so an escaped '/' in an id stays one segment.
        return self.request.url.raw_path.split(b"?", 1)[0].decode("ascii")

    @property
    def method(self) -> str:
        return self.request.method.lower()

    @property
    def body(self) -> bytes | None:
        return self.request.content or None

    @property
    def content_type(self) -> str:
        return self.request.headers.get("content-type", "").lower()


class HttpxOpenAPIResponse:
    """An ``httpx.Response`` as openapi-core's ``Response`` protocol."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response

    @property
    def status_code(self) -> int:
        return self.response.status_code

    @property
    def headers(self) -> Headers:
        from werkzeug.datastructures import Headers

        return Headers(list(self.response.headers.multi_items()))

    @property
    def data(self) -> bytes:
        return self.response.content

    @property
    def content_type(self) -> str:
        return self.response.headers.get("content-type", "").lower()


def describe(exc: BaseException) -> str:
    """An openapi-core error with its causes and the underlying JSON-schema messages."""
    parts: list[str] = []
    seen: BaseException | None = exc
    while seen is not None:
        parts.append(f"{type(seen).__name__}: {seen}")
        parts.extend(f"  - {e.message}" for e in getattr(seen, "schema_errors", ()) or ())
        seen = seen.__cause__
    return "\n".join(parts)


def find_operation(method: str, raw_path: str) -> tuple[str, dict[str, Any]] | None:
    """The spec's (operationId, operation) for a request, matched on the raw path."""
    prefix = re.escape(httpx.URL(SERVER_URL).path.rstrip("/"))
    for template, item in spec_dict()["paths"].items():
        pattern = prefix + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template))
        operation = item.get(method.lower())
        if operation is not None and re.fullmatch(pattern, raw_path):
            return operation["operationId"], operation
    return None


def request_errors(request: httpx.Request) -> list[str]:
    """Every way ``request`` breaks the spec (empty when it conforms)."""
    adapted = HttpxOpenAPIRequest(request)
    errors = [describe(e) for e in openapi().iter_request_errors(adapted)]
    found = find_operation(request.method, adapted.path)
    if found is not None and "requestBody" not in found[1] and request.content:
        errors.append(f"{found[0]} takes no request body, got {request.content[:80]!r}")
    return errors


def response_errors(request: httpx.Request, response: httpx.Response) -> list[str]:
    """Every way ``response`` (a reply to ``request``) breaks the spec."""
    adapted = HttpxOpenAPIResponse(response)
    return [
        describe(e) for e in openapi().iter_response_errors(HttpxOpenAPIRequest(request), adapted)
    ]


class ContractViolation(AssertionError):
    """Traffic that does not conform to openapi/runpod-serverless.yaml."""


@dataclass
class Exchange:
    operation_id: str
    request: httpx.Request
    response: httpx.Response
    response_errors: list[str]

    @property
    def operation(self) -> str:
        """The operation's name (``x-runpod-operation.name``)."""
        return BY_OPERATION_ID[self.operation_id].name


class ContractTransport(httpx.MockTransport):
    """A MockTransport that validates every request, and every reply unless told otherwise.

    ``replies`` answers each (already validated) request; the exchanges are recorded in order.
    """

    def __init__(
        self, replies: Callable[[httpx.Request], httpx.Response], *, check_responses: bool = True
    ) -> None:
        super().__init__(self._handle)
        self.replies = replies
        self.check_responses = check_responses
        self.exchanges: list[Exchange] = []

    def _handle(self, request: httpx.Request) -> httpx.Response:
        request.read()
        found = find_operation(request.method, request.url.raw_path.split(b"?")[0].decode())
        if found is None:
            raise ContractViolation(f"no operation in the spec for {request.method} {request.url}")
        errors = request_errors(request)
        if errors:
            raise ContractViolation(
                f"{found[0]}: request {request.method} {request.url} breaks the spec:\n"
                + "\n".join(errors)
            )
        response = self.replies(request)
        response.read()
        problems = response_errors(request, response)
        if problems and self.check_responses:
            raise ContractViolation(
                f"{found[0]}: reply {response.status_code} {response.content[:200]!r} "
                "breaks the spec:\n" + "\n".join(problems)
            )
        self.exchanges.append(Exchange(found[0], request, response, problems))
        return response

    @property
    def operations(self) -> list[str]:
        """The operationId of every exchange, in order."""
        return [exchange.operation_id for exchange in self.exchanges]

    @property
    def names(self) -> list[str]:
        """The operation name of every exchange, in order."""
        return [exchange.operation for exchange in self.exchanges]
