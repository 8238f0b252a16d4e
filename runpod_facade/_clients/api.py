"""What the clients' and handles' runners share: the endpoint's link.

Their public methods are written once, on the shared base classes, as ``@api`` operations
(:mod:`runpod_facade._drivers.api`); the runners here perform them with the link's driver.
"""

from __future__ import annotations

from collections.abc import Coroutine
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from .._core.effects import Operation
from .._core.engine import EndpointCore
from .._deferred import deferred_module
from .._drivers import api as _api
from .._drivers.sync import SyncDriver  # (the blocking client, imported with the package, has it)

# The blocking client never imports the asyncio driver; what evaluates the annotations that name
# it does (hence they name the module).
if TYPE_CHECKING:
    from .._drivers import aio as aio_driver
else:
    aio_driver = deferred_module("runpod_facade._drivers.aio")

__all__ = ["AsyncRunner", "EndpointLink", "SyncRunner"]

T = TypeVar("T")
D = TypeVar("D")


@dataclass(frozen=True, slots=True)
class EndpointLink(Generic[D]):
    """What a job handle and its stream are given of their endpoint, as an openai resource is
    given its client's ``get``/``post``: the endpoint keeps one and hands it to every handle.

    Attributes:
        core: the endpoint's requests, retries and waits, as operations (``_core``).
        driver: what runs an operation (``driver.run(op)``, blocking or awaitable) and
            iterates a stream's (``driver.iterate(op)``): a ``SyncDriver`` or ``AsyncDriver``.
    """

    core: EndpointCore
    driver: D


class SyncRunner(_api.SyncRunner):
    """Runs operations to their end with its link's driver, blocking the calling thread."""

    __slots__ = ()
    _link: EndpointLink[SyncDriver]

    @property
    def _driver(self) -> SyncDriver:
        return self._link.driver

    def _perform(self, operation: Operation[T]) -> T:
        return self._link.driver.run(operation)


class AsyncRunner(_api.AsyncRunner):
    """Runs operations with its link's driver on the running asyncio loop."""

    __slots__ = ()
    _link: EndpointLink[aio_driver.AsyncDriver]

    @property
    def _driver(self) -> aio_driver.AsyncDriver:
        return self._link.driver

    def _perform(self, operation: Operation[T]) -> Coroutine[Any, Any, T]:
        # The driver's coroutine, returned rather than awaited here: one coroutine less
        # per call (``api``'s awaitable method awaits it).
        return self._link.driver.run(operation)
