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
                client, "run", fault, "InternalServerError", "HTTP 502, no job created", 1, 0.05
            )
    store.load.update(dict.fromkeys(render.LOAD_KEYS, 1))
    store.secrets.update(dict.fromkeys(render.SECRET_CHECKS, 3))
    for row in render.DEADLINE_ROWS:
        store.deadlines[row] = [(0.2, 0.21), (1.3, 1.31)]
    return store


#: Misuse cases of a made-up run: node id -> kind (all passed unless a test says otherwise).
MISUSE = {
    "tests/cli/test_paths.py::test_missing_input[dir]": "path",
    "tests/cli/test_paths.py::test_missing_input[nothing]": "path",
    "tests/facade/test_journals.py::test_another_batch": "journal",
    "tests/facade/test_webhook.py::test_nan[nan]": "argument",
    "tests/integration/test_doc_blocks.py::test_block[README.md:7]": "docs",
    "tests/integration/test_doc_blocks.py::test_block[README.md:9]": "docs",
}


def session(**passed: int) -> Any:
    counts = Counter({path: 5 for path in (*render.BAD_INPUT_FILES, render.PROMISES_FILE)})
    counts.update(passed)
    return SimpleNamespace(
        passed=counts,
        durations=Counter(),
        workers=5,
        deselected=0,
        misuse=dict(MISUSE),
        misuse_passed=set(MISUSE),
        misuse_sources={nodeid.split("::")[0] for nodeid in MISUSE},
    )


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


def test_the_misuse_section_counts_cases_per_kind_with_their_files(tmp_path: Path) -> None:
    render.write_report(tmp_path, complete_store(), session())
    text = (tmp_path / "docs" / "reliability.md").read_text(encoding="utf-8")
    section = text[text.index("## Misuse\n") :]
    section = section[: section.index("\n## ")]
    assert "6 misuse cases tried, 6 passed" in section
    rows = {line.split(" | ")[0]: line for line in section.splitlines() if line.startswith("| `")}
    assert list(rows) == [f"| `{kind}`" for kind in render.MISUSE_KINDS]  # every kind, in order
    assert "| 2 | 2 | `tests/cli/test_paths.py` (2) |" in rows["| `path`"]
    assert "| 1 | 1 | `tests/facade/test_webhook.py` (1) |" in rows["| `argument`"]
    assert "| 2 | 2 | `tests/integration/test_doc_blocks.py` (2) |" in rows["| `docs`"]
    assert rows["| `key`"].endswith("| 0 | 0 | none |")


@pytest.mark.parametrize(
    ("spoil", "gap"),
    [
        ("a file that uses the marker did not run", "misuse tests of tests/cli/test_signals.py"),
        ("a case was skipped", "misuse case tests/cli/test_paths.py::test_missing_input[dir] did not pass"),
        ("an unknown kind", "misuse case tests/facade/test_webhook.py::test_nan[nan] has the unknown kind 'arg'"),
    ],
)  # fmt: skip
def test_a_partial_misuse_run_is_refused(spoil: str, gap: str, tmp_path: Path) -> None:
    spoiled = session()
    if spoil == "a file that uses the marker did not run":
        spoiled.misuse_sources.add("tests/cli/test_signals.py")
    elif spoil == "a case was skipped":
        spoiled.misuse_passed.discard("tests/cli/test_paths.py::test_missing_input[dir]")
    else:
        spoiled.misuse["tests/facade/test_webhook.py::test_nan[nan]"] = "arg"
    assert render.missing(complete_store(), spoiled) == [gap]
    with pytest.raises(ValueError, match="incomplete"):
        render.write_report(tmp_path, complete_store(), spoiled)
    assert not (tmp_path / "docs" / "reliability.md").exists()


# Spelled in two pieces in this file: its own source must not look like a user of the marker.
MARK = "@pytest.mark." + "misuse"


def test_the_files_that_use_the_marker_are_found_by_their_source(tmp_path: Path) -> None:
    files = {
        "tests/cli/test_paths.py": f'import pytest\n\n{MARK}("path")\ndef test_a(): pass\n',
        "tests/facade/test_mod.py": f'import pytest\n\npytestmark = {MARK[1:]}("key")\n',
        "tests/facade/test_plain.py": "def test_b(): pass\n",
        "tests/_support/helpers.py": f"{MARK}  # not a test file\n",
    }
    for path, text in files.items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(text, encoding="utf-8")
    assert render.misuse_sources(tmp_path) == {
        "tests/cli/test_paths.py",
        "tests/facade/test_mod.py",
    }


def test_this_suites_misuse_files_are_found() -> None:
    from tests._support.spec import REPO

    found = render.misuse_sources(REPO)
    assert "tests/facade/test_webhook.py" in found
    assert "tests/plugin/test_reliability_report.py" not in found


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["one-process", "xdist"])
def test_the_plugin_counts_each_case_with_its_kind(
    workers: list[str], pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The kind travels on each report's user_properties, also from an xdist worker."""
    from tests._support.spec import REPO

    monkeypatch.setenv("PYTHONPATH", str(REPO))
    pytester.makeconftest(
        """
        import json

        from tests._support.reliability import plugin

        def pytest_addoption(parser):
            plugin.add_option(parser)

        def pytest_configure(config):
            config.addinivalue_line("markers", "misuse(kind): a misuse case")
            config.pluginmanager.register(plugin.ReliabilityPlugin(config), "reliability")

        def pytest_unconfigure(config):
            if not hasattr(config, "workeroutput"):
                seen = config.pluginmanager.get_plugin("reliability").session
                with open("seen.json", "w") as f:
                    json.dump([seen.misuse, sorted(seen.misuse_passed)], f)
        """
    )
    pytester.makepyfile(
        test_cases=f"""
        import pytest

        {MARK}("path")
        @pytest.mark.parametrize("n", [1, 2, 3])
        def test_paths(n):
            assert n

        {MARK}("key")
        def test_key():
            pass

        {MARK}("keys")
        def test_unknown_kind():
            pass

        def test_plain():
            pass
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", *workers)
    result.assert_outcomes(passed=5, errors=1)
    result.stdout.fnmatch_lines(["*misuse takes one kind of*got 'keys'*"])
    import json

    misuse, passed = json.loads((pytester.path / "seen.json").read_text())
    paths = {f"test_cases.py::test_paths[{n}]": "path" for n in (1, 2, 3)}
    assert misuse == {
        **paths,
        "test_cases.py::test_key": "key",
        "test_cases.py::test_unknown_kind": "keys",
    }
    assert passed == sorted([*paths, "test_cases.py::test_key"])


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
