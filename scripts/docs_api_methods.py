"""A griffe extension for ``make docs``: an ``@api`` method's signature as its callers see it.

The clients' public methods are written once, on private base classes, as ``@api`` functions
that return the core's operation (``-> Operation[JobState]``); the decorator makes each a
method that returns the operation's result, blocking on ``Endpoint``/``Job`` and awaitable on
``AsyncEndpoint``/``AsyncJob`` (runpod_facade/_drivers/api.py). Read as written, the reference
would show ``Operation[JobState]``; this shows ``JobState``. The source is not touched.
"""

from __future__ import annotations

from typing import Any, TypeGuard

import griffe


class ApiMethodReturns(griffe.Extension):
    """Unwraps ``Operation[T]`` to ``T`` in the return annotation of every ``@api`` method."""

    def on_package(self, *, pkg: griffe.Module, **kwargs: Any) -> None:
        _rewrite(pkg)


def _rewrite(obj: griffe.Object) -> None:
    for member in obj.members.values():
        if member.is_alias:
            continue  # an alias shows its target, rewritten where it is defined
        if isinstance(member, griffe.Function):
            if _is_api(member) and _is_operation(member.returns):
                member.returns = member.returns.slice
        elif isinstance(member, griffe.Module | griffe.Class):
            _rewrite(member)


def _is_api(function: griffe.Function) -> bool:
    # ``batch_api``: the same for ``ep.batches`` (runpod_facade/_batchjobs/_sync.py).
    return any(str(d.value) in ("api", "batch_api") for d in function.decorators)


def _is_operation(annotation: str | griffe.Expr | None) -> TypeGuard[griffe.ExprSubscript]:
    return isinstance(annotation, griffe.ExprSubscript) and str(annotation.left) in (
        "Operation",
        "BatchOperation",
    )
