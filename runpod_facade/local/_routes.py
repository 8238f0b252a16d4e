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

__all__ = ["PREFIX", "ROUTES", "Match", "Route", "compile_routes", "match"]

#: Where the API lives on the host (``https://api.runpod.ai/v2``).
PREFIX: Final = "/v2"


@dataclass(frozen=True)
class Route:
    """One operation's route: its path template split into segments."""

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


def _compile(info: OperationInfo) -> Route:
    segments: list[str | None] = []
    params: list[str] = []
    for part in info.path.strip("/").split("/"):
        if part.startswith("{") and part.endswith("}"):
            segments.append(None)
            params.append(part[1:-1])
        else:
            segments.append(part)
    return Route(info, tuple(segments), tuple(params))


def compile_routes(operations: Mapping[str, OperationInfo]) -> tuple[Route, ...]:
    """The route table of an operation table."""
    return tuple(_compile(info) for info in operations.values())


#: The routes of the spec's operations.
ROUTES: Final = compile_routes(OPERATIONS)


def match(path: str, routes: tuple[Route, ...] = ROUTES) -> Match | None:
    """The operation a raw request path names in ``routes``, or ``None`` (a 404)."""
    if not path.startswith(PREFIX + "/"):
        return None
    parts = [unquote(part) for part in path[len(PREFIX) + 1 :].split("/")]
    for route in routes:
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
