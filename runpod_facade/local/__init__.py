"""A faithful local RunPod serverless endpoint that runs a Python handler.

It serves the job API of ``openapi/runpod-serverless.yaml`` (run, runsync, status,
status-sync, stream, cancel, retry, purge-queue, health) under
``http://HOST:PORT/v2/{endpoint_id}/...`` with a real queue, concurrent workers, execution
policies, result retention, webhooks, bearer auth, and opt-in fault injection, plus the
OpenAI-compatible routes under ``.../{endpoint_id}/openai/v1``. Needs the
``runpod-facade[local]`` extra (Starlette + uvicorn); nothing else in ``runpod_facade``
imports this package eagerly. ``docs/local-endpoint.md`` describes it in full.

Three ways to start it:

* ``serve(handler, host="127.0.0.1", port=8000, api_key=None, workers=1, ...)`` blocks and
  serves until Ctrl-C; it backs ``runpod-facade serve HANDLER [--host] [--port] [--api-key]
  [--workers]``.
* ``with LocalEndpoint(handler, workers=4) as ep:`` runs it on a free loopback port in a
  background thread; ``ep.base_url`` is ``http://127.0.0.1:PORT/v2``, ``ep.headers`` carries
  the (random by default) API key, ``ep.requests`` logs every request, ``ep.faults`` arms faults.
* ``create_app(handler, ...)`` returns the ASGI app, for ``httpx.ASGITransport``.

A handler is a callable, ``"module:function"`` or ``"path/file.py:function"`` (function name
defaults to ``handler``); it gets ``{"id": ..., "input": ...}`` and may be sync, async, a
generator or an async generator (streaming). Handlers publish interim output with
:func:`progress_update`.
"""

from __future__ import annotations

try:
    import starlette  # noqa: F401
    import uvicorn  # noqa: F401
except ModuleNotFoundError as _missing:
    if (_missing.name or "").partition(".")[0] not in ("starlette", "uvicorn"):
        raise
    raise ImportError(
        f"runpod_facade.local needs the 'local' extra ({_missing.name} is not installed): "
        "pip install 'runpod-facade[local]'",
        name=_missing.name,
    ) from _missing

from . import sample_handlers
from ._app import LocalEndpointApp
from ._create import create_app
from ._faults import OPERATIONS, Fault, FaultKind, FaultSet
from ._handler import Handler, load_handler, progress_update
from ._inject import ConnectionDropped
from ._limits import MAX_RUN_PAYLOAD_BYTES, MAX_RUNSYNC_PAYLOAD_BYTES, MAX_STREAM_CHUNK_BYTES
from ._records import RequestRecord
from ._runner import TimeoutStatus
from ._server import LocalEndpoint, serve
from ._webhooks import WebhookAttempt
from .loadbalancer import LBFault, LocalLoadBalancer, serve_load_balancer

__all__ = [
    "MAX_RUNSYNC_PAYLOAD_BYTES",
    "MAX_RUN_PAYLOAD_BYTES",
    "MAX_STREAM_CHUNK_BYTES",
    "OPERATIONS",
    "ConnectionDropped",
    "Fault",
    "FaultKind",
    "FaultSet",
    "Handler",
    "LBFault",
    "LocalEndpoint",
    "LocalEndpointApp",
    "LocalLoadBalancer",
    "RequestRecord",
    "TimeoutStatus",
    "WebhookAttempt",
    "create_app",
    "load_handler",
    "progress_update",
    "sample_handlers",
    "serve",
    "serve_load_balancer",
]
