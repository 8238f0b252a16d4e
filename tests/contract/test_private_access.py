"""The clients, handles and batches use one another through named interfaces only: no module
of ``_clients``, ``_batches`` or ``_batchjobs`` reads or writes a private attribute
(``x._name``) of any object but its own ``self`` or ``cls`` — a handle is given an
``EndpointLink``, an item operation calls ``BatchRun``'s public methods."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "runpod_facade"
LAYERS = ("_clients", "_batches", "_batchjobs")
MODULES = sorted(path for layer in LAYERS for path in (PACKAGE / layer).glob("*.py"))


def foreign_private_access(source: str) -> list[str]:
    """``line: expression`` for each ``x._name`` whose ``x`` is not ``self`` or ``cls``."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Attribute) or not node.attr.startswith("_"):
            continue
        if node.attr.startswith("__") and node.attr.endswith("__"):
            continue  # dunders are the language's, not anyone's privates
        if isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"):
            continue
        found.append(f"{node.lineno}: {ast.unparse(node)}")
    return found


@pytest.mark.parametrize("path", MODULES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_no_module_reaches_into_another_objects_privates(path: Path) -> None:
    assert foreign_private_access(path.read_text()) == []


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("self._core.run(x)", []),
        ("cls._registry", []),
        ("job.endpoint._core.status(i)", ["1: job.endpoint._core"]),
        ("run._accepted(work)", ["1: run._accepted"]),
        ("obj.__class__", []),
    ],
)
def test_the_check_tells_own_from_foreign(source: str, expected: list[str]) -> None:
    assert foreign_private_access(source) == expected
