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
from types import MethodType
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

        # The two methods are made once, here; each access only binds one (a C-level
        # MethodType), which keeps a call as cheap as that of a plain method.
        async def run_async(runner: AsyncRunner, /, *args: P.args, **kwargs: P.kwargs) -> T:
            return await runner._perform(build(runner, *args, **kwargs))

        def run(runner: SyncRunner, /, *args: P.args, **kwargs: P.kwargs) -> T:
            return runner._perform(build(runner, *args, **kwargs))

        self._run_async = functools.update_wrapper(run_async, build)
        self._run = functools.update_wrapper(run, build)

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
