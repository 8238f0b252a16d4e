"""What the reliability tests measured, collected while they run.

The fault cells (in fake time and over loopback), the promises, the load test and the
end-to-end secrets test call the ``record_*`` functions. Each test process keeps its own
:data:`STORE`; under pytest-xdist every worker hands its store to the controller as JSON
(:func:`dump`, :func:`load`), and :mod:`.plugin` writes ``docs/reliability.md`` from the
merged stores once the whole run passed.
"""

from __future__ import annotations

import dataclasses
import json
import threading
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "STORE",
    "CellResult",
    "Store",
    "dump",
    "load",
    "record_cell",
    "record_deadline",
    "record_load",
    "record_secrets",
]


@dataclass(frozen=True)
class CellResult:
    """One operation × fault cell, as observed."""

    client: str  # "fake time", "sync", "async-httpx" or "async-aiohttp"
    operation: str  # the spec's operation name
    fault: str
    outcome: str  # "recovered", "passed through", or the exception class name
    detail: str  # e.g. "job id carried", "request_sent=True"
    attempts: int  # requests the server received on the faulted route
    seconds: float  # fake seconds for "fake time", wall-clock seconds otherwise


@dataclass
class Store:
    cells: dict[str, CellResult] = field(default_factory=dict)
    load: dict[str, Any] = field(default_factory=dict)
    secrets: dict[str, int] = field(default_factory=dict)
    # "operation|client" -> [(timeout, elapsed seconds)]
    deadlines: dict[str, list[tuple[float, float]]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def merge(self, other: Store) -> None:
        with self.lock:
            self.cells.update(other.cells)
            self.load.update(other.load)
            for where, n in other.secrets.items():
                self.secrets[where] = self.secrets.get(where, 0) + n
            for key, runs in other.deadlines.items():
                self.deadlines.setdefault(key, []).extend(runs)


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
        STORE.deadlines.setdefault(f"{operation}|{client}", []).append((timeout, elapsed))


def dump(store: Store) -> str:
    """``store`` as JSON (what an xdist worker sends the controller)."""
    with store.lock:
        return json.dumps(
            {
                "cells": {k: dataclasses.asdict(v) for k, v in store.cells.items()},
                "load": store.load,
                "secrets": store.secrets,
                "deadlines": store.deadlines,
            }
        )


def load(text: str) -> Store:
    data = json.loads(text)
    return Store(
        cells={k: CellResult(**v) for k, v in data["cells"].items()},
        load=data["load"],
        secrets=data["secrets"],
        deadlines={k: [(t, e) for t, e in runs] for k, runs in data["deadlines"].items()},
    )
