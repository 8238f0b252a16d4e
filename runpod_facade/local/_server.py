"""Running the local endpoint under uvicorn: :func:`serve` (blocking) and :class:`LocalEndpoint`.

:class:`LocalEndpoint` runs uvicorn in a background thread on a free loopback port, for tests::

    with LocalEndpoint(sample_handlers.echo, workers=4) as ep:
        httpx.post(f"{ep.base_url}/{ep.endpoint_id}/runsync", json={"input": 1}, headers=ep.headers)
"""

from __future__ import annotations

import secrets
import sys
from collections.abc import Iterable
from types import EllipsisType
from typing import Any

import uvicorn

from . import _limits
from ._app import LocalEndpointApp
from ._background import KEEP_ALIVE_S, BackgroundServer
from ._create import create_app
from ._faults import Fault, FaultSet
from ._handler import Handler
from ._protocol import AbortableH11Protocol
from ._records import RequestRecord
from ._runner import TimeoutStatus
from ._webhooks import WebhookAttempt

__all__ = ["LocalEndpoint", "serve"]


def _uvicorn_config(
    app: LocalEndpointApp, *, host: str, port: int, log_level: str, quiet: bool
) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        http=AbortableH11Protocol,
        ws="none",
        lifespan="on",
        log_level=log_level,
        # Leave the host application's logging alone when embedded in tests.
        log_config=None if quiet else uvicorn.config.LOGGING_CONFIG,
        access_log=not quiet,
        # Requests still open at shutdown (hangs, long-polls) are cancelled after 1 s.
        timeout_graceful_shutdown=1,
        timeout_keep_alive=KEEP_ALIVE_S,
    )


def serve(
    handler: Handler | str,
    host: str = "127.0.0.1",
    port: int = 8000,
    api_key: str | None = None,
    workers: int = 1,
    *,
    endpoint_id: str | None = None,
    log_level: str = "info",
    faults: Iterable[Fault] = (),
    fault_seed: int | None = 0,
    return_aggregate_stream: bool | None = None,
    run_retention_s: float = _limits.RUN_RESULT_RETENTION_S,
    runsync_retention_s: float = _limits.RUNSYNC_RESULT_RETENTION_S,
    execution_timeout_s: float = _limits.DEFAULT_EXECUTION_TIMEOUT_MS / 1000,
    timeout_status: TimeoutStatus = "TIMED_OUT",
    ttl_s: float = _limits.DEFAULT_TTL_MS / 1000,
    webhook_retries: int = _limits.WEBHOOK_RETRIES,
    webhook_retry_delay_s: float = _limits.WEBHOOK_RETRY_DELAY_S,
    webhook_timeout_s: float = _limits.WEBHOOK_TIMEOUT_S,
    rate_limits: object = None,
    rate_limit_scale: float = 1.0,
) -> None:
    """Serve ``handler`` as a RunPod serverless endpoint until interrupted (Ctrl-C).

    This is what ``runpod-facade serve HANDLER [--host] [--port] [--api-key] [--workers]``
    calls. Routes live at ``http://HOST:PORT/v2/{endpoint_id}/...``; any endpoint id is
    accepted unless ``endpoint_id`` is given. ``api_key=None`` disables auth. Listens on
    loopback by default. The other keyword arguments are those of
    :func:`runpod_facade.local.create_app` (``timeout_status="FAILED"`` reports execution
    timeouts as live RunPod does).
    """
    app = create_app(
        handler,
        api_key=api_key,
        workers=workers,
        endpoint_id=endpoint_id,
        faults=faults,
        fault_seed=fault_seed,
        return_aggregate_stream=return_aggregate_stream,
        run_retention_s=run_retention_s,
        runsync_retention_s=runsync_retention_s,
        execution_timeout_s=execution_timeout_s,
        timeout_status=timeout_status,
        ttl_s=ttl_s,
        webhook_retries=webhook_retries,
        webhook_retry_delay_s=webhook_retry_delay_s,
        webhook_timeout_s=webhook_timeout_s,
        rate_limits=rate_limits,
        rate_limit_scale=rate_limit_scale,
    )
    config = _uvicorn_config(app, host=host, port=port, log_level=log_level, quiet=False)
    # To stderr, not a logger: under uvicorn's logging setup this package's logger has no
    # handler, and the address is the one line a person starting a server needs to see.
    shown = f"[{host}]" if ":" in host else host  # an IPv6 address goes in brackets
    print(
        f"RunPod local endpoint: http://{shown}:{port}/v2/{endpoint_id or '<any-endpoint-id>'}/run "
        f"(auth {'on' if api_key else 'off'}, {workers} workers)",
        file=sys.stderr,
        flush=True,
    )
    try:
        uvicorn.Server(config).run()
    except KeyboardInterrupt:
        pass  # uvicorn re-raises Ctrl-C after its clean shutdown; stopping is the normal end
    finally:
        app.close()


class LocalEndpoint(BackgroundServer):
    """A local RunPod serverless endpoint on a loopback port, served from a background thread.

    ``with LocalEndpoint(handler, workers=4) as ep:`` starts uvicorn on a free port of
    ``host`` and stops it (within about a second) on exit; ``async with`` works too.
    ``api_key`` defaults to a random key (so auth is exercised; see :attr:`headers`); pass
    ``None`` to disable auth. Other keyword arguments are those of
    :func:`runpod_facade.local.create_app`; ``accept_any_endpoint_id=False`` makes other
    endpoint ids than ``endpoint_id`` answer 404.
    """

    def __init__(
        self,
        handler: Handler | str,
        *,
        workers: int = 1,
        api_key: str | EllipsisType | None = ...,
        endpoint_id: str = "local-endpoint",
        accept_any_endpoint_id: bool = True,
        host: str = "127.0.0.1",
        port: int = 0,
        faults: Iterable[Fault] = (),
        fault_seed: int | None = 0,
        return_aggregate_stream: bool | None = None,
        run_retention_s: float = _limits.RUN_RESULT_RETENTION_S,
        runsync_retention_s: float = _limits.RUNSYNC_RESULT_RETENTION_S,
        execution_timeout_s: float = _limits.DEFAULT_EXECUTION_TIMEOUT_MS / 1000,
        timeout_status: TimeoutStatus = "TIMED_OUT",
        ttl_s: float = _limits.DEFAULT_TTL_MS / 1000,
        webhook_retries: int = _limits.WEBHOOK_RETRIES,
        webhook_retry_delay_s: float = _limits.WEBHOOK_RETRY_DELAY_S,
        webhook_timeout_s: float = _limits.WEBHOOK_TIMEOUT_S,
        rate_limits: object = None,
        rate_limit_scale: float = 1.0,
        log_level: str = "warning",
        startup_timeout_s: float = 10.0,
    ) -> None:
        self.api_key: str | None = (
            f"rpl_{secrets.token_urlsafe(24)}" if isinstance(api_key, EllipsisType) else api_key
        )
        self.endpoint_id = endpoint_id
        self.host = host
        self.port = port
        self.app = create_app(
            handler,
            api_key=self.api_key,
            workers=workers,
            endpoint_id=None if accept_any_endpoint_id else endpoint_id,
            faults=faults,
            fault_seed=fault_seed,
            return_aggregate_stream=return_aggregate_stream,
            run_retention_s=run_retention_s,
            runsync_retention_s=runsync_retention_s,
            execution_timeout_s=execution_timeout_s,
            timeout_status=timeout_status,
            ttl_s=ttl_s,
            webhook_retries=webhook_retries,
            webhook_retry_delay_s=webhook_retry_delay_s,
            webhook_timeout_s=webhook_timeout_s,
            rate_limits=rate_limits,
            rate_limit_scale=rate_limit_scale,
        )
        self._log_level = log_level
        self._startup_timeout_s = startup_timeout_s
        self._init_server()

    # ----------------------------------------------------------------- addresses

    @property
    def base_url(self) -> str:
        """``http://HOST:PORT/v2``; routes are ``{base_url}/{endpoint_id}/run`` etc."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/v2"

    @property
    def url(self) -> str:
        """``{base_url}/{endpoint_id}``."""
        return f"{self.base_url}/{self.endpoint_id}"

    @property
    def openai_base_url(self) -> str:
        """``{url}/openai/v1``: the ``base_url`` to hand to ``openai.OpenAI`` (with
        ``api_key``) for the OpenAI-compatible routes."""
        return f"{self.url}/openai/v1"

    @property
    def headers(self) -> dict[str, str]:
        """``{"Authorization": "Bearer <api_key>"}``, or ``{}`` when auth is off."""
        return {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}

    # ----------------------------------------------------------------- inspection

    @property
    def faults(self) -> FaultSet:
        """The armed faults: ``ep.faults.add(Fault(...))``, ``ep.faults.clear()``."""
        return self.app.faults

    @property
    def requests(self) -> list[RequestRecord]:
        """Every request received so far, oldest first."""
        return self.app.requests

    def clear_requests(self) -> None:
        """Forget the recorded requests."""
        self.app.request_log.clear()

    @property
    def webhook_attempts(self) -> list[WebhookAttempt]:
        """Every webhook POST made so far, oldest first."""
        return self.app.webhook_attempts

    def health(self) -> dict[str, Any]:
        """The ``/health`` body, read directly (no HTTP, no request record, no faults)."""
        engine = self.app.engine
        return engine.call_sync(engine.health())

    def job_ids(self) -> list[str]:
        """Ids of the jobs the endpoint still knows (queued, running or retained)."""
        engine = self.app.engine
        return engine.call_sync(engine.job_ids())

    # ----------------------------------------------------------------- lifecycle

    def _config(self) -> uvicorn.Config:
        return _uvicorn_config(
            self.app, host=self.host, port=self.port, log_level=self._log_level, quiet=True
        )

    def _before_stop(self) -> None:
        self.app.begin_shutdown()

    def _after_stop(self) -> None:
        self.app.close()
