"""Fault injection for the local load-balancing endpoint: the queue endpoint's kinds that make
sense for plain HTTP, plus the platform's own failures, matched by method and path.

Before any worker sees the request: ``http_error`` (``status``, default 500), ``html`` (a
proxy's page, default 502), ``empty``, ``delay`` (then normal processing), ``hang``, ``drop``,
``no_workers`` (the router's 400 "no workers available") and ``bad_gateway`` (the router's
502). After the worker processed it: ``drop_after`` (the reply is lost).
"""

from __future__ import annotations

import random
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal, get_args

__all__ = ["LBFault", "LBFaultKind", "LBFaultSet"]

LBFaultKind = Literal[
    "http_error",
    "html",
    "empty",
    "delay",
    "hang",
    "drop",
    "no_workers",
    "bad_gateway",
    "drop_after",
]


@dataclass(frozen=True)
class LBFault:
    """One injected misbehaviour on requests matching ``method`` and ``path`` (``"*"``: any;
    a path ending in ``*`` matches by prefix), at most ``times`` times (``None``: always),
    each with probability ``rate``."""

    kind: LBFaultKind
    path: str = "*"
    method: str = "*"
    times: int | None = 1
    rate: float = 1.0
    status: int | None = None
    delay: float = 0.0
    body: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in get_args(LBFaultKind):
            raise ValueError(f"unknown fault kind {self.kind!r}; one of {get_args(LBFaultKind)}")
        if self.path != "*" and not self.path.startswith("/"):
            raise ValueError(f"path must be '*' or start with '/', got {self.path!r}")
        if self.times is not None and self.times < 1:
            raise ValueError("times must be >= 1 or None")
        if not 0.0 <= self.rate <= 1.0:
            raise ValueError("rate must be within [0, 1]")
        if self.delay < 0:
            raise ValueError("delay must be >= 0")
        if self.status is not None and not 100 <= self.status <= 599:
            raise ValueError("status must be an HTTP status code")

    def matches(self, method: str, path: str) -> bool:
        if self.method not in ("*", method):
            return False
        if self.path == "*":
            return True
        if self.path.endswith("*"):
            return path.startswith(self.path[:-1])
        return path == self.path


class LBFaultSet:
    """The armed faults, tried in the order added (the first that fires wins); thread-safe."""

    def __init__(self, faults: Iterable[LBFault] = (), *, seed: int | None = 0) -> None:
        self._lock = threading.Lock()
        self._rng = random.Random(seed)
        self._armed: list[list[object]] = []
        for fault in faults:
            self.add(fault)

    def add(self, fault: LBFault) -> LBFault:
        if not isinstance(fault, LBFault):
            raise TypeError(f"expected an LBFault, got {type(fault).__name__}")
        with self._lock:
            self._armed.append([fault, fault.times])
        return fault

    def clear(self) -> None:
        with self._lock:
            self._armed.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._armed)

    def pick(self, method: str, path: str) -> LBFault | None:
        """The fault for one request, consuming one of its uses; ``None`` when none fires."""
        if not self._armed:
            return None
        with self._lock:
            for entry in self._armed:
                fault = entry[0]
                assert isinstance(fault, LBFault)
                if not fault.matches(method, path):
                    continue
                if fault.rate < 1.0 and self._rng.random() >= fault.rate:
                    continue
                left = entry[1]
                if isinstance(left, int):
                    entry[1] = left - 1
                    if left <= 1:
                        self._armed.remove(entry)
                return fault
        return None
