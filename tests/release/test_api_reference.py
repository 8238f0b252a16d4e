"""The API reference pages (docs/reference/*.md, built by ``make docs``) name every public
name, and only names that exist: a new export cannot go undocumented, and a renamed one
fails here at once (the strict build fails on it too, slower)."""

from __future__ import annotations

import importlib
import re

import pytest

from tests._support.spec import REPO

PAGES = sorted((REPO / "docs" / "reference").glob("*.md"))
_DIRECTIVE = re.compile(r"^::: (?P<name>[\w.]+)\s*$", re.MULTILINE)
DIRECTIVES = sorted(
    {match["name"] for page in PAGES for match in _DIRECTIVE.finditer(page.read_text("utf-8"))}
)

#: The public modules and the names each exports (its ``__all__``).
PUBLIC = ("runpod_facade", "runpod_facade.local", "runpod_facade.testing")
NOT_DOCUMENTED = {"runpod_facade.__version__"}


def public_names() -> list[str]:
    names = []
    for module_name in PUBLIC:
        module = importlib.import_module(module_name)
        names += [f"{module_name}.{name}" for name in module.__all__]
    return sorted(set(names) - NOT_DOCUMENTED)


def test_the_pages_are_read() -> None:
    assert {page.stem for page in PAGES} >= {"clients", "jobs", "errors", "local", "testing"}
    assert "runpod_facade.Endpoint" in DIRECTIVES


def test_every_public_name_has_a_reference_entry() -> None:
    missing = [name for name in public_names() if name not in DIRECTIVES]
    assert not missing, f"add `::: NAME` to a page of docs/reference/ for: {missing}"


@pytest.mark.parametrize("name", DIRECTIVES)
def test_every_reference_entry_names_something_that_exists(name: str) -> None:
    module_name, _, attribute = name.rpartition(".")
    try:
        module = importlib.import_module(name)  # a module documented as a whole
    except ImportError:
        module = importlib.import_module(module_name)
        assert hasattr(module, attribute), f"{module_name} has no {attribute} (renamed?)"
        if module_name in PUBLIC:
            assert attribute in module.__all__, f"{name} is documented but not exported"
    else:
        assert module.__name__ == name
