"""Modules that public annotations name but that are imported only when something reads them.

The package imports httpx, aiohttp, the batch machinery and the Batch Jobs API on first use,
so a signature such as ``http_client: httpx.Client | None`` names a module that need not be
loaded. Importing it under ``TYPE_CHECKING`` alone leaves the name unbound at run time, and
whatever evaluates annotations (``typing.get_type_hints``, ``inspect.signature(eval_str=True)``,
FastAPI, pydantic, sphinx) fails with ``NameError``. A module binds :func:`deferred_module` under
that name instead, type checkers still seeing the real import::

    if TYPE_CHECKING:
        import httpx
    else:
        httpx = deferred_module("httpx")

Evaluating ``httpx.Client`` then imports httpx and gives the real class; nothing else does.
A class of the package's own imported on first use is named the same way, through its module
(``batchjobs.Batches``): ``eval`` reads a bare name from the module's dict, with no hook.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any, cast

__all__ = ["deferred_module"]


class _DeferredModule:
    """Stands for the module named ``name``: reading an attribute imports it (once: then
    ``import_module`` finds it in ``sys.modules``) and reads the module's own."""

    __slots__ = ("_name",)

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attribute: str) -> Any:
        # A dunder is asked by what walks a module's globals (doctest, pydoc, inspect.unwrap's
        # __wrapped__), never by an annotation: answered without importing the module.
        if attribute.startswith("__") and attribute.endswith("__"):
            raise AttributeError(attribute)
        return getattr(importlib.import_module(self._name), attribute)

    def __repr__(self) -> str:
        return f"<deferred module {self._name!r}>"


def deferred_module(name: str) -> ModuleType:
    """What stands for the module ``name`` (absolute) until an attribute of it is read.

    Reading one imports the module (``ModuleNotFoundError`` naming it if it is not installed)
    and gives the module's own attribute.
    """
    # Typed as a module: it stands for one, and only annotations read it.
    return cast(ModuleType, _DeferredModule(name))
