"""The engine's private event loop, in a daemon thread of its own.

Job state lives on this loop only, so it needs no locks. The HTTP side reaches it with
:meth:`EngineLoop.call` from whatever loop serves the request, which keeps the engine alive
across the short-lived loops of test clients (``httpx.ASGITransport``, Starlette's
``TestClient``) as well as under uvicorn.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import itertools
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

__all__ = ["EngineClosed", "EngineLoop"]

_T = TypeVar("_T")


class _DaemonThreads(concurrent.futures.ThreadPoolExecutor):
    """The loop's default executor: each call runs in a daemon thread of its own.

    A sync handler that never returns cannot be stopped, only abandoned. In a
    ``ThreadPoolExecutor`` it would hold a pool thread for good (a few of them and later jobs
    never start) and, since the pool's threads are joined at interpreter exit, keep the
    user's process (a whole pytest run) from ever exiting. A thread per call has neither
    problem; the engine already bounds how many handlers run at once.
    """

    def __init__(self, name: str) -> None:
        super().__init__(max_workers=1)  # an instance for set_default_executor; never used
        self._name = name
        self._numbers = itertools.count()
        self._lock = threading.Lock()
        self._live: set[threading.Thread] = set()
        self._closed = False

    def submit(
        self, fn: Callable[..., _T], /, *args: Any, **kwargs: Any
    ) -> concurrent.futures.Future[_T]:
        future: concurrent.futures.Future[_T] = concurrent.futures.Future()

        def run() -> None:
            try:
                if future.set_running_or_notify_cancel():
                    try:
                        result = fn(*args, **kwargs)
                    except BaseException as exc:  # the caller gets it, as from a pool
                        future.set_exception(exc)
                    else:
                        future.set_result(result)
            finally:
                with self._lock:
                    self._live.discard(threading.current_thread())

        with self._lock:
            if self._closed:
                raise RuntimeError("cannot schedule new futures after shutdown")
            thread = threading.Thread(
                target=run, name=f"{self._name}_{next(self._numbers)}", daemon=True
            )
            self._live.add(thread)
        thread.start()
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        with self._lock:
            self._closed = True
            live = list(self._live)
        super().shutdown(wait=False)
        if wait:
            for thread in live:
                thread.join()

    def join(self, timeout: float) -> None:
        """Wait up to ``timeout`` in all for the running calls; those stuck in a handler are
        left (a deadline for all, so that many stuck handlers do not add up)."""
        deadline = time.monotonic() + timeout
        with self._lock:
            live = list(self._live)
        for thread in live:
            thread.join(max(0.0, deadline - time.monotonic()))


class EngineClosed(RuntimeError):
    """The endpoint is shutting down and takes no more work."""


class EngineLoop:
    """Starts, serves and stops the loop thread.

    ``boot`` runs on the loop each time it starts (set up fresh state there); ``shutdown`` is
    awaited on the loop when it closes. Sync handlers run in threads of :class:`_DaemonThreads`.
    """

    def __init__(
        self,
        *,
        boot: Callable[[], None],
        shutdown: Callable[[], Awaitable[None]],
    ) -> None:
        self._boot = boot
        self._shutdown = shutdown
        self._start_lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._executor: _DaemonThreads | None = None
        self._closed = False

    def start(self) -> None:
        """Start the loop thread (idempotent).

        A closed loop starts afresh (``boot`` runs again): an ASGI server or test client may
        run the app's lifespan more than once.
        """
        with self._start_lock:
            if self._closed:
                self._closed = False
                self._thread = self._loop = self._executor = None
            if self._thread is not None:
                return
            self._executor = _DaemonThreads("runpod-local-handler")
            ready = threading.Event()
            self._thread = threading.Thread(
                target=self._main, args=(ready,), name="runpod-local-engine", daemon=True
            )
            self._thread.start()
            ready.wait()

    def _main(self, ready: threading.Event) -> None:
        loop = asyncio.new_event_loop()
        assert self._executor is not None
        loop.set_default_executor(self._executor)
        self._loop = loop

        def boot() -> None:
            try:
                self._boot()
            finally:
                ready.set()

        loop.call_soon(boot)
        try:
            loop.run_forever()
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            loop.close()

    def call_soon(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` on the loop soon, from any thread; a no-op once it has stopped."""
        loop = self._loop
        if loop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(callback)

    def close(self, timeout: float = 5.0) -> None:
        """Await ``shutdown`` on the loop, stop it and join its thread."""
        with self._start_lock:
            if self._closed:
                return
            self._closed = True
            thread, loop, executor = self._thread, self._loop, self._executor
        if thread is None or loop is None:
            return
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(self._shutdown_coro(), loop).result(timeout)
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout)
        if executor is not None:
            executor.shutdown(wait=False)
            executor.join(0.5)

    async def _shutdown_coro(self) -> None:
        await self._shutdown()

    async def call(self, coro: Coroutine[Any, Any, _T]) -> _T:
        """Run ``coro`` on the loop and await it from the caller's loop."""
        loop = self._running_loop(coro)
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, loop))

    def call_sync(self, coro: Coroutine[Any, Any, _T], timeout: float = 10.0) -> _T:
        """Run ``coro`` on the loop and block the calling (non-loop) thread for its result."""
        loop = self._running_loop(coro)
        return asyncio.run_coroutine_threadsafe(coro, loop).result(timeout)

    def _running_loop(self, coro: Coroutine[Any, Any, Any]) -> asyncio.AbstractEventLoop:
        # Start lazily (in-process use has no lifespan), but never reopen a closed loop here.
        loop = None
        if not self._closed:
            self.start()
            loop = self._loop
        if loop is None:
            coro.close()
            raise EngineClosed("the local endpoint is shutting down")
        return loop
