"""The one check that the ``local`` extra (Starlette + uvicorn) is installed."""

from __future__ import annotations

import importlib

from ._defaults import LOCAL_EXTRA_HINT

__all__ = ["MissingExtraError", "require_local"]

# What `runpod_facade.local` imports beyond the SDK's own dependencies.
_EXTRA_MODULES = frozenset({"starlette", "uvicorn", "h11"})


class MissingExtraError(ImportError):
    """The ``local`` extra (Starlette + uvicorn) is not installed; the message says how to
    install it."""


def require_local() -> None:
    """Import the local endpoint; MissingExtraError naming the extra to install if missing.

    A missing module that is not part of the extra is a real bug and is raised unchanged.
    """
    try:
        importlib.import_module("runpod_facade.local")
    except ImportError as exc:  # runpod_facade.local names the missing module on its error
        missing = (exc.name or "").partition(".")[0]
        if missing not in _EXTRA_MODULES:
            raise
        raise MissingExtraError(
            f"runpod_facade.testing runs your handler on a local endpoint, which needs the "
            f"'local' extra ({missing} is not installed): {LOCAL_EXTRA_HINT}",
            name=missing,
        ) from exc
