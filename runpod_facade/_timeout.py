"""The per-request HTTP timeouts a client is given: one type for every HTTP backend."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from enum import Enum
from typing import Final

from ._exceptions import InvalidInputError
from ._options import to_seconds

__all__ = ["DEFAULT_TIMEOUT", "Timeout"]

Seconds = float | timedelta | None


class _Unset(Enum):
    """A phase given no value of its own: it takes ``Timeout``'s first argument."""

    UNSET = "unset"


_UNSET: Final = _Unset.UNSET


def _phase(value: object, name: str) -> float | None:
    if value is None:
        return None
    seconds = to_seconds(value, name)  # type: ignore[arg-type]  # checked there
    if seconds == 0:
        raise InvalidInputError(f"{name} must be positive (or None for no limit)")
    return seconds


@dataclass(frozen=True, slots=True, init=False)
class Timeout:
    """HTTP timeouts of each request, in seconds (or ``timedelta``; ``None``: no limit). The
    same for the httpx and the aiohttp backend.

    ``Timeout(30)`` gives every phase 30 s; ``Timeout(30, connect=5)`` all but ``connect``.
    The phases: ``connect`` (to open a connection), ``read`` (between bytes of the reply),
    ``write`` (between bytes of the request), ``pool`` (to get a free connection). A
    long-poll's read timeout is its hold plus ``read``; how long a wait lasts is the wait's own
    ``timeout=``. Out-of-range values raise ``InvalidInputError`` here, before any request.
    Immutable: make a new one rather than set a phase.
    """

    connect: float | None
    read: float | None
    write: float | None
    pool: float | None

    def __init__(
        self,
        default: Seconds,
        *,
        connect: Seconds | _Unset = _UNSET,
        read: Seconds | _Unset = _UNSET,
        write: Seconds | _Unset = _UNSET,
        pool: Seconds | _Unset = _UNSET,
    ) -> None:
        base = _phase(default, "timeout")
        for name, value in (("connect", connect), ("read", read), ("write", write), ("pool", pool)):
            seconds = base if value is _UNSET else _phase(value, f"timeout {name}")
            object.__setattr__(self, name, seconds)


#: A client's timeouts unless told otherwise: 5 s to connect, 30 s for the rest.
DEFAULT_TIMEOUT: Final = Timeout(30.0, connect=5.0)
