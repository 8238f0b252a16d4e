"""The suite's own pytest plugin that writes docs/reliability.md (tests/_support/reliability):
it must refuse a partial run, so that the report can never show numbers from a run that left
something out or mix two runs."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from tests._support.faults import FAULTS, LOOPBACK_CLIENTS, LOOPBACK_FAULTS
from tests._support.operations import OPERATIONS
from tests._support.reliability import plugin, render
from tests._support.reliability.store import CellResult, Store, dump, load


def complete_store() -> Store:
    """Every piece of data the report shows, made up."""
    store = Store()
    for fault in FAULTS:
        for name in OPERATIONS:
            store.cells[f"fake::{name}-{fault}"] = CellResult(
                "fake time", name, fault, "recovered", "", 2, 0.01
            )
    for client in LOOPBACK_CLIENTS:
        for fault in LOOPBACK_FAULTS:
            store.cells[f"loop::{client}-{fault}"] = CellResult(
                client, "run", fault, "ServerError", "HTTP 502, no job created", 1, 0.05
            )
    store.load.update(dict.fromkeys(render.LOAD_KEYS, 1))
    store.secrets.update(dict.fromkeys(render.SECRET_CHECKS, 3))
    for row in render.DEADLINE_ROWS:
        store.deadlines[row] = [(0.2, 0.21), (1.3, 1.31)]
    return store


def session(**passed: int) -> Any:
    counts = Counter({path: 5 for path in (*render.BAD_INPUT_FILES, render.PROMISES_FILE)})
    counts.update(passed)
    return SimpleNamespace(passed=counts, durations=Counter(), workers=5, deselected=0)


def test_a_complete_run_is_written_with_every_operation_and_fault(tmp_path: Path) -> None:
    store = complete_store()
    assert render.missing(store, session()) == []
    render.write_report(tmp_path, store, session())
    text = (tmp_path / "docs" / "reliability.md").read_text(encoding="utf-8")
    for info in OPERATIONS.values():
        assert f"`{info.name}` ({info.python})" in text
    for fault in FAULTS:
        assert f"| {fault} |" in text
    for fault in LOOPBACK_FAULTS:
        assert f"| {fault} (" in text


@pytest.mark.parametrize(
    "spoil",
    ["a fake-time cell", "a loopback cell", "a load measure", "a secrets check", "a deadline"],
)
def test_a_partial_run_is_refused(spoil: str, tmp_path: Path) -> None:
    store = complete_store()
    if spoil == "a fake-time cell":
        store.cells.pop(next(k for k in store.cells if k.startswith("fake::")))
    elif spoil == "a loopback cell":
        store.cells.pop(next(k for k in store.cells if k.startswith("loop::")))
    elif spoil == "a load measure":
        store.load.pop("peak_connections")
    elif spoil == "a secrets check":
        store.secrets.pop("traceback")
    else:
        store.deadlines.pop(render.DEADLINE_ROWS[0])
    assert len(render.missing(store, session())) == 1
    with pytest.raises(ValueError, match="incomplete"):
        render.write_report(tmp_path, store, session())
    assert not (tmp_path / "docs" / "reliability.md").exists()


def test_tests_that_did_not_pass_are_missing_data() -> None:
    gaps = render.missing(complete_store(), session(**{render.PROMISES_FILE: -5}))
    assert gaps == [f"passed tests of {render.PROMISES_FILE}"]


def test_a_workers_store_reaches_the_controller_whole() -> None:
    store = complete_store()
    merged = Store()
    merged.merge(load(dump(store)))
    merged.merge(load(dump(Store(secrets={"traceback": 2}))))
    assert merged.cells == store.cells
    assert merged.deadlines == store.deadlines
    assert merged.secrets["traceback"] == 5


@pytest.mark.parametrize(
    ("exitstatus", "deselected", "args", "why"),
    [
        (1, 0, ["tests"], "the run did not pass"),
        (0, 3, ["tests"], "3 tests were deselected"),
        (0, 0, ["tests/core/test_fault_cells.py::test_cell"], "selected by node id"),
        (0, 0, ["tests"], None),
    ],
)
def test_the_plugin_writes_only_after_a_whole_passing_run(
    exitstatus: int, deselected: int, args: list[str], why: str | None
) -> None:
    reporter = plugin.ReliabilityPlugin(config=None)  # type: ignore[arg-type]
    reporter.store = complete_store()
    reporter.session = session()
    reporter.session.deselected = deselected
    fake = SimpleNamespace(config=SimpleNamespace(args=args))
    found = reporter._why_not(fake, exitstatus)  # type: ignore[arg-type]
    assert (found is None) if why is None else (why in (found or ""))


def test_every_test_a_promise_cites_exists() -> None:
    import re

    from tests._support.spec import REPO

    source = (REPO / render.PROMISES_FILE).read_text(encoding="utf-8")
    defined = set(re.findall(r"def (test_\w+)", source))
    for _, proved_by in render.PROMISES:
        cited = re.sub(r"\S+\.py", "", proved_by)  # files are cited by path, tests by name
        for name in re.findall(r"\btest_[\w*]+", cited):
            if "*" in name:
                pattern = re.compile(name.replace("*", r"\w*"))
                assert any(pattern.fullmatch(d) for d in defined), name
            else:
                assert name in defined, name
