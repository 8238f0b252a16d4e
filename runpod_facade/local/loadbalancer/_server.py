"""Serving a :class:`LoadBalancerApp` under uvicorn: :class:`LocalLoadBalancer` (a background
thread on a free loopback port, for tests and demos) and :func:`serve_load_balancer`
(blocking, for ``runpod-facade lb serve``)."""

from __future__ import annotations

import secrets
import sys
from collections.abc import Iterable
from types import EllipsisType
from typing import Any

import uvicorn
from starlette.types import ASGIApp

from ..._loadbalancing.core import MAX_PAYLOAD_BYTES
from .._background import KEEP_ALIVE_S, BackgroundServer
from .._protocol import AbortableH11Protocol
from ._faults import LBFault, LBFaultSet
from ._pool import Worker
from ._router import LBRecord, LoadBalancerApp

__all__ = ["LocalLoadBalancer", "serve_load_balancer"]


def _config(app: LoadBalancerApp, host: str, port: int, *, quiet: bool) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        http=AbortableH11Protocol,
        ws="none",
        lifespan="on",
        log_level="warning" if quiet else "info",
        log_config=None if quiet else uvicorn.config.LOGGING_CONFIG,
        access_log=not quiet,
        timeout_graceful_shutdown=1,
        timeout_keep_alive=KEEP_ALIVE_S,
    )


def serve_load_balancer(
    app: ASGIApp, host: str = "127.0.0.1", port: int = 8000, **options: Any
) -> None:
    """Serve ``app`` as a local load-balancing endpoint until Ctrl-C; ``options`` are those
    of :class:`LocalLoadBalancer` (``workers``, ``api_key``, ``cold_start`` …)."""
    router = LoadBalancerApp(app, **options)
    shown = f"[{host}]" if ":" in host else host  # an IPv6 address goes in brackets
    print(
        f"RunPod local load-balancing endpoint: http://{shown}:{port}/ "
        f"(auth {'on' if router.api_key else 'off'}, {len(router.pool.workers)} workers)",
        file=sys.stderr,
        flush=True,
    )
    try:
        uvicorn.Server(_config(router, host, port, quiet=False)).run()
    except KeyboardInterrupt:
        pass
    finally:
        router.closing.set()


class LocalLoadBalancer(BackgroundServer):
    """Any ASGI app (FastAPI, Starlette …) as a local RunPod load-balancing endpoint of
    ``workers`` simulated workers, on a free loopback port, from a background thread.

    ``with LocalLoadBalancer(app, workers=2, cold_start=1.0) as lb:`` then point
    ``LoadBalancedEndpoint("any-id", base_url=lb.url, api_key=lb.api_key)`` at it.
    ``api_key`` defaults to a random key (auth on); ``None`` turns auth off. ``cold_start``:
    seconds before workers turn ready (``/ping`` answers 204 until then); ``capacity``:
    concurrent requests per worker; ``no_worker_wait``: how long a request waits for a
    worker before 400 "no workers available"; ``affinity_wait``: how long a strict request
    waits for its busy worker before 400 worker_timeout; ``processing_limit``: seconds before
    524. ``stop_worker(id)`` makes a worker gone; ``faults`` injects misbehaviour.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        workers: int = 1,
        api_key: str | EllipsisType | None = ...,
        cold_start: float = 0.0,
        capacity: int = 16,
        no_worker_wait: float = 120.0,
        affinity_wait: float = 300.0,
        processing_limit: float = 330.0,
        max_request_bytes: int = MAX_PAYLOAD_BYTES,
        max_response_bytes: int = MAX_PAYLOAD_BYTES,
        faults: Iterable[LBFault] = (),
        fault_seed: int | None = 0,
        host: str = "127.0.0.1",
        port: int = 0,
        startup_timeout_s: float = 10.0,
    ) -> None:
        self.api_key: str | None = (
            f"rpl_{secrets.token_urlsafe(24)}" if isinstance(api_key, EllipsisType) else api_key
        )
        self.host = host
        self.port = port
        self.app = LoadBalancerApp(
            app,
            workers=workers,
            api_key=self.api_key,
            cold_start=cold_start,
            capacity=capacity,
            no_worker_wait=no_worker_wait,
            affinity_wait=affinity_wait,
            processing_limit=processing_limit,
            max_request_bytes=max_request_bytes,
            max_response_bytes=max_response_bytes,
            faults=faults,
            fault_seed=fault_seed,
        )
        self._startup_timeout_s = startup_timeout_s
        self._init_server()

    @property
    def url(self) -> str:
        """``http://HOST:PORT``: the endpoint's root (``base_url`` of the client)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}

    @property
    def faults(self) -> LBFaultSet:
        return self.app.faults

    @property
    def workers(self) -> dict[str, Worker]:
        """The workers by id (``served`` counts the requests each finished)."""
        return dict(self.app.pool.workers)

    @property
    def worker_ids(self) -> list[str]:
        return list(self.app.pool.workers)

    @property
    def requests(self) -> list[LBRecord]:
        """Every request the router received, oldest first."""
        return self.app.requests

    def clear_requests(self) -> None:
        self.app.clear_requests()

    def count(self, method: str, path: str) -> int:
        """How many ``method path`` requests a worker received (dispatched to the app)."""
        return sum(
            1
            for r in self.app.requests
            if r.method == method and r.path == path and r.worker_id is not None
        )

    def stop_worker(self, worker_id: str) -> None:
        """Terminate a worker: strict affinity to it now answers 404 affinity_worker_gone."""
        self.app.pool.stop_worker(worker_id)

    def scale_down(self, worker_id: str) -> None:
        """Idle a worker; ``strict-resume`` affinity resumes it (after a cold start)."""
        self.app.pool.scale_down(worker_id)

    def add_worker(self, cold_start: float | None = None) -> str:
        """Start another worker; returns its id."""
        return self.app.pool.add_worker(cold_start)

    _thread_name = "runpod-local-lb"
    _what = "the local load-balancing endpoint"

    def _config(self) -> uvicorn.Config:
        return _config(self.app, self.host, self.port, quiet=True)

    def _before_stop(self) -> None:
        self.app.closing.set()
        self.app.release_requests()
