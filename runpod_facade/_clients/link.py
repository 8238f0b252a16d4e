"""What a job handle and its stream are given of their endpoint: :class:`EndpointLink`.

As an openai resource is given its client's ``get``/``post`` and nothing else, a handle is
given the endpoint's core (every request as an operation of effects) and the driver that
runs operations — and reaches nothing else of the endpoint. The endpoint keeps one link and
hands it to every handle it makes; ``job.endpoint`` stays the client itself, for the caller.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

from .._core.engine import EndpointCore

__all__ = ["EndpointLink"]

D = TypeVar("D")


@dataclass(frozen=True, slots=True)
class EndpointLink(Generic[D]):
    """An endpoint as its handles see it.

    Attributes:
        core: the endpoint's requests, retries and waits, as operations (``_core``).
        driver: what runs an operation (``driver.run(op)``, blocking or awaitable) and
            iterates a stream's (``driver.iterate(op)``): a ``SyncDriver`` or ``AsyncDriver``.
    """

    core: EndpointCore
    driver: D
