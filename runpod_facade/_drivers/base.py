"""What both drivers share: logging each outcome and refusing work once closed."""

from __future__ import annotations

import logging
import time
from typing import TypeVar

from .._core.effects import Send
from .._exceptions import ClientClosedError
from .._transports.base import ApiResponse, TransportFailure

__all__ = ["DriverBase", "log_outcome", "logger"]

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


class DriverBase:
    closed: bool
    #: The client's class name, for the error once closed.
    what: str

    def check_open(self) -> None:
        """ClientClosedError once closed: a closed client sends nothing, not even on re-entry
        of its ``with`` block."""
        if self.closed:
            raise ClientClosedError(
                f"this {self.what} is closed; create a new one (or use it in a with block)"
            )
