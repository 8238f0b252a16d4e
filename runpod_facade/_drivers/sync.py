"""The blocking driver: runs the core's effect generators over a ``SyncTransport``."""

from __future__ import annotations

import time
from collections.abc import Callable, Generator
from dataclasses import KW_ONLY, dataclass, field
from typing import Any

from .._core.effects import Emit, Operation, Send, Sleep
from .._transports.base import SyncTransport
from .base import DriverBase, T, log_outcome

__all__ = ["SyncDriver"]


@dataclass(eq=False, repr=False)
class SyncDriver(DriverBase):
    """Performs effects with a blocking transport and ``time.sleep``."""

    transport: SyncTransport
    _: KW_ONLY
    sleep: Callable[[float], None] = time.sleep
    what: str = "Endpoint"
    closed: bool = field(default=False, init=False)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.transport.close()

    def _perform(self, effect: object) -> Any:
        if isinstance(effect, Send):
            self.check_open()
            started = time.perf_counter()
            outcome = self.transport.send(effect.request, effect.timeouts)
            log_outcome(effect, outcome, started)
            return outcome
        if isinstance(effect, Sleep):
            if effect.seconds > 0:
                self.sleep(effect.seconds)
            return None
        raise TypeError(f"unexpected effect {effect!r}")

    def run(self, operation: Operation[T]) -> T:
        """Run ``operation`` to its end and return its value."""
        steps = self.iterate(operation)
        try:
            value = next(steps)  # runs the whole operation unless it emits
        except StopIteration as stop:
            result: T = stop.value
            return result
        steps.close()
        raise TypeError(f"unexpected effect {Emit(value)!r}")

    def iterate(self, operation: Operation[T]) -> Generator[Any, None, T]:
        """Iterate the values ``operation`` emits (stream chunks); return its value."""
        answer: Any = None
        interrupt: BaseException | None = None
        try:
            while True:
                try:
                    if interrupt is not None:
                        effect = operation.throw(interrupt)
                    else:
                        effect = operation.send(answer)
                except StopIteration as stop:
                    result: T = stop.value
                    return result
                answer = interrupt = None
                if isinstance(effect, Emit):
                    yield effect.value
                    continue
                try:
                    answer = self._perform(effect)
                except KeyboardInterrupt as exc:
                    interrupt = exc
        finally:
            operation.close()
