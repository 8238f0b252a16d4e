"""The pytest plugin that writes ``docs/reliability.md`` (registered by tests/conftest.py).

The report is written by the process that ends the session — pytest itself, or the
pytest-xdist controller, to which every worker sends what it recorded (``workeroutput``) —
and only from a complete run: the session passed, nothing was deselected, no test was
selected by node id, and the data holds every cell, measure and check the report shows
(:func:`.render.missing`). Tests marked ``@pytest.mark.misuse(kind)`` are counted for the
report's Misuse section: each item carries its kind in ``user_properties``, which travel with
its reports from an xdist worker to the controller; every test file whose source uses the
marker must have run (:func:`.render.misuse_sources`). ``--reliability-report``:

- ``auto`` (default): write it when complete; otherwise say in the summary why not;
- ``require`` (``make test``, ``make reliability``): an incomplete report fails the session;
- ``off``: never write it.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import pytest

from . import render
from .store import STORE, Store, dump, load

OUTPUT_KEY = "runpod_reliability"
OPTION = "--reliability-report"
MISUSE = "misuse"


@dataclass
class Session:
    """What the report needs besides the store: which tests passed, and how long areas took."""

    deselected: int = 0
    passed: Counter[str] = field(default_factory=Counter)  # test file -> passed tests
    durations: Counter[str] = field(default_factory=Counter)  # test file -> seconds
    workers: int = 0
    misuse: dict[str, str] = field(default_factory=dict)  # node id -> misuse kind
    misuse_passed: set[str] = field(default_factory=set)  # node ids whose call passed
    misuse_sources: set[str] = field(default_factory=set)  # test files that use the marker


def add_option(parser: pytest.Parser) -> None:
    parser.addoption(
        OPTION,
        choices=("auto", "require", "off"),
        default="auto",
        help="write docs/reliability.md from a complete run (auto), fail the run when it "
        "cannot be written (require), or never write it (off)",
    )


class ReliabilityPlugin:
    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.session = Session()
        self.store = Store()

    # --- every process -------------------------------------------------------------------

    def pytest_deselected(self, items: list[pytest.Item]) -> None:
        self.session.deselected += len(items)

    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        for item in items:
            marker = item.get_closest_marker(MISUSE)
            if marker is not None:
                kind = marker.args[0] if len(marker.args) == 1 else marker.args
                item.user_properties.append((MISUSE, kind))

    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        for name, kind in item.user_properties:
            if name == MISUSE and kind not in render.MISUSE_KINDS:
                pytest.fail(
                    f"@pytest.mark.misuse takes one kind of {render.MISUSE_KINDS}, got {kind!r}",
                    pytrace=False,
                )

    # --- the process that sees every report (pytest, or the xdist controller) ---------------

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        path = report.nodeid.split("::", 1)[0]
        self.session.durations[path] += report.duration
        if report.when == "call" and report.passed:
            self.session.passed[path] += 1
        for name, kind in report.user_properties:  # (name, value), a list after xdist's JSON
            if name == MISUSE:
                self.session.misuse[report.nodeid] = str(kind)
                if report.when == "call" and report.passed:
                    self.session.misuse_passed.add(report.nodeid)

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: Any) -> None:
        output = getattr(node, "workeroutput", {})
        self.session.workers += 1
        self.session.deselected += int(output.get(OUTPUT_KEY + "_deselected", 0))
        if OUTPUT_KEY in output:
            self.store.merge(load(output[OUTPUT_KEY]))

    # --- the end -------------------------------------------------------------------------

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        config = session.config
        workeroutput = getattr(config, "workeroutput", None)
        if workeroutput is not None:  # an xdist worker: hand everything to the controller
            workeroutput[OUTPUT_KEY] = dump(STORE)
            workeroutput[OUTPUT_KEY + "_deselected"] = self.session.deselected
            return
        mode = config.getoption(OPTION)
        if mode == "off":
            return
        self.store.merge(STORE)
        self.session.misuse_sources = render.misuse_sources(config.rootpath)
        recorded = self.store.cells or self.store.load or self.store.secrets
        if mode == "auto" and not (recorded or self.store.deadlines):
            return  # no test that feeds the report ran: nothing to say
        why = self._why_not(session, exitstatus)
        if why is None:
            render.write_report(config.rootpath, self.store, self.session)
            self.note = "docs/reliability.md written from this run"
            return
        self.note = f"docs/reliability.md not written: {why}"
        if mode == "require" and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def _why_not(self, session: pytest.Session, exitstatus: int) -> str | None:
        if exitstatus != pytest.ExitCode.OK:
            return "the run did not pass"
        if self.session.deselected:
            return f"{self.session.deselected} tests were deselected"
        if any("::" in arg for arg in session.config.args):
            return "tests were selected by node id"
        gaps = render.missing(self.store, self.session)
        if gaps:
            shown = "; ".join(gaps[:5]) + (f"; … ({len(gaps)} in all)" if len(gaps) > 5 else "")
            return f"the run's data is incomplete: {shown}"
        return None

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        note = getattr(self, "note", None)
        if note is not None:
            terminalreporter.write_line(note)
