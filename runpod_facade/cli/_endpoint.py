"""Endpoint commands: ``health`` and ``purge-queue``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .._types import Health
from ._context import Context
from ._exit import EXIT_OK
from ._options import add_command

if TYPE_CHECKING:
    from ._options import Subparsers

__all__ = ["register"]


def _count(value: int | None) -> str:
    return "?" if value is None else str(value)  # the API did not report it


def _health_json(health: Health) -> dict[str, Any]:
    """Every counter under its wire name; ``null`` where the API did not report it."""
    jobs, workers = health.jobs, health.workers
    return {
        "jobs": {
            "completed": jobs.completed,
            "failed": jobs.failed,
            "inProgress": jobs.in_progress,
            "inQueue": jobs.in_queue,
            "retried": jobs.retried,
        },
        "workers": {
            "idle": workers.idle,
            "initializing": workers.initializing,
            "ready": workers.ready,
            "running": workers.running,
            "throttled": workers.throttled,
            "unhealthy": workers.unhealthy,
        },
    }


def _health(ctx: Context) -> int:
    with ctx.endpoint(waits=False) as endpoint:
        health = endpoint.health()
        endpoint_id = endpoint.endpoint_id
    out = ctx.output
    if out.as_json:
        out.json(_health_json(health))
        return EXIT_OK
    jobs, workers = health.jobs, health.workers
    out.line(f"endpoint {endpoint_id}")
    w, j = workers, jobs
    out.line(
        f"  workers: {_count(w.ready)} ready, {_count(w.idle)} idle, {_count(w.running)} "
        f"running, {_count(w.initializing)} initializing, {_count(w.throttled)} throttled, "
        f"{_count(w.unhealthy)} unhealthy"
    )
    out.line(
        f"  jobs:    {_count(j.in_queue)} in queue, {_count(j.in_progress)} in progress, "
        f"{_count(j.completed)} completed, {_count(j.failed)} failed, {_count(j.retried)} retried"
    )
    return EXIT_OK


def _purge_queue(ctx: Context) -> int:
    with ctx.endpoint(waits=False) as endpoint:
        result = endpoint.purge_queue()
    if ctx.output.as_json:
        ctx.output.json({"removed": result.removed, "status": result.status})
    else:
        plural = "" if result.removed == 1 else "s"
        ctx.output.line(f"removed {result.removed} queued job{plural} ({result.status})")
    return EXIT_OK


def register(commands: Subparsers) -> None:
    """Add the endpoint commands to ``commands``."""
    add_command(commands, "health", _health, "print the endpoint's job and worker counters")
    add_command(
        commands,
        "purge-queue",
        _purge_queue,
        "remove every queued job",
        "Remove every queued job of the endpoint. Jobs already running keep running.",
    )
