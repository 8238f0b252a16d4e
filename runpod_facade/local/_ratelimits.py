"""RunPod's per-route rate limits, enforced by the local endpoint when asked.

Each endpoint id gets, per route, a sliding window of the times of the requests it admitted
(at most ``requests`` within any ``per_seconds``) and a count of those still being answered
(at most ``concurrent``). A request over either limit is answered 429 before it is read or
run, with a JSON ``{"error": ...}`` body like the other errors of the local endpoint; RunPod
documents neither a body nor ``Retry-After`` for its 429, so the header is sent only when the
limits ask for it (``RateLimits(retry_after=True)``). A sliding window is the strictest
reading of "N requests per 10 seconds": a client that passes it passes a token bucket too.
"""

from __future__ import annotations

import math
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .._rate_limits import RateLimit, RateLimits, check_positive, rate_limits_from

__all__ = ["RateLimiter", "Refusal", "limiter_from"]


@dataclass(frozen=True, slots=True)
class Refusal:
    """A request the limits refuse: which limit, and seconds until that limit frees."""

    route: str
    limit: RateLimit
    concurrency: bool
    retry_after: float

    def body(self) -> dict[str, Any]:
        if self.concurrency:
            what = f"{self.limit.concurrent} requests in progress at once"
        else:
            what = f"{self.limit.requests} requests per {self.limit.per_seconds:g} s"
        return {"error": f"Too Many Requests: /{self.route} allows {what} per endpoint"}


class _Window:
    """One route of one endpoint: admitted times in the window, and requests in progress."""

    __slots__ = ("admitted", "in_progress")

    def __init__(self) -> None:
        self.admitted: deque[float] = deque()
        self.in_progress = 0


class RateLimiter:
    """Admits or refuses requests per (endpoint id, route); thread-safe.

    Call :meth:`admit` on arrival; when it returns ``None`` the request was admitted and
    :meth:`release` must follow once it is answered. ``refused`` counts 429s per route.
    """

    def __init__(self, limits: RateLimits, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.limits = limits
        self.clock = clock
        self.refused: Counter[str] = Counter()
        self.admitted: Counter[str] = Counter()
        self._windows: dict[tuple[str, str], _Window] = {}
        self._lock = threading.Lock()

    def admit(self, endpoint_id: str, route: str) -> Refusal | None:
        """``None`` when the request may go on; otherwise why it is refused."""
        limit = self.limits.routes.get(route)
        if limit is None:
            return None
        with self._lock:
            now = self.clock()
            window = self._windows.get((endpoint_id, route))
            if window is None:
                window = self._windows[endpoint_id, route] = _Window()
            admitted = window.admitted
            horizon = now - limit.per_seconds
            while admitted and admitted[0] <= horizon:
                admitted.popleft()
            refusal = None
            if len(admitted) >= limit.requests:
                refusal = Refusal(route, limit, False, admitted[0] - horizon)
            elif limit.concurrent is not None and window.in_progress >= limit.concurrent:
                # Frees when a request in progress ends: no time to give but "soon".
                refusal = Refusal(route, limit, True, 1.0)
            if refusal is not None:
                self.refused[route] += 1
                return refusal
            admitted.append(now)
            window.in_progress += 1
            self.admitted[route] += 1
            return None

    def release(self, endpoint_id: str, route: str) -> None:
        """The admitted request on ``route`` has been answered."""
        if route not in self.limits.routes:
            return
        with self._lock:
            window = self._windows.get((endpoint_id, route))
            if window is not None and window.in_progress > 0:
                window.in_progress -= 1

    def headers(self, refusal: Refusal) -> dict[str, str]:
        """The headers of the 429 for ``refusal``."""
        if not self.limits.retry_after:
            return {}
        # Delta-seconds is a whole number (RFC 9110); round up so a client that obeys it
        # finds the window free.
        return {"retry-after": str(max(1, math.ceil(refusal.retry_after)))}


def limiter_from(rate_limits: object, time_scale: float = 1.0) -> RateLimiter | None:
    """The limiter a ``rate_limits=`` argument of the local endpoint names (``"runpod"``,
    a ``RateLimits``, a mapping of route to limit, or ``None`` for none), with windows
    ``time_scale`` times as long."""
    time_scale = check_positive(time_scale, "time_scale")
    if rate_limits == "runpod":
        limits: RateLimits | None = RateLimits.runpod(time_scale)
    else:
        limits = rate_limits_from(rate_limits, allow_learn=False)
        if limits is not None and time_scale != 1.0:
            limits = RateLimits(
                {name: limit.scaled(time_scale) for name, limit in limits.routes.items()},
                window=limits.window * time_scale,
                retry_after=limits.retry_after,
            )
    return None if limits is None else RateLimiter(limits)
