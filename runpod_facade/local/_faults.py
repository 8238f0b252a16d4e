"""Fault injection: make chosen requests misbehave the way real networks and proxies do.

A :class:`Fault` says *what* goes wrong (``kind``), *where* (``route``: an operation name such
as ``"status"``, or ``"*"`` for every route) and *how often*: it fires on at most ``times``
matching requests (``None`` = no limit), each with probability ``rate`` drawn from the
:class:`FaultSet`'s seeded RNG, so a rate-based run is reproducible.

Kinds that act *before* the request is processed (no state changes):

``http_error``  reply ``status`` (default 500) with a JSON error body, plus ``Retry-After``
                when ``retry_after`` is set (seconds, an HTTP-date string, or a datetime).
``html``        reply ``status`` (default 502) with an HTML page, as a proxy would.
``empty``       reply ``status`` (default 200) with an empty body.
``delay``       sleep ``delay`` seconds, then process the request normally.
``hang``        never reply; the request stays open until the client gives up.
``drop``        close the TCP connection without sending anything.

Kinds that act *after* the request was processed (a ``run`` really creates its job):

``drop_after``      close the connection instead of sending the reply.
``drop_mid_body``   send the status line, headers and half the body, then close.
``truncated``       send a well-formed HTTP reply whose JSON body is cut in half.
``unknown_status``  replace the reply's ``status`` with ``status_value`` (default ``PAUSED``).
``missing_fields``  remove the keys in ``fields`` (default ``("status",)``) from the reply.
``extra_fields``    add the items of ``extra`` to the reply.
"""

from __future__ import annotations

import datetime as _dt
import random
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from email.utils import format_datetime
from typing import Any, Final, Literal, get_args

from runpod_generated.operations import OPERATIONS as SPEC_OPERATIONS

__all__ = ["OPERATIONS", "Fault", "FaultKind", "FaultSet"]

FaultKind = Literal[
    "http_error",
    "html",
    "empty",
    "delay",
    "hang",
    "drop",
    "drop_after",
    "drop_mid_body",
    "truncated",
    "unknown_status",
    "missing_fields",
    "extra_fields",
]

#: Operation names, as used by :class:`Fault.route` and :class:`RequestRecord.operation`: the
#: spec's operation table, in its order.
OPERATIONS: Final = tuple(SPEC_OPERATIONS)

PRE_KINDS: Final = frozenset({"http_error", "html", "empty", "delay", "hang", "drop"})

_DEFAULT_STATUS: Final[Mapping[str, int]] = {"http_error": 500, "html": 502, "empty": 200}


@dataclass(frozen=True)
class Fault:
    """One injected misbehaviour; see the module docstring for the kinds.

    ``times`` caps how many requests it spoils (``None``: unlimited); ``rate`` is the probability
    that a matching request is spoiled. ``Fault("status", "http_error", status=429,
    retry_after="1", times=2)`` answers the next two ``status`` calls with 429.
    """

    route: str
    kind: FaultKind
    times: int | None = 1
    rate: float = 1.0
    status: int | None = None
    retry_after: str | int | float | _dt.datetime | None = None
    delay: float = 0.0
    body: str | None = None
    status_value: str = "PAUSED"
    fields: tuple[str, ...] = ("status",)
    extra: Mapping[str, Any] = field(default_factory=lambda: {"x_local_extra": True})

    def __post_init__(self) -> None:
        if self.route != "*" and self.route not in OPERATIONS:
            raise ValueError(f"unknown route {self.route!r}; expected '*' or one of {OPERATIONS}")
        if self.kind not in get_args(FaultKind):
            raise ValueError(f"unknown fault kind {self.kind!r}")
        if self.times is not None and self.times < 1:
            raise ValueError("times must be >= 1 or None")
        if not 0.0 <= self.rate <= 1.0:
            raise ValueError("rate must be within [0, 1]")
        if self.delay < 0:
            raise ValueError("delay must be >= 0")
        if self.status is not None and not 100 <= self.status <= 599:
            raise ValueError("status must be an HTTP status code")

    @property
    def status_code(self) -> int:
        """The HTTP status this fault replies with (``http_error``, ``html``, ``empty``)."""
        return self.status if self.status is not None else _DEFAULT_STATUS.get(self.kind, 500)

    @property
    def retry_after_header(self) -> str | None:
        """``Retry-After`` as sent on the wire, or ``None``."""
        value = self.retry_after
        if value is None or isinstance(value, str):
            return value
        if isinstance(value, _dt.datetime):
            if value.tzinfo is None:
                value = value.replace(tzinfo=_dt.UTC)
            return format_datetime(value.astimezone(_dt.UTC), usegmt=True)
        return str(max(0, round(value)))


class FaultSet:
    """The faults armed on one endpoint, consulted once per request; thread-safe.

    Faults are tried in the order they were added; the first that fires wins.
    """

    def __init__(self, faults: Iterable[Fault] = (), *, seed: int | None = 0) -> None:
        self._lock = threading.Lock()
        self._rng = random.Random(seed)
        self._armed: list[list[Any]] = []  # [fault, remaining times or None]
        for fault in faults:
            self.add(fault)

    def add(self, fault: Fault) -> Fault:
        """Arm ``fault`` and return it."""
        if not isinstance(fault, Fault):
            raise TypeError(f"expected a Fault, got {type(fault).__name__}")
        with self._lock:
            self._armed.append([fault, fault.times])
        return fault

    def extend(self, faults: Iterable[Fault]) -> None:
        """Arm several faults."""
        for fault in faults:
            self.add(fault)

    def clear(self) -> None:
        """Disarm every fault."""
        with self._lock:
            self._armed.clear()

    def seed(self, seed: int | None) -> None:
        """Reseed the RNG used by rate-based faults."""
        with self._lock:
            self._rng.seed(seed)

    @property
    def armed(self) -> list[Fault]:
        """Faults that can still fire."""
        with self._lock:
            return [entry[0] for entry in self._armed]

    def __len__(self) -> int:
        with self._lock:
            return len(self._armed)

    def pick(self, operation: str) -> Fault | None:
        """Return the fault to apply to one request of ``operation``, consuming one use."""
        with self._lock:
            for entry in self._armed:
                fault: Fault = entry[0]
                if fault.route not in ("*", operation):
                    continue
                # Only draw from the RNG for probabilistic faults so that count-based faults
                # do not shift the random sequence of the others.
                if fault.rate < 1.0 and self._rng.random() >= fault.rate:
                    continue
                if entry[1] is not None:
                    entry[1] -= 1
                    if entry[1] <= 0:
                        self._armed.remove(entry)
                return fault
        return None
