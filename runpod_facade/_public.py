"""Public names report ``runpod_facade`` as their module, where users import them from (as
httpx and openai do): reprs, tracebacks, ``help()`` and pickles then show
``runpod_facade.JobFailed``, not the private module that defines it."""

from __future__ import annotations

import builtins
import inspect
from collections.abc import Iterable
from typing import ForwardRef

__all__ = ["name_public"]

#: What separates the names in an annotation: blanked out, the rest splits into its names.
_NOT_NAMES = str.maketrans(dict.fromkeys("[]|,.()'\"", " "))


def name_public(values: Iterable[object]) -> None:
    """Name the module of each class and function among ``values`` ``runpod_facade``.

    The package calls it on what it imports at once; a module whose public names it imports
    on first use (``runpod_facade._LAZY``) calls it on its own names, as an endpoint may
    import that module before any of them is looked up on the package.

    A class's own annotations stay evaluable in the module that wrote them: for a class,
    ``typing.get_type_hints`` looks names up in the module its ``__module__`` names, and the
    package's namespace lacks most names the annotations use (``Mapping``, ``Duration``).
    """
    for value in values:
        if isinstance(value, type) and value.__module__ != "runpod_facade":
            _pin_annotations(value, value.__module__)
        if isinstance(value, type) or inspect.isfunction(value):
            value.__module__ = "runpod_facade"


def _pin_annotations(cls: type, module: str) -> None:
    """Make each string annotation ``cls`` writes, and the type of each dataclass field it
    declares (what pydantic reads), a forward reference evaluated in ``module``."""
    written = inspect.get_annotations(cls)  # its own, not its bases'
    pinned = {
        name: ForwardRef(annotation, is_argument=False, module=module, is_class=True)
        for name, annotation in written.items()
        if isinstance(annotation, str) and not _builtins_only(annotation)
    }
    if not pinned:
        return
    cls.__annotations__ = written | pinned
    for name, field in getattr(cls, "__dataclass_fields__", {}).items():
        if name in pinned and field.type == written[name]:
            field.type = pinned[name]


def _builtins_only(annotation: str) -> bool:
    """Whether ``annotation`` names builtins only (``int``, ``str | None``): it evaluates
    anywhere, and most do; a forward reference compiles its string (import time)."""
    return all(hasattr(builtins, name) for name in annotation.translate(_NOT_NAMES).split())
