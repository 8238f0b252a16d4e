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


class api(Generic[P, T]):  # lower case: used as a decorator, like property
    """Turn ``def name(self, ...) -> Operation[T]`` into a blocking or awaitable method."""

    def __init__(self, build: Callable[Concatenate[Any, P], Operation[T]]) -> None:
        self._build = build
        self._signatures: dict[bool, inspect.Signature] = {}
        functools.update_wrapper(self, build)

    def _signature(self, is_async: bool) -> inspect.Signature:
        """The bound method's signature as a caller sees it: no ``self``, and the value of the
        operation (or a coroutine of it) as the return annotation."""
        found = self._signatures.get(is_async)
        if found is None:
            signature = inspect.signature(self._build)
            returns = str(signature.return_annotation)
            if returns.startswith("Operation[") and returns.endswith("]"):
                returns = returns[len("Operation[") : -1]
            if is_async:
                returns = f"Coroutine[Any, Any, {returns}]"
            found = signature.replace(
                parameters=list(signature.parameters.values())[1:], return_annotation=returns
            )
            self._signatures[is_async] = found
        return found

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
        method: Any
        if isinstance(obj, AsyncRunner):

            async def method(*args: P.args, **kwargs: P.kwargs) -> T:
                return await obj._perform(build(obj, *args, **kwargs))

        elif isinstance(obj, SyncRunner):

            def method(*args: P.args, **kwargs: P.kwargs) -> T:
                return obj._perform(build(obj, *args, **kwargs))

        else:
            raise TypeError(f"{type(obj).__name__} is neither a SyncRunner nor an AsyncRunner")
        method.__name__ = build.__name__
        method.__qualname__ = f"{type(obj).__qualname__}.{build.__name__}"
        method.__doc__ = build.__doc__
        method.__signature__ = self._signature(isinstance(obj, AsyncRunner))
        return method

    def __call__(self, obj: Any, *args: Any, **kwargs: Any) -> Any:
        """``Endpoint.status(ep, job_id)``: the method called through the class."""
        return self.__get__(obj, type(obj))(*args, **kwargs)
