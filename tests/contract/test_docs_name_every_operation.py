"""README.md names every operation of the spec — its public method in the table of calls, the
job handle's too when it is job-scoped — and its command line lists exactly the CLI's
commands: an operation added to the spec fails here until a human has documented it."""

from __future__ import annotations

import re

import pytest

from runpod_facade.cli._parser import build_parser
from tests._support.operations import OPERATIONS
from tests._support.spec import REPO

README = REPO / "README.md"


def _calls_table() -> str:
    text = README.read_text(encoding="utf-8")
    rows = [line for line in text.splitlines() if line.startswith("| `")]
    assert rows, "README.md has no table of calls"
    return "\n".join(rows)


@pytest.mark.parametrize("name", sorted(OPERATIONS))
def test_the_readme_table_names_the_public_method(name: str) -> None:
    info = OPERATIONS[name]
    table = _calls_table()
    assert f"`ep.{info.python}(" in table, (
        f"README.md's table of calls has no row for ep.{info.python}() ({name})"
    )
    if info.job_scoped:
        assert re.search(rf"`job\.{info.python}\(", table), (
            f"README.md's table of calls does not name job.{info.python}() ({name})"
        )


def test_the_readme_command_line_lists_every_command() -> None:
    text = README.read_text(encoding="utf-8")
    found = re.search(r"`runpod-facade ([a-z| -]+)`", text.replace("\n", " "))
    assert found, "README.md's Command line section lists no commands"
    listed = [c.strip() for c in found.group(1).split("|")]
    parser = build_parser()
    commands = next(a for a in parser._actions if a.dest == "command").choices
    assert commands is not None
    assert sorted(listed) == sorted(commands), "README.md's command list and the CLI differ"
    assert len(listed) == len(set(listed))
