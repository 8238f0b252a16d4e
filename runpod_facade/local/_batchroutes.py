"""The HTTP routes of the Batch Jobs API (``/v2/{endpointId}/batch...``) of the local endpoint.

Paths, methods, bodies and replies follow ``openapi/runpod-batch-jobs.yaml``; the state lives
in :class:`~._batchjobs.BatchStore` and the work is done by :class:`~._batchworkers.BatchWorkers`.
Every error is a JSON ``{"error": "..."}`` body, as on the job routes.
"""

from __future__ import annotations

import json
from typing import Any, Final
from urllib.parse import parse_qsl, unquote

from ._batchjobs import (
    DEFAULT_PAGE_LIMIT,
    MAX_PAGE_LIMIT,
    BatchError,
    BatchLimits,
    BatchStore,
)
from ._batchworkers import BatchWorkers
from ._handler import Handler
from ._http import Exchange
from ._validation import BadRequest

__all__ = ["BatchRoutes"]

_PREFIX: Final = "/v2/"

# (segments after {endpointId}/batch, with "*" for an id) -> {method: operation}
_ROUTES: Final[dict[tuple[str, ...], dict[str, str]]] = {
    (): {"POST": "batch-create", "GET": "batch-list"},
    ("*",): {"GET": "batch-get", "PUT": "batch-update"},
    ("*", "requests"): {"POST": "batch-add", "GET": "batch-requests"},
    ("*", "requests", "*"): {"DELETE": "batch-remove"},
    ("*", "finalize"): {"POST": "batch-finalize"},
    ("*", "cancel"): {"POST": "batch-cancel"},
}


def _split(path: str) -> tuple[str, tuple[str, ...]] | None:
    """``(endpoint_id, rest)`` of a batch path, ``rest`` being the segments after ``batch``."""
    if not path.startswith(_PREFIX):
        return None
    parts = [unquote(part) for part in path[len(_PREFIX) :].split("/")]
    if len(parts) < 2 or parts[1] != "batch" or not parts[0]:
        return None
    return parts[0], tuple(parts[2:])


def _shape(rest: tuple[str, ...]) -> tuple[str, ...]:
    return tuple("*" if i in (0, 2) else part for i, part in enumerate(rest))


def _int_param(query: dict[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(f"{name} must be an integer, got {raw!r}") from None
    if not low <= value <= high:
        raise BadRequest(f"{name} must be between {low} and {high}, got {value}")
    return value


def _inputs(items: object, where: str) -> list[Any]:
    if not isinstance(items, list):
        raise BadRequest(f'{where} must be a JSON array of {{"input": ...}} objects')
    inputs: list[Any] = []
    for index, item in enumerate(items):
        if not isinstance(item, dict) or "input" not in item:
            raise BadRequest(f"{where}[{index}] must be an object with an input field")
        inputs.append(item["input"])
    return inputs


class BatchRoutes:
    """Serves the batch routes; ``store`` is public so tests can inspect and tune it."""

    def __init__(self, handler: Handler, *, workers: int = 1) -> None:
        self.store = BatchStore()
        self.workers = BatchWorkers(handler, self.store, workers=workers)

    @property
    def limits(self) -> BatchLimits:
        return self.store.limits

    @limits.setter
    def limits(self, value: BatchLimits) -> None:
        self.store.limits = value

    def handles(self, path: str) -> bool:
        """Whether ``path`` is under ``/v2/{endpointId}/batch``."""
        return _split(path) is not None

    def close(self) -> None:
        self.workers.close()

    async def serve(self, exchange: Exchange, authorized: bool, endpoint_id: str | None) -> None:
        """Answer one request to a batch route."""
        record = exchange.record
        split = _split(record.path)
        assert split is not None
        endpoint, rest = split
        methods = _ROUTES.get(_shape(rest))
        if methods is None or any(not part for part in rest):
            await exchange.reply_json(404, {"error": f"no route {record.path}"})
            return
        operation = methods.get(record.method)
        record.operation, record.endpoint_id = next(iter(methods.values())), endpoint
        if operation is None:
            await exchange.reply_json(
                405,
                {"error": f"method {record.method} not allowed on {record.path}"},
                headers={"allow": ", ".join(methods)},
            )
            return
        record.operation = operation
        if not authorized:
            await exchange.reply_json(
                401,
                {"error": "Unauthorized: missing or invalid API key"},
                headers={"www-authenticate": "Bearer"},
            )
            return
        if endpoint_id is not None and endpoint != endpoint_id:
            await exchange.reply_json(404, {"error": f"endpoint {endpoint} not found"})
            return
        try:
            body = await self._operate(operation, endpoint, rest, exchange)
        except BatchError as exc:
            await exchange.reply_json(exc.status, {"error": exc.message})
            return
        except BadRequest as exc:
            await exchange.reply_json(exc.status, {"error": exc.message})
            return
        await exchange.reply_json(200, body)

    async def _json(self, exchange: Exchange) -> Any:
        raw = await exchange.read_body(self.store.limits.payload_bytes)
        try:
            return json.loads(raw)
        except (UnicodeDecodeError, ValueError):
            raise BadRequest("the body must be JSON") from None

    async def _operate(
        self, operation: str, endpoint: str, rest: tuple[str, ...], exchange: Exchange
    ) -> dict[str, Any]:
        store = self.store
        query = dict(parse_qsl(exchange.record.query, keep_blank_values=True))
        batch_id = rest[0] if rest else ""
        if operation == "batch-create":
            return store.create(endpoint, _inputs(await self._json(exchange), "the body"))
        if operation == "batch-add":
            body = await self._json(exchange)
            if not isinstance(body, dict) or "requests" not in body:
                raise BadRequest('the body must be an object {"requests": [...]}')
            return store.add(endpoint, batch_id, _inputs(body["requests"], "requests"))
        if operation == "batch-update":
            body = await self._json(exchange)
            name = body.get("name") if isinstance(body, dict) else None
            if not isinstance(body, dict) or (name is not None and not isinstance(name, str)):
                raise BadRequest('the body must be an object such as {"name": "..."}')
            return store.update(endpoint, batch_id, name)
        if operation in ("batch-list", "batch-requests"):
            offset = _int_param(query, "offset", 0, 0, 2**31)
            limit = _int_param(query, "limit", DEFAULT_PAGE_LIMIT, 1, MAX_PAGE_LIMIT)
            if operation == "batch-list":
                return store.list_batches(endpoint, offset, limit)
            return store.requests(endpoint, batch_id, offset, limit)
        if operation == "batch-get":
            return store.get(endpoint, batch_id)
        if operation == "batch-finalize":
            return store.finalize(endpoint, batch_id)
        if operation == "batch-cancel":
            return store.cancel(endpoint, batch_id)
        return store.remove(endpoint, batch_id, rest[2])
