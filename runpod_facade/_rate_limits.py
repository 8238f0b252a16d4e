"""Rate limits as numbers: RunPod's documented per-route limits and the typed spec both the
client's pacer (``_pacing``) and the local endpoint (``local._ratelimits``) take.

RunPod limits each endpoint per route: so many requests per window and so many at once
(``serverless/endpoints/send-requests.mdx``, "Rate limits and quotas"; the job API's numbers
are also the spec's ``x-runpod-rate-limit``). ``docs/rate-limits.md`` records the sources.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final, Literal, TypeAlias

from ._exceptions import InvalidInputError

__all__ = [
    "DOCUMENTED_WINDOW_S",
    "RUNPOD_RATE_LIMITS",
    "RateLimit",
    "RateLimits",
    "RateLimitsOption",
    "check_positive",
    "rate_limits_from",
]

#: RunPod states every limit per 10 seconds.
DOCUMENTED_WINDOW_S: Final = 10.0


def check_positive(value: object, name: str) -> float:
    """``value`` as a float, refused unless it is a finite number > 0 (not a bool)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidInputError(f"{name} must be a number, got {value!r}")
    if not (math.isfinite(value) and value > 0):
        raise InvalidInputError(f"{name} must be finite and > 0, got {value!r}")
    return float(value)


@dataclass(frozen=True, slots=True)
class RateLimit:
    """One route's limit: at most ``requests`` per ``per_seconds`` (a sliding window) and, if
    ``concurrent`` is set, at most that many requests in progress at once."""

    requests: int
    per_seconds: float = DOCUMENTED_WINDOW_S
    concurrent: int | None = None

    def __post_init__(self) -> None:
        if isinstance(self.requests, bool) or not isinstance(self.requests, int):
            raise InvalidInputError(f"requests must be an int, got {self.requests!r}")
        if self.requests < 1:
            raise InvalidInputError(f"requests must be at least 1, got {self.requests}")
        check_positive(self.per_seconds, "per_seconds")
        concurrent = self.concurrent
        if concurrent is not None and (
            isinstance(concurrent, bool) or not isinstance(concurrent, int) or concurrent < 1
        ):
            raise InvalidInputError(f"concurrent must be None or an int >= 1, got {concurrent!r}")

    @property
    def rate(self) -> float:
        """Requests per second the limit allows in the long run."""
        return self.requests / self.per_seconds

    def scaled(self, time_scale: float) -> RateLimit:
        """The same counts over a window ``time_scale`` times as long (0.1: ten times as fast)."""
        return RateLimit(self.requests, self.per_seconds * time_scale, self.concurrent)


#: RunPod's documented limits, keyed by operation name (``"openai"``: the OpenAI-compatible
#: routes). ``/health`` and ``/retry`` have none documented. ``status-sync`` has its own row in
#: the spec (the docs listed it with ``/status`` until 2025-09).
RUNPOD_RATE_LIMITS: Final[Mapping[str, RateLimit]] = MappingProxyType(
    {
        "run": RateLimit(1000, 10.0, 200),
        "runsync": RateLimit(2000, 10.0, 400),
        "status": RateLimit(2000, 10.0, 400),
        "status-sync": RateLimit(2000, 10.0, 400),
        "stream": RateLimit(2000, 10.0, 400),
        "cancel": RateLimit(100, 10.0, 20),
        "purge-queue": RateLimit(2, 10.0),
        "openai": RateLimit(2000, 10.0, 400),
    }
)

#: Every route a limit can name.
ROUTES: Final = frozenset(RUNPOD_RATE_LIMITS) | {"retry", "health"}


@dataclass(frozen=True, slots=True)
class RateLimits:
    """Limits per route, for a client to pace itself by or a local endpoint to enforce.

    ``routes`` maps an operation name (``"run"``, ``"status"``, ... ``"openai"``) to its
    :class:`RateLimit`; routes not named are unlimited (the local endpoint) or paced only
    once a 429 taught the client their rate (``learn=True``). ``window`` is the window a
    client assumes when it learns an unnamed route's rate (RunPod's is 10 s).
    ``retry_after`` makes the local endpoint send a ``Retry-After`` header with its 429
    (RunPod documents none, so it is off for ``runpod()``).
    """

    routes: Mapping[str, RateLimit]
    learn: bool = True
    window: float = DOCUMENTED_WINDOW_S
    retry_after: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.routes, Mapping):
            raise InvalidInputError(
                f"routes must be a mapping of route name to RateLimit, got {self.routes!r}"
            )
        routes: dict[str, RateLimit] = {}
        for name, limit in self.routes.items():
            if name not in ROUTES:
                known = ", ".join(sorted(ROUTES))
                raise InvalidInputError(f"unknown route {name!r} in rate limits (known: {known})")
            if isinstance(limit, tuple) and len(limit) in (2, 3):
                limit = RateLimit(*limit)
            elif not isinstance(limit, RateLimit):
                raise InvalidInputError(
                    f"the limit of {name!r} must be a RateLimit or (requests, per_seconds"
                    f"[, concurrent]), got {limit!r}"
                )
            routes[name] = limit
        object.__setattr__(self, "routes", MappingProxyType(routes))
        if not (isinstance(self.window, int | float) and math.isfinite(self.window)) or (
            self.window <= 0
        ):
            raise InvalidInputError(f"window must be finite and > 0, got {self.window!r}")

    @classmethod
    def runpod(cls, time_scale: float = 1.0, *, retry_after: bool = False) -> RateLimits:
        """RunPod's documented limits, windows ``time_scale`` times as long (tests and
        benchmarks use e.g. 0.1: the same counts per second instead of per 10 s)."""
        scale = check_positive(time_scale, "time_scale")
        return cls(
            {name: limit.scaled(scale) for name, limit in RUNPOD_RATE_LIMITS.items()},
            window=DOCUMENTED_WINDOW_S * scale,
            retry_after=retry_after,
        )

    @classmethod
    def learned(cls, time_scale: float = 1.0) -> RateLimits:
        """No numbers: the client learns each route's rate from the 429s it meets."""
        return cls({}, window=DOCUMENTED_WINDOW_S * check_positive(time_scale, "time_scale"))


#: What ``rate_limits=`` takes: ``"learn"`` (the client default), ``"runpod"``, ``None`` (off),
#: a :class:`RateLimits`, or a mapping of route name to :class:`RateLimit` or
#: ``(requests, per_seconds[, concurrent])``.
RateLimitsOption: TypeAlias = (
    Literal["learn", "runpod"]
    | RateLimits
    | Mapping[str, RateLimit | tuple[int, float] | tuple[int, float, int | None]]
    | None
)


def rate_limits_from(value: object, *, allow_learn: bool = True) -> RateLimits | None:
    """The :class:`RateLimits` a ``rate_limits=`` argument names; ``None`` when off.

    Raises :class:`InvalidInputError` (before anything is sent or served) for anything else.
    """
    if value is None or isinstance(value, RateLimits):
        return value
    if value == "runpod":
        return RateLimits.runpod()
    if value == "learn" and allow_learn:
        return RateLimits.learned()
    if isinstance(value, Mapping):
        return RateLimits(value)
    choices = "'runpod', 'learn', None" if allow_learn else "'runpod', None"
    raise InvalidInputError(
        f"rate_limits must be {choices}, a RateLimits or a mapping of route name to "
        f"RateLimit / (requests, per_seconds[, concurrent]); got {value!r}"
    )
