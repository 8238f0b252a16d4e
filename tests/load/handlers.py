"""The load test's handler: returns its input at once."""

from __future__ import annotations

from typing import Any


def noop(job: dict[str, Any]) -> Any:
    return job["input"]
