"""One definition per public method, for the blocking and the asyncio client alike.

A public method is written once, on a shared base class, as a function that checks its
arguments and returns the core's operation (a generator of effects). :class:`api` makes it
a method that runs that operation: blocking on a :class:`SyncRunner` (``Endpoint``,
``Job``), awaitable on an :class:`AsyncRunner` (``AsyncEndpoint``, ``AsyncJob``). Type
checkers see the right signature on each: the overloads of ``__get__`` pick by the class.

    class EndpointBase:
        @api
        def health(self) -> Operation[Health]:
            \"\"\"Job and worker counters of the endpoint.\"\"\"
            return self._core.health()

    Endpoint(...).health()            # -> Health
    await AsyncEndpoint(...).health() # -> Health
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from types import MethodType, TracebackType
from typing import TYPE_CHECKING, Any, Concatenate, Generic, ParamSpec, Self, TypeVar, overload

from .._core.effects import Operation
from .._core.engine import EndpointCore

if TYPE_CHECKING:  # the blocking client never imports the asyncio driver
    from .._drivers.aio import AsyncDriver
    from .._drivers.sync import SyncDriver

__all__ = ["AsyncClosing", "AsyncRunner", "Closing", "EndpointLink", "SyncRunner", "api"]

P = ParamSpec("P")
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


class SyncRunner:
    """Runs operations to their end with its link's driver, blocking the calling thread."""

    __slots__ = ()
    _link: EndpointLink[SyncDriver]

    @property
    def _driver(self) -> SyncDriver:
        return self._link.driver

    def _perform(self, operation: Operation[T]) -> T:
        return self._link.driver.run(operation)


class AsyncRunner:
    """Runs operations with its link's driver on the running asyncio loop."""

    __slots__ = ()
    _link: EndpointLink[AsyncDriver]

    @property
    def _driver(self) -> AsyncDriver:
        return self._link.driver

    async def _perform(self, operation: Operation[T]) -> T:
        return await self._link.driver.run(operation)


class Closing:
    """A ``with`` block calls :meth:`close` on the way out (clients and streams)."""

    __slots__ = ()

    def close(self) -> None: ...

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class AsyncClosing:
    """An ``async with`` block awaits :meth:`aclose` on the way out."""

    __slots__ = ()

    async def aclose(self) -> None: ...

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


class api(Generic[P, T]):
    """Turn ``def name(self, ...) -> Operation[T]`` into a blocking or awaitable method."""

    def __init__(self, build: Callable[Concatenate[Any, P], Operation[T]]) -> None:
        #: The function written on the base class (checks, then the operation): what
        #: ``derived`` reuses to make a handle's method from an endpoint's.
        self.build = build
        functools.update_wrapper(self, build)

        # The two methods are made once, here; each access only binds one (a C-level
        # MethodType) to the client or handle, its `self`, which keeps a call as cheap as
        # that of a plain method.
        async def run_async(self: AsyncRunner, /, *args: P.args, **kwargs: P.kwargs) -> T:
            return await self._perform(build(self, *args, **kwargs))

        def run(self: SyncRunner, /, *args: P.args, **kwargs: P.kwargs) -> T:
            return self._perform(build(self, *args, **kwargs))

        self._run_async = _shown_as(run_async, build, awaitable=True)
        self._run = _shown_as(run, build, awaitable=False)

    @overload
    def __get__(self, obj: None, owner: type[Any]) -> api[P, T]: ...

    @overload
    def __get__(self, obj: SyncRunner, owner: type[Any]) -> Callable[P, T]: ...

    @overload
    def __get__(
        self, obj: AsyncRunner, owner: type[Any]
    ) -> Callable[P, Coroutine[Any, Any, T]]: ...

    def __get__(self, obj: object, owner: type[Any]) -> Any:
        if obj is None:
            return self
        if isinstance(obj, AsyncRunner):
            return MethodType(self._run_async, obj)
        if isinstance(obj, SyncRunner):
            return MethodType(self._run, obj)
        raise TypeError(f"{type(obj).__name__} is neither a SyncRunner nor an AsyncRunner")

    def __call__(self, obj: Any, *args: Any, **kwargs: Any) -> Any:
        """``Endpoint.status(ep, job_id)``: the method called through the class."""
        return self.__get__(obj, type(obj))(*args, **kwargs)


F = TypeVar("F", bound=Callable[..., Any])


def _shown_as(method: F, build: Callable[..., Any], *, awaitable: bool) -> F:
    """``method`` with ``build``'s name, docstring and signature, but returning what the
    caller gets: the operation's value (or a coroutine of it), not the operation."""
    functools.update_wrapper(method, build)
    signature = inspect.signature(build)
    returns = str(signature.return_annotation)
    if returns.startswith("Operation[") and returns.endswith("]"):
        returns = returns[len("Operation[") : -1]
    if awaitable:
        returns = f"Coroutine[Any, Any, {returns}]"
    method.__signature__ = signature.replace(return_annotation=returns)  # type: ignore[attr-defined]
    return method
