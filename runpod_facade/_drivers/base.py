"""What both drivers share: walking an operation effect by effect, logging each outcome, and
refusing work once closed."""

from __future__ import annotations

import logging
import time
from typing import Any, Generic, TypeVar

from .._core.effects import Effect, Operation, Send
from .._exceptions import ClientClosedError
from .._transports.base import ApiResponse, TransportFailure

__all__ = ["DriverBase", "Steps", "log_outcome"]


T = TypeVar("T")


logger = logging.getLogger("runpod_facade")


def log_outcome(send: Send, outcome: ApiResponse | TransportFailure, started: float) -> None:
    if not logger.isEnabledFor(logging.DEBUG):
        return
    ms = (time.perf_counter() - started) * 1000
    result = f"HTTP {outcome.status_code}" if isinstance(outcome, ApiResponse) else outcome.message
    logger.debug(
        "%s %s -> %s in %.0f ms (attempt %d)",
        send.request.method,
        send.request.path,
        result,
        ms,
        send.attempt + 1,
    )


class Steps(Generic[T]):
    """Walks an operation effect by effect: what both drivers do between performing effects.

    ``next_effect()`` resumes the operation with the last answer — or throws the interrupt
    that arrived while the effect was performed, so the operation can clean up where it
    stands — and returns its next effect, or ``None`` once it has returned ``result``.
    """

    __slots__ = ("_answer", "_interrupt", "_operation", "result")

    def __init__(self, operation: Operation[T]) -> None:
        self._operation = operation
        self._answer: Any = None
        self._interrupt: BaseException | None = None
        self.result: T

    def next_effect(self) -> Effect | None:
        interrupt, self._interrupt = self._interrupt, None
        answer, self._answer = self._answer, None
        try:
            if interrupt is not None:
                return self._operation.throw(interrupt)
            return self._operation.send(answer)
        except StopIteration as stop:
            self.result = stop.value
            return None

    def answer(self, value: Any) -> None:
        self._answer = value

    def interrupt(self, exc: BaseException) -> None:
        self._interrupt = exc

    def close(self) -> None:
        self._operation.close()


class DriverBase:
    def __init__(self, what: str) -> None:
        self.closed = False
        self._what = what

    def check_open(self) -> None:
        """ClientClosedError once closed: a closed client sends nothing, not even on re-entry
        of its ``with`` block."""
        if self.closed:
            raise ClientClosedError(
                f"this {self._what} is closed; create a new one (or use it in a with block)"
            )
