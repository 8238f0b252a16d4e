"""The route table of the job API, read from the spec's operation table.

Each operation of ``runpod_generated.operations.OPERATIONS`` is served at ``/v2`` + its path
template (e.g. ``/v2/{endpointId}/status/{jobId}``) for its ``methods`` (the documented method
plus ``x-runpod-also-accepts``). Nothing here names an operation: a route added to the spec is
routed after ``make regen``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final
from urllib.parse import unquote

from runpod_generated.operations import OPERATIONS, OperationInfo

__all__ = ["PREFIX", "Match", "match"]

#: Where the API lives on the host (``https://api.runpod.ai/v2``).
PREFIX: Final = "/v2"


@dataclass(frozen=True)
class _Route:
    info: OperationInfo
    # One entry per path segment: the literal text, or None for a {parameter}.
    segments: tuple[str | None, ...]
    params: tuple[str, ...]


@dataclass(frozen=True)
class Match:
    """A request path that names an operation, with its path parameters (decoded)."""

    info: OperationInfo
    params: Mapping[str, str]

    @property
    def endpoint_id(self) -> str:
        """The ``endpointId`` segment."""
        return self.params["endpointId"]

    @property
    def job_id(self) -> str | None:
        """The ``jobId`` segment, for job-scoped operations."""
        return self.params.get("jobId")


def _compile(info: OperationInfo) -> _Route:
    segments: list[str | None] = []
    params: list[str] = []
    for part in info.path.strip("/").split("/"):
        if part.startswith("{") and part.endswith("}"):
            segments.append(None)
            params.append(part[1:-1])
        else:
            segments.append(part)
    return _Route(info, tuple(segments), tuple(params))


_ROUTES: Final = tuple(_compile(info) for info in OPERATIONS.values())


def match(path: str) -> Match | None:
    """The operation a raw request path names, or ``None`` (a 404)."""
    if not path.startswith(PREFIX + "/"):
        return None
    parts = [unquote(part) for part in path[len(PREFIX) + 1 :].split("/")]
    for route in _ROUTES:
        if len(parts) != len(route.segments):
            continue
        values: list[str] = []
        for part, literal in zip(parts, route.segments, strict=True):
            if literal is None:
                if not part:
                    break
                values.append(part)
            elif part != literal:
                break
        else:
            return Match(route.info, MappingProxyType(dict(zip(route.params, values, strict=True))))
    return None
