"""Client-side pacing: send each route's requests at the rate the server allows, instead of
bouncing off 429s. Pure: the caller passes the time in, so tests drive it with a fake clock.

One :class:`Pacer` belongs to one client and is shared by all its calls (a ``map`` and the
``status()`` calls beside it draw from the same per-route budgets; threads take turns under a
lock, asyncio tasks never wait on it). Before a request the core asks :meth:`Pacer.reserve`
how long to wait, which also books the next slot, so concurrent callers are spread one
interval apart instead of released together; after the reply it reports it with
:meth:`Pacer.observe`. A route that is not paced (every route until its first 429) only counts
its sends: the core records each through :attr:`Pacer.unpaced`, with no call into the pacer.

How a route's rate is known. RunPod limits a route to N requests per sliding window of W
seconds (10 s documented). Configured numbers (``RateLimits``) give N and W at once; without
them a route is not paced until its first 429, which says "N requests within the last W": the
pacer counts the requests it sent in the last W seconds that were not refused (those in flight
included: the server counted them on arrival) and takes that count as N. After a 429 it sends
nothing until the first of those the server counted has left the window (or for the server's
``Retry-After``, which wins when given), timed from its reply, not its send: the server's
window counts a request from its arrival, which under load (a transport queue, a busy event
loop) can be long after the pacer let it go, but never after its reply. A route is paced a
little under its rate (:data:`MARGIN`) so that network jitter cannot put N + 1 requests in one
window. The rate creeps up (:data:`PROBE_STEP` after :data:`PROBE_WINDOWS` windows in a row)
to find limits that grew — RunPod raises them with the number of running workers — but only
on evidence: windows without a 429 that held nearly all the pace lets in (90 % of it). A
lighter window starts the count again, so a client whose demand stays below the rate keeps
it, instead of drifting past a limit it never tested. A 429 while fewer than 90 % of the known
N were sent (another client on the same endpoint, or the concurrency limit) slows the route by
:data:`SLOW_DOWN` instead.
"""

from __future__ import annotations

import contextlib
import logging
import math
import threading
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Final

from .._rate_limits import DOCUMENTED_WINDOW_S, RUNPOD_RATE_LIMITS, RateLimits
from .._wire.replies import parse_retry_after

__all__ = [
    "CATCH_UP",
    "MARGIN",
    "PROBE_STEP",
    "PROBE_WINDOWS",
    "SLOW_DOWN",
    "WINDOW_SHARE",
    "Pacer",
    "RouteStats",
]

logger = logging.getLogger("runpod_facade")

#: Fraction of a route's rate the pacer sends at.
MARGIN: Final = 0.97
#: How far behind its schedule (a share of the window) a route may catch up with a burst.
#: Sends then stay within (MARGIN + CATCH_UP) × N per window.
CATCH_UP: Final = 0.015
#: The most of a route's N the pacer lets into one window, counting real send times.
WINDOW_SHARE: Final = 0.985
#: How much faster a route may go after :data:`PROBE_WINDOWS` windows at its limit.
PROBE_STEP: Final = 1.02
#: Windows in a row at the limit without a 429 before each step up: limits grow rarely (more
#: running workers), and each probe past the limit costs a 429 or two.
PROBE_WINDOWS: Final = 3
#: How much slower a route goes after a 429 that its own count does not explain.
SLOW_DOWN: Final = 0.8
# A 429 with fewer than this share of the known N in the window is not "the window is full";
# a window with fewer than this share of what the pace lets in did not press the limit.
_SATURATED: Final = 0.9
# A 429 teaches no rate below this share of the route's documented rate (or of _MIN_FLOOR
# requests per 10 s for an undocumented route): a 429 after a handful of requests has another
# cause (RunPod also answers 429 when an endpoint's queue is too long), and the retry policy's
# backoff covers it.
_FLOOR_SHARE: Final = 0.1
_MIN_FLOOR: Final = 10.0
# Send times kept per route (the oldest drop out); at 100k a window's count is a floor, which
# is safe.
_MAX_KEPT: Final = 100_000
# The share of the window in which only the first reply is kept (for Pacer.observe's 429).
_REPLY_GRAIN: Final = 1 / 64


@dataclass(frozen=True, slots=True)
class RouteStats:
    """One route's pacing: ``rate`` (requests per second, ``None`` while unpaced), requests
    the server ``accepted`` and ``refused`` (429), and seconds callers were held back."""

    rate: float | None
    accepted: int
    refused: int
    waited: float


@dataclass(slots=True, eq=False)
class _Route:
    """The pacing state of one route."""

    window: float
    # The slowest rate (requests/s) a 429 may teach: slower points to another cause.
    floor: float
    # N of the window, once configured or learned.
    known_requests: float | None
    rate: float | None
    # The most the route goes at: a configured rate without learning, else no limit.
    ceiling: float
    next_at: float = -math.inf
    blocked_until: float = -math.inf
    hinted_until: float = -math.inf
    changed_at: float = -math.inf
    # The last change of rate came from counting the window.
    counted: bool = False
    # Probing: the start of the window being judged, and how many windows in a row pressed
    # the limit (see Pacer._probe).
    probe_from: float = -math.inf
    pressed_windows: int = 0
    # Send times in the window of the requests not refused (in flight or accepted), and
    # older ones until the next trim.
    sent: deque[float] = field(default_factory=lambda: deque(maxlen=_MAX_KEPT))
    # (reply time, send time) of the first accepted reply of each grain of the window that
    # had one, oldest first, and when the next grain starts (see record_reply).
    replies: deque[tuple[float, float]] = field(default_factory=deque)
    record_at: float = -math.inf
    accepted_total: int = 0
    refused: int = 0
    waited: float = 0.0

    def trim(self, now: float) -> None:
        horizon = now - self.window
        sent = self.sent
        while sent and sent[0] <= horizon:
            sent.popleft()

    def record_reply(self, sent_at: float, now: float) -> None:
        """Keep the reply to a request sent at ``sent_at``, the first of its grain
        (:data:`_REPLY_GRAIN` of the window): a window holds at most that many, and a reply
        costs one comparison until the next grain. Skipping the others only ever makes
        :meth:`first_free` later, by about a grain."""
        self.record_at = now + _REPLY_GRAIN * self.window
        horizon = now - self.window
        replies = self.replies
        while replies and replies[0][0] <= horizon:
            replies.popleft()  # sent earlier still: out of any window to come
        replies.append((now, sent_at))

    def first_free(self, now: float) -> float:
        """After a 429 at ``now`` that fills the window: the latest time the request the
        server counted first could have arrived, so the window frees a window later.

        The server counts a request when it arrives, which may be long after it was sent (a
        transport queue, a busy event loop), but never after its reply: any accepted request
        sent within the window bounds the server's oldest arrival by its reply time, and the
        earliest such reply kept is the best bound known. One still in flight was, if the
        server counted it, there before the 429 was answered, so by ``now``."""
        horizon = now - self.window
        for reply_at, sent_at in self.replies:
            if sent_at > horizon:
                return min(reply_at, now)
        return now

    def presses(self, now: float) -> bool:
        """Whether the window now holds nearly all the pace lets in: :data:`_SATURATED` of
        its rate × window, or the cap :meth:`Pacer.admit` keeps (which a small N reaches
        first). A client whose demand is below the rate never does; one the pacer holds back
        always does, also after a slow-down left the rate well under N."""
        rate, known = self.rate, self.known_requests
        if rate is None or known is None:
            return False  # not paced: nothing to press
        self.trim(now)
        cap = max(1, int(known * WINDOW_SHARE))
        return len(self.sent) >= min(_SATURATED * rate * self.window, cap)

    def set_rate(self, rate: float, now: float) -> None:
        self.rate = min(rate, self.ceiling)
        self.changed_at = now


class Pacer:
    """Per-route pacing for one client (thread-safe; see the module docstring).

    ``limits`` gives routes' numbers up front; ``None`` means learn every route. A pacer
    built from ``RateLimits(..., learn=False)`` never goes faster than the numbers it got.
    """

    def __init__(self, limits: RateLimits | None = None) -> None:
        self._limits = limits if limits is not None else RateLimits.learned()
        self._routes: dict[str, _Route] = {}
        self._lock = threading.Lock()
        #: The routes sent freely now (not paced, not held back after a 429), each with the
        #: recorder of its sends: a request on one goes at once, recorded by calling this
        #: with its send time (then :meth:`observe` as usual), without the lock or a call of
        #: :meth:`reserve_and_admit` (a deque's C ``append``: one per request of every call).
        #: A route joins when :meth:`reserve_and_admit` finds it free and leaves on a 429.
        self.unpaced: dict[str, Callable[[float], None]] = {}

    def _route(self, name: str) -> _Route:
        route = self._routes.get(name)
        if route is None:
            limits = self._limits
            documented = RUNPOD_RATE_LIMITS.get(name)
            rate = documented.rate if documented is not None else _MIN_FLOOR / DOCUMENTED_WINDOW_S
            floor = _FLOOR_SHARE * rate
            limit = limits.routes.get(name)
            if limit is None:
                route = _Route(limits.window, floor, None, None, math.inf)
            else:
                paced = limit.rate * MARGIN
                ceiling = math.inf if limits.learn else paced
                route = _Route(limit.per_seconds, floor, float(limit.requests), paced, ceiling)
            self._routes[name] = route
        return route

    def reserve(self, route_name: str, now: float, *, retry: bool = False) -> float:
        """Seconds to wait before sending a request on ``route_name``; books its slot.

        A ``retry`` has already slept its own backoff or ``Retry-After``, so the server's
        ``Retry-After`` holds back only the other requests.
        """
        with self._lock:
            return self._reserve(self._route(route_name), now, retry)

    def reserve_and_admit(self, route_name: str, now: float, *, retry: bool = False) -> float:
        """:meth:`reserve`, and when it asks for no wait :meth:`admit` at the same ``now``, under
        one lock (the common case: one call per request). ``0.0``: the request may go now and
        is recorded as sent at ``now``; otherwise the seconds to wait before :meth:`admit`."""
        with self._lock:
            route = self._routes.get(route_name) or self._route(route_name)
            if (
                route.rate is None
                and route.known_requests is None
                and now >= route.blocked_until
                and now >= route.hinted_until
            ):
                # Every route until its first 429: no schedule and no cap, only the count; its
                # next sends are recorded through `unpaced`.
                route.trim(now)
                route.sent.append(now)
                self.unpaced[route_name] = route.sent.append
                return 0.0
            wait = self._reserve(route, now, retry)
            return wait if wait > 0 else self._admit(route, now)

    @staticmethod
    def _reserve(route: _Route, now: float, retry: bool) -> float:
        earliest = route.blocked_until if retry else max(route.blocked_until, route.hinted_until)
        if route.rate is None:
            start = max(now, earliest)
        else:
            # The next slot on the schedule, even a little in the past: a caller late for
            # its slot (a busy machine) catches up, so the long-run rate stays the set one.
            # Further behind (the route was idle) the schedule starts again from now.
            slot = route.next_at
            if slot < now - CATCH_UP * route.window:
                slot = now
            slot = max(slot, earliest)
            start = max(now, slot)
            route.next_at = slot + 1.0 / route.rate
        wait = start - now
        route.waited += wait
        return wait

    def admit(self, route_name: str, now: float) -> float:
        """Just before a request on ``route_name`` leaves: ``0.0`` when it may go now (it is
        recorded as sent at ``now``, which :meth:`observe` then takes as ``sent_at``), or the
        seconds to wait first because the window already holds :data:`WINDOW_SHARE` of the
        route's N. Spacing alone (:meth:`reserve`) lets a stalled machine bunch requests; this
        counts what was really sent. The server counts a request when it arrives, so the pacer
        counts it when it is sent, not when its reply comes back."""
        with self._lock:
            return self._admit(self._route(route_name), now)

    @staticmethod
    def _admit(route: _Route, now: float) -> float:
        route.trim(now)
        if route.known_requests is not None:
            cap = max(1, int(route.known_requests * WINDOW_SHARE))
            sent = route.sent
            if len(sent) >= cap:
                # When the cap-th newest send leaves the window, one more fits.
                wait = sent[len(sent) - cap] + route.window - now
                route.waited += wait
                return max(wait, 1e-3)
        route.sent.append(now)
        return 0.0

    def observe(
        self,
        route_name: str,
        sent_at: float,
        now: float,
        status_code: int,
        headers: Mapping[str, str],
    ) -> None:
        """Report the reply to a request on ``route_name`` that :meth:`admit` let go at
        ``sent_at``."""
        with self._lock:
            route = self._routes.get(route_name) or self._route(route_name)
            if status_code != 429:
                # The window is trimmed by the next admit(), and an unpaced route's (which has
                # none) once a grain, here; an unpaced route has nothing to probe.
                route.accepted_total += 1
                if now >= route.record_at:
                    route.trim(now)
                    route.record_reply(sent_at, now)
                if route.rate is not None:
                    self._probe(route_name, route, now)
                return
            self.unpaced.pop(route_name, None)  # paced, or held back, from now on
            route.trim(now)
            route.refused += 1
            # Refused requests do not count against the window.
            with contextlib.suppress(ValueError):
                route.sent.remove(sent_at)
            hint = parse_retry_after(headers)
            if hint is not None:
                # At most a window: a longer hint is for the refused request to give up on
                # (the retry policy's max_retry_after), not a reason to stall every caller.
                route.hinted_until = max(route.hinted_until, now + min(hint, route.window))
            if sent_at < route.changed_at:
                # Sent before the last change of rate: no news, except that a count taken
                # then included this request, which the server did not admit after all.
                if route.counted and route.known_requests is not None:
                    route.known_requests = max(route.floor * route.window, route.known_requests - 1)
                    route.set_rate(route.known_requests / route.window * MARGIN, route.changed_at)
                return
            count = len(route.sent)
            known = route.known_requests
            if count >= route.floor * route.window and (
                known is None or count >= _SATURATED * known
            ):
                # The window is full: N is what it holds, and it frees as the request the
                # server counted first leaves it, timed from its reply, not its send.
                route.known_requests = float(count if known is None else min(count, known))
                route.set_rate(route.known_requests / route.window * MARGIN, now)
                route.counted = True
                if hint is None:
                    free_at = route.first_free(now) + route.window
                    route.blocked_until = max(route.blocked_until, free_at)
            elif route.rate is not None:
                route.set_rate(route.rate * SLOW_DOWN, now)
                route.counted = False
            else:
                # Too few accepted in the window to count: leave it to the retry backoff.
                route.changed_at = now
            logger.info(
                "%s: 429; pacing at %s, next request in %.2fs",
                route_name,
                "no set rate" if route.rate is None else f"{route.rate:.1f} requests/s",
                max(0.0, route.blocked_until - now, route.hinted_until - now),
            )

    def _probe(self, route_name: str, route: _Route, now: float) -> None:
        """On an accepted reply of a paced route: judge the window under way, and step the
        rate up after :data:`PROBE_WINDOWS` windows in a row that pressed the limit without a
        429. Only they are evidence: a light client's windows say nothing about a higher
        rate, so a window that did not press it (or passed with no reply) starts the count
        again."""
        if route.rate is None:
            return
        if route.changed_at == -math.inf:
            route.changed_at = now  # a configured rate: its first window starts now
        if route.probe_from < route.changed_at:
            # A new rate, or a 429: count from there.
            route.probe_from = route.changed_at
            route.pressed_windows = 0
        elapsed = now - route.probe_from
        if elapsed < route.window:
            return
        # The first reply a window on: the sends of the last window are the judged window's.
        if elapsed < 2 * route.window and route.presses(now):
            route.pressed_windows += 1
        else:
            route.pressed_windows = 0
        route.probe_from = now
        if route.pressed_windows < PROBE_WINDOWS:
            return
        route.pressed_windows = 0
        if route.rate >= route.ceiling:
            return
        route.set_rate(route.rate * PROBE_STEP, now)
        route.counted = False
        if route.known_requests is not None:
            route.known_requests *= PROBE_STEP
        logger.debug(
            "%s: %d windows at the limit without a 429; pacing at %.1f requests/s",
            route_name,
            PROBE_WINDOWS,
            route.rate,
        )

    def stats(self) -> dict[str, RouteStats]:
        """Each route's pacing so far."""
        with self._lock:
            return {
                name: RouteStats(route.rate, route.accepted_total, route.refused, route.waited)
                for name, route in self._routes.items()
            }
