"""Running the user's app's ASGI lifespan once for the whole pool (its startup may load a
model, as a vLLM worker does), and sharing its lifespan state with every request."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from starlette.types import ASGIApp, Message

__all__ = ["Lifespan"]


class Lifespan:
    """Drives ``app``'s lifespan protocol; an app without lifespan support is fine."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app
        self.state: dict[str, Any] = {}
        self._to_app: asyncio.Queue[Message] = asyncio.Queue()
        self._from_app: asyncio.Queue[Message] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    async def startup(self) -> str | None:
        """Start the app; an error message when its startup failed, else ``None``."""
        self._to_app = asyncio.Queue()
        self._from_app = asyncio.Queue()
        scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": self.state}
        self._task = asyncio.ensure_future(self._app(scope, self._to_app.get, self._from_app.put))
        await self._to_app.put({"type": "lifespan.startup"})
        reply = await self._next()
        if reply is None:
            return None  # the app does not speak lifespan
        if reply["type"] == "lifespan.startup.failed":
            return str(reply.get("message", "startup failed"))
        return None

    async def shutdown(self) -> None:
        if self._task is None or self._task.done():
            return
        await self._to_app.put({"type": "lifespan.shutdown"})
        await self._next()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await asyncio.wait_for(self._task, 1.0)

    async def _next(self) -> Message | None:
        """The app's next lifespan message, or ``None`` if it returned or raised first."""
        assert self._task is not None
        getter = asyncio.ensure_future(self._from_app.get())
        await asyncio.wait((getter, self._task), return_when=asyncio.FIRST_COMPLETED)
        if getter.done():
            return getter.result()
        getter.cancel()
        with contextlib.suppress(Exception):
            self._task.result()
        return None
