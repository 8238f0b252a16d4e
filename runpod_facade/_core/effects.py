"""What the sans-IO core asks its driver to do. The sync and async drivers perform the same
effects, so every decision (retries, deadlines, long-poll, terminal states) is written once."""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from typing import Any, TypeVar

from .._transports.base import ApiRequest, Timeouts

__all__ = ["Effect", "Emit", "Operation", "Send", "Sleep"]

T = TypeVar("T")
#: No limit on any phase: what a ``Send`` built outside the core (a test's) carries.
UNLIMITED = Timeouts(connect=None, read=None, write=None, pool=None)


@dataclass(slots=True)  # not frozen, for speed: see ApiRequest
class Send:
    """Send ``request`` with ``timeouts``; the driver answers with an ``ApiResponse`` or a
    ``TransportFailure``. The core decides ``timeouts`` (``deadline.effective_timeouts``); the
    driver only performs them. ``cap`` is what remained of the caller's deadline."""

    request: ApiRequest
    cap: float | None = None
    attempt: int = 0
    timeouts: Timeouts = UNLIMITED


@dataclass(frozen=True, slots=True)
class Sleep:
    seconds: float


@dataclass(frozen=True, slots=True)
class Emit:
    """Hand one value to the caller (stream chunks); the driver answers ``None``."""

    value: Any


Effect = Send | Sleep | Emit
Operation = Generator[Effect, Any, T]
