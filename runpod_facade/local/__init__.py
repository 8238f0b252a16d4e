"""A faithful local RunPod serverless endpoint that runs a Python handler.

It serves the job API of ``openapi/runpod-serverless.yaml`` (run, runsync, status,
status-sync, stream, cancel, retry, purge-queue, health) under
``http://HOST:PORT/v2/{endpoint_id}/...`` with a real queue, concurrent workers, execution
policies, result retention, webhooks, bearer auth, and opt-in fault injection. Needs the
``runpod-facade[local]`` extra (Starlette + uvicorn); nothing else in ``runpod_facade``
imports this package eagerly.

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

from . import sample_handlers
from ._app import ConnectionDropped, LocalEndpointApp
from ._create import create_app
from ._faults import OPERATIONS, Fault, FaultKind, FaultSet
from ._handler import Handler, load_handler, progress_update
from ._limits import MAX_RUN_PAYLOAD_BYTES, MAX_RUNSYNC_PAYLOAD_BYTES
from ._records import RequestRecord, WebhookAttempt
from ._server import LocalEndpoint, serve

__all__ = [
    "MAX_RUNSYNC_PAYLOAD_BYTES",
    "MAX_RUN_PAYLOAD_BYTES",
    "OPERATIONS",
    "ConnectionDropped",
    "Fault",
    "FaultKind",
    "FaultSet",
    "Handler",
    "LocalEndpoint",
    "LocalEndpointApp",
    "RequestRecord",
    "WebhookAttempt",
    "create_app",
    "load_handler",
    "progress_update",
    "sample_handlers",
    "serve",
]
