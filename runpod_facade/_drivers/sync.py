"""The blocking driver: runs the core's effect generators over a ``SyncTransport``.

A driver performs each effect an operation yields (``Send`` through its transport, ``Sleep``
on its clock) and sends the outcome back in. An interrupt that arrives while an effect is
being performed — Ctrl-C, a task cancellation — is thrown into the operation where it
stands, so the operation itself decides what to cancel and what to tell the caller (see
``_core.interrupts``). The transports (``_transports``) only move bytes.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

from .._core.effects import Emit, Operation, Send, Sleep
from .._transports.base import SyncTransport
from .base import DriverBase, Steps, T, log_outcome

__all__ = ["SyncDriver"]


class SyncDriver(DriverBase):
    """Performs effects with a blocking transport and ``time.sleep``."""

    def __init__(
        self,
        transport: SyncTransport,
        *,
        sleep: Callable[[float], None] = time.sleep,
        what: str = "Endpoint",
    ) -> None:
        super().__init__(what)
        self.transport = transport
        self.sleep = sleep

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
        steps = Steps(operation)
        try:
            while (effect := steps.next_effect()) is not None:
                try:
                    steps.answer(self._perform(effect))
                except KeyboardInterrupt as exc:
                    steps.interrupt(exc)
            return steps.result
        finally:
            steps.close()

    def iterate(self, operation: Operation[None]) -> Iterator[Any]:
        """Iterate the values ``operation`` emits (stream chunks)."""
        steps = Steps(operation)
        try:
            while (effect := steps.next_effect()) is not None:
                if isinstance(effect, Emit):
                    yield effect.value
                    continue
                try:
                    steps.answer(self._perform(effect))
                except KeyboardInterrupt as exc:
                    steps.interrupt(exc)
        finally:
            steps.close()
