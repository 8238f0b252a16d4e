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
from types import MethodType
from typing import Any, Concatenate, Generic, ParamSpec, TypeVar, overload

from .._core.effects import Operation

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

    def _perform(self, operation: Operation[T]) -> Coroutine[Any, Any, T]:
        """The driver's coroutine running ``operation`` (returned, not awaited here: one
        coroutine less per call)."""
        raise NotImplementedError


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
