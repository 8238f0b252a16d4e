"""Modules imported at first use.

Every pytest-xdist worker imports every test module to collect it, but runs only some of
them: a heavy library (``openai``) that only a few tests use should be loaded by the worker
that runs them, not by all of them. Collection reads attributes of everything a test module
holds (is it a fixture? a test?), always private or dunder names, so the proxy answers those
itself and imports the module at the first public attribute."""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

__all__ = ["lazy_import"]


class _LazyModule:
    def __init__(self, name: str) -> None:
        self._name = name
        self._module: ModuleType | None = None

    def __getattr__(self, attribute: str) -> Any:
        if attribute.startswith("_"):
            raise AttributeError(attribute)
        if self._module is None:
            self._module = importlib.import_module(self._name)
        return getattr(self._module, attribute)

    def __repr__(self) -> str:
        return f"<lazy module {self._name!r}>"


def lazy_import(name: str) -> Any:
    """``name``, imported when one of its public attributes is first read."""
    return _LazyModule(name)
