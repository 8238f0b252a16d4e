"""``create_app``: the in-process ASGI app of a local endpoint."""

from __future__ import annotations

from collections.abc import Iterable

from . import _limits
from ._app import LocalEndpointApp
from ._engine import Engine
from ._faults import Fault, FaultSet
from ._handler import Handler, load_handler
from ._ratelimits import limiter_from
from ._runner import TimeoutStatus

__all__ = ["create_app"]


def create_app(
    handler: Handler | str,
    *,
    api_key: str | None = None,
    workers: int = 1,
    endpoint_id: str | None = None,
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
) -> LocalEndpointApp:
    """Build the ASGI app of a local RunPod serverless endpoint running ``handler``.

    ``handler`` is a callable or a ``"module:function"`` / ``"path/file.py:function"`` string
    (function name defaults to ``handler``). Routes are served under ``/v2/{endpoint_id}/...``;
    ``endpoint_id=None`` accepts any id. ``api_key=None`` disables auth; otherwise requests need
    ``Authorization: Bearer <api_key>``. ``workers`` jobs run concurrently.
    ``return_aggregate_stream`` overrides the handler's attribute of that name (a generator
    handler's final ``output`` is then the list of its chunks). Times are seconds:
    result retention after completion for ``/run`` and ``/runsync`` jobs, the default
    ``policy.executionTimeout`` and ``policy.ttl``, the pause between webhook deliveries and
    how long one delivery waits for its reply.

    ``timeout_status`` says how an execution timeout ends a job: ``"TIMED_OUT"`` (the docs'
    account, the default) or ``"FAILED"`` (what live RunPod reports: the job is run once more,
    ``retries: 1``, and a second timeout ends it FAILED with ``"job timed out after 1
    retries"``). ``webhook_retries`` re-deliveries follow a webhook POST that gets no 2xx.

    Usable with ``httpx.ASGITransport(app=...)`` (the URL path must start with ``/v2/``); call
    ``app.close()`` afterwards to stop its worker thread.
    """
    # Checked before anything starts: a bad spec is the caller's error, not the server's.
    limiter = limiter_from(rate_limits, rate_limit_scale)
    engine = Engine(
        load_handler(handler),
        workers=workers,
        return_aggregate_stream=return_aggregate_stream,
        run_retention_s=run_retention_s,
        runsync_retention_s=runsync_retention_s,
        execution_timeout_s=execution_timeout_s,
        timeout_status=timeout_status,
        ttl_s=ttl_s,
        webhook_retries=webhook_retries,
        webhook_retry_delay_s=webhook_retry_delay_s,
        webhook_timeout_s=webhook_timeout_s,
    )
    return LocalEndpointApp(
        engine,
        api_key=api_key,
        endpoint_id=endpoint_id,
        faults=FaultSet(faults, seed=fault_seed),
        rate_limiter=limiter,
    )
