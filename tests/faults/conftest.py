"""Fixtures of the fault matrix, and the plugin that writes ``docs/reliability.md``.

The report is rewritten only at the end of a session that selected every test of
``tests/faults``, ``tests/load`` and ``tests/secrets`` and saw all of them pass (an expected
failure of a known bug counts as passing), so its numbers are always those of a real run.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from runpod_facade import Endpoint, PollPolicy, RetryPolicy
from runpod_facade.local import LocalEndpoint

from . import _render
from .handlers import chunks, plain

# Tiny backoff so the matrix stays fast; Retry-After hints are still honoured as given.
FAST_RETRY = RetryPolicy(max_retries=3, initial_delay=0.01, max_delay=0.05)
FAST_POLL = PollPolicy(initial=0.02, maximum=0.1)


@dataclass
class Servers:
    plain: LocalEndpoint
    stream: LocalEndpoint
    clean_plain: Endpoint
    clean_stream: Endpoint
    dead_base_url: str  # a loopback port where nothing listens


def _client(local: LocalEndpoint) -> Endpoint:
    return Endpoint(
        local.endpoint_id,
        base_url=local.base_url,
        api_key=local.api_key,
        retry_policy=FAST_RETRY,
        poll_policy=FAST_POLL,
    )


@pytest.fixture(scope="module")
def servers() -> Iterator[Servers]:
    # Bound but not listening: connecting is refused, and no one else can take the port.
    dead = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    dead.bind(("127.0.0.1", 0))
    port = dead.getsockname()[1]
    try:
        with (
            LocalEndpoint(plain, workers=4) as plain_ep,
            LocalEndpoint(chunks, workers=2) as stream_ep,
            _client(plain_ep) as clean_plain,
            _client(stream_ep) as clean_stream,
        ):
            yield Servers(
                plain_ep, stream_ep, clean_plain, clean_stream, f"http://127.0.0.1:{port}/v2"
            )
    finally:
        dead.close()


# --- the report plugin -----------------------------------------------------------------------

AREAS = {
    "faults": "tests/faults/",
    "load": "tests/load/",
    "secrets": "tests/secrets/",
    "bad_input": "tests/bad_input/",
}
REQUIRED = ("faults", "load", "secrets")


@dataclass
class _Session:
    selected: dict[str, list[str]] = field(default_factory=dict)
    deselected: set[str] = field(default_factory=set)
    outcomes: dict[str, str] = field(default_factory=dict)
    durations: dict[str, float] = field(default_factory=dict)


_SESSION = _Session()


def _area(nodeid: str) -> str | None:
    for area, prefix in AREAS.items():
        if nodeid.startswith(prefix):
            return area
    return None


class ReportPlugin:
    """Registered globally: a conftest's own hooks would only see reports of its directory."""

    def pytest_deselected(self, items: list[pytest.Item]) -> None:
        for item in items:
            area = _area(item.nodeid)
            if area is not None:
                _SESSION.deselected.add(area)

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        _SESSION.selected.clear()
        for item in session.items:
            area = _area(item.nodeid)
            if area is not None:
                _SESSION.selected.setdefault(area, []).append(item.nodeid)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        area = _area(report.nodeid)
        if area is None:
            return
        _SESSION.durations[area] = _SESSION.durations.get(area, 0.0) + report.duration
        if _SESSION.outcomes.get(report.nodeid) == "failed":
            return
        if report.failed:
            _SESSION.outcomes[report.nodeid] = "failed"
        elif hasattr(report, "wasxfail"):
            _SESSION.outcomes[report.nodeid] = "xfailed"
        elif report.skipped:
            _SESSION.outcomes[report.nodeid] = "skipped"
        elif report.when == "call" and report.passed:
            _SESSION.outcomes[report.nodeid] = "passed"

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        if session.shouldfail or session.shouldstop or not _complete():
            return
        _render.write_report(session.config.rootpath, _SESSION)


def pytest_configure(config: pytest.Config) -> None:
    if not config.pluginmanager.has_plugin("runpod-reliability-report"):
        config.pluginmanager.register(ReportPlugin(), "runpod-reliability-report")


def _complete() -> bool:
    """True when every required area ran in full and nothing in it failed."""
    for area in REQUIRED:
        nodeids = _SESSION.selected.get(area)
        if not nodeids or area in _SESSION.deselected:
            return False
        for nodeid in nodeids:
            if _SESSION.outcomes.get(nodeid) not in ("passed", "xfailed", "skipped"):
                return False
    return True
