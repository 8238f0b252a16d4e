"""What every transport is built from, and nothing else of the package: one request ready to send
(``ApiRequest``), its reply (``ApiResponse``) or the failure that replaced it (``TransportFailure``,
with its ``Delivery``), the per-phase ``Timeouts``, and the ``SyncTransport``/``AsyncTransport``
protocols the drivers send through. Transports move bytes; every decision is the core's. Of
the package it imports only ``_frozen`` (how a frozen dataclass is built cheaply)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Protocol

from .._frozen import slot_init

__all__ = [
    "ApiRequest",
    "ApiResponse",
    "AsyncTransport",
    "Delivery",
    "Safety",
    "SyncTransport",
    "Timeouts",
    "TransportFailure",
]


class Safety(Enum):
    """How freely a request may be sent again."""

    REPEATABLE = "repeatable"
    SUBMIT = "submit"


class Delivery(Enum):
    """What is known about a request that got no HTTP answer."""

    NOT_SENT = "not_sent"  # connect failure or pool timeout: the server never saw it
    MAYBE_SENT = "maybe_sent"  # it may have been processed; the answer was lost


# ApiRequest, ApiResponse (and the core's Send) are built for every request and never changed
# once built, but are not frozen: CPython builds a frozen dataclass through object.__setattr__
# per field, which cost these three ~40k instructions per run() + wait() job (about 4% of
# the aiohttp path's work per job; benchmarks/instructions.py).
@dataclass(slots=True)
class ApiRequest:
    """One HTTP request, ready to send. ``hold`` is how long the server is asked to hold it
    (a long-poll's ``wait``); ``reply`` names the schema of a 2xx body."""

    operation: str
    method: str
    path: str
    safety: Safety
    reply: str
    params: Mapping[str, int] = field(default_factory=dict)
    content: bytes | None = None
    job_id: str | None = None
    hold: float | None = None


@dataclass(slots=True)
class ApiResponse:
    """An HTTP reply, fully read."""

    status_code: int
    headers: Mapping[str, str]
    content: bytes

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", errors="replace")


@dataclass(frozen=True, slots=True)
class TransportFailure:
    """No HTTP answer. ``delivery`` says whether the server can have seen the request."""

    delivery: Delivery
    timeout: bool
    message: str


@slot_init  # one per request with a deadline: see _frozen
@dataclass(frozen=True, slots=True)
class Timeouts:
    """Seconds per phase of one request; ``None`` waits without limit."""

    connect: float | None
    read: float | None
    write: float | None
    pool: float | None


class SyncTransport(Protocol):
    """Sends one request and reads the whole reply, blocking."""

    def send(self, request: ApiRequest, timeouts: Timeouts) -> ApiResponse | TransportFailure: ...

    def close(self) -> None: ...


class AsyncTransport(Protocol):
    """Sends one request and reads the whole reply, on the running event loop."""

    async def send(
        self, request: ApiRequest, timeouts: Timeouts
    ) -> ApiResponse | TransportFailure: ...

    async def aclose(self) -> None: ...
