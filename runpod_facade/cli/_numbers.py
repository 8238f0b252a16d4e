"""The command line's numeric option types. Each accepts one range, and whatever is wrong
with a value (not a number, empty, too small, too large) its error states that range, so
the message says what to type instead."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from .._constants import MAX_POLICY_MS, MIN_EXECUTION_TIMEOUT_MS, MIN_TTL_MS

__all__ = [
    "MAX_PARALLEL",
    "MAX_RETRIES",
    "MAX_WAIT_SECONDS",
    "execution_timeout",
    "integers",
    "parallel",
    "port",
    "retries",
    "seconds",
    "ttl",
    "wait_seconds",
]

#: No job lives longer than RunPod's longest TTL, so no wait needs to be longer; past it
#: the socket and clock arithmetic overflow (``--timeout 1e10`` crashed ``status``).
MAX_WAIT_SECONDS = MAX_POLICY_MS / 1000
#: Retries of one request, or requeues of one job: past this a "retry forever" is a typo.
MAX_RETRIES = 100
#: Jobs in flight (``batch``) or handler runs (``serve``): one thread each.
MAX_PARALLEL = 1000


def _duration(seconds: float) -> str:
    days, rest = divmod(seconds, 86400)
    return f"{days:g} days" if days and not rest else f"{seconds:g} s"


def integers(minimum: int, maximum: int, what: str = "an integer") -> Callable[[str], int]:
    """An option type: an integer from ``minimum`` to ``maximum``, both included."""
    allowed = f"{what} from {minimum} to {maximum}"

    def check(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or not minimum <= value <= maximum:
            raise argparse.ArgumentTypeError(f"expected {allowed}, got {text!r}")
        return value

    return check


def seconds(
    minimum: float, maximum: float, *, minimum_included: bool = True
) -> Callable[[str], float]:
    """An option type: a number of seconds from ``minimum`` (or more than it) to ``maximum``."""
    low = f"{minimum:g} s to" if minimum_included else f"more than {minimum:g} and up to"
    allowed = f"a number of seconds, {low} {_duration(maximum)} ({maximum:g})"

    def check(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = None
        # NaN fails every comparison, so it is refused too.
        above = value is not None and (value >= minimum if minimum_included else value > minimum)
        if value is None or not above or not value <= maximum:
            raise argparse.ArgumentTypeError(f"expected {allowed}, got {text!r}")
        return value

    return check


#: ``--timeout``, ``--idle-timeout``: how long the CLI waits.
wait_seconds = seconds(0, MAX_WAIT_SECONDS, minimum_included=False)
#: ``--policy-execution-timeout``: the API's range for a job's execution timeout.
execution_timeout = seconds(MIN_EXECUTION_TIMEOUT_MS / 1000, MAX_POLICY_MS / 1000)
#: ``--ttl``: the API's range for a job's lifetime.
ttl = seconds(MIN_TTL_MS / 1000, MAX_POLICY_MS / 1000)
#: ``--max-retries``, ``--retry-failed``.
retries = integers(0, MAX_RETRIES)
#: ``batch --concurrency``, ``serve --workers``.
parallel = integers(1, MAX_PARALLEL)
#: ``serve --port``.
port = integers(1, 65535, "a port number")
