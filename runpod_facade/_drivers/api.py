"""What a public client class is built from: one definition per method for the blocking and
the asyncio class alike, and its ``with`` block.

A public method is written once, on a shared base class, as a function that checks its
arguments and returns an operation (a generator of effects). :class:`api` makes it a method
that runs that operation: blocking on a :class:`SyncRunner` (``Endpoint``, ``Job``,
``Batches``), awaitable on an :class:`AsyncRunner` (``AsyncEndpoint``, ``AsyncJob``,
``AsyncBatches``). Each runner says how it performs an operation (``_perform``); type
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
from collections.abc import Callable, Coroutine, Generator
from types import MethodType, TracebackType
from typing import Any, ClassVar, Concatenate, Generic, ParamSpec, Self, TypeVar, overload

__all__ = ["AsyncClosing", "AsyncRunner", "Closing", "SyncRunner", "api"]

P = ParamSpec("P")
T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])


class SyncRunner:
    """Runs an operation to its end, blocking the calling thread."""

    __slots__ = ()

    def _perform(self, operation: Generator[Any, Any, T]) -> T:
        raise NotImplementedError


class AsyncRunner:
    """Runs an operation to its end on the running asyncio loop."""

    __slots__ = ()

    async def _perform(self, operation: Generator[Any, Any, T]) -> T:
        raise NotImplementedError


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

    #: The return annotation an awaitable method shows, ``{}`` being the operation's result.
    awaitable_returns: ClassVar[str] = "Coroutine[Any, Any, {}]"

    def __init__(self, build: Callable[Concatenate[Any, P], Generator[Any, Any, T]]) -> None:
        #: The function written on the base class (checks, then the operation): what
        #: ``_clients.derived`` reuses to make a handle's method from an endpoint's.
        self.build = build
        functools.update_wrapper(self, build)

        # The two methods are made once, here; each access only binds one (a C-level
        # MethodType) to its `self`, which keeps a call as cheap as that of a plain method.
        async def run_async(self: AsyncRunner, /, *args: P.args, **kwargs: P.kwargs) -> T:
            return await self._perform(build(self, *args, **kwargs))

        def run(self: SyncRunner, /, *args: P.args, **kwargs: P.kwargs) -> T:
            return self._perform(build(self, *args, **kwargs))

        self._run_async = _shown_as(run_async, build, self.awaitable_returns)
        self._run = _shown_as(run, build, "{}")

    @overload
    def __get__(self, obj: None, owner: type[Any]) -> Self: ...

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


def _shown_as(method: F, build: Callable[..., Any], returns: str) -> F:
    """``method`` with ``build``'s name, docstring and signature, but returning ``returns``
    of the operation's value (``Operation[T]``'s ``T``), not the operation."""
    functools.update_wrapper(method, build)
    signature = inspect.signature(build)
    written = str(signature.return_annotation)
    head, bracket, value = written.partition("[")
    if head.endswith("Operation") and bracket and value.endswith("]"):
        written = value[:-1]
    method.__signature__ = signature.replace(return_annotation=returns.format(written))  # type: ignore[attr-defined]
    return method
