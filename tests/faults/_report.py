"""What the reliability tests measured, collected while they run.

The fault matrix, the load test and the secrets tests call the ``record_*`` functions; the
plugin in ``tests/faults/conftest.py`` turns the collected numbers into ``docs/reliability.md``
at the end of a session in which all of those tests ran and passed.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "STORE",
    "CellResult",
    "record_cell",
    "record_deadline",
    "record_load",
    "record_secrets",
]


@dataclass(frozen=True)
class CellResult:
    """One operation × fault cell of the matrix, as observed."""

    client: str  # "sync", "async" (httpx) or "async-aiohttp"
    operation: str
    fault: str
    outcome: str  # "recovered", "passed through", or the exception class name
    detail: str  # e.g. "job id carried", "request_sent=True", "3 chunks lost"
    attempts: int  # requests the server received for the faulted route
    seconds: float
    note: str = ""  # set for cells marked xfail (a known bug)


@dataclass
class Store:
    cells: dict[str, CellResult] = field(default_factory=dict)
    load: dict[str, Any] = field(default_factory=dict)
    secrets: dict[str, int] = field(default_factory=dict)
    # (operation, client) -> [(timeout, elapsed seconds)]
    deadlines: dict[tuple[str, str], list[tuple[float, float]]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


STORE = Store()


def record_cell(nodeid: str, result: CellResult) -> None:
    with STORE.lock:
        STORE.cells[nodeid] = result


def record_load(**numbers: Any) -> None:
    with STORE.lock:
        STORE.load.update(numbers)


def record_secrets(check: str, count: int = 1) -> None:
    """Count ``count`` places searched for the key under the heading ``check``."""
    with STORE.lock:
        STORE.secrets[check] = STORE.secrets.get(check, 0) + count


def record_deadline(operation: str, client: str, timeout: float, elapsed: float) -> None:
    """One waiting call that ended at its deadline: how long it took for ``timeout``."""
    with STORE.lock:
        STORE.deadlines.setdefault((operation, client), []).append((timeout, elapsed))
