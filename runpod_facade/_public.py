"""Public names report ``runpod_facade`` as their module, where users import them from (as
httpx and openai do): reprs, tracebacks, ``help()`` and pickles then show
``runpod_facade.JobFailed``, not the private module that defines it."""

from __future__ import annotations

import inspect
from collections.abc import Iterable

__all__ = ["name_public"]


def name_public(values: Iterable[object]) -> None:
    """Name the module of each class and function among ``values`` ``runpod_facade``.

    The package calls it on what it imports at once; a module whose public names it imports
    on first use (``runpod_facade._LAZY``) calls it on its own names, as an endpoint may
    import that module before any of them is looked up on the package.
    """
    for value in values:
        if isinstance(value, type) or inspect.isfunction(value):
            value.__module__ = "runpod_facade"
