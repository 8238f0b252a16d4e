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
import threading
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

__all__ = ["EngineClosed", "EngineLoop"]

_T = TypeVar("_T")


class EngineClosed(RuntimeError):
    """The endpoint is shutting down and takes no more work."""


class EngineLoop:
    """Starts, serves and stops the loop thread.

    ``boot`` runs on the loop each time it starts (set up fresh state there); ``shutdown`` is
    awaited on the loop when it closes. ``threads`` sizes the pool that runs sync handlers.
    """

    def __init__(
        self,
        *,
        threads: int,
        boot: Callable[[], None],
        shutdown: Callable[[], Awaitable[None]],
    ) -> None:
        self._threads = threads
        self._boot = boot
        self._shutdown = shutdown
        self._start_lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None
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
            self._executor = concurrent.futures.ThreadPoolExecutor(
                max_workers=self._threads, thread_name_prefix="runpod-local-handler"
            )
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
            executor.shutdown(wait=False, cancel_futures=True)
            # Idle pool threads exit at once; one stuck in a sync handler is left behind.
            for worker in list(getattr(executor, "_threads", ())):
                worker.join(0.5)

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
