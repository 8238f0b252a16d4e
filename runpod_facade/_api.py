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
from collections.abc import Callable, Coroutine
from typing import Any, Concatenate, Generic, ParamSpec, TypeVar, overload

from ._effects import Operation

__all__ = ["AsyncRunner", "SyncRunner", "api"]

P = ParamSpec("P")
T = TypeVar("T")


class SyncRunner:
    """Runs operations to their end, blocking the calling thread."""

    __slots__ = ()

    def _perform(self, operation: Operation[T]) -> T:
        raise NotImplementedError


class AsyncRunner:
    """Runs operations on the running asyncio loop."""

    __slots__ = ()

    async def _perform(self, operation: Operation[T]) -> T:
        raise NotImplementedError


class api(Generic[P, T]):
    """Turn ``def name(self, ...) -> Operation[T]`` into a blocking or awaitable method."""

    def __init__(self, build: Callable[Concatenate[Any, P], Operation[T]]) -> None:
        self._build = build
        functools.update_wrapper(self, build)  # type: ignore[arg-type]

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
        build = self._build
        if isinstance(obj, AsyncRunner):

            async def run_async(*args: P.args, **kwargs: P.kwargs) -> T:
                return await obj._perform(build(obj, *args, **kwargs))

            functools.update_wrapper(run_async, build)
            return run_async
        if isinstance(obj, SyncRunner):

            def run(*args: P.args, **kwargs: P.kwargs) -> T:
                return obj._perform(build(obj, *args, **kwargs))

            functools.update_wrapper(run, build)
            return run
        raise TypeError(f"{type(obj).__name__} is neither a SyncRunner nor an AsyncRunner")
