"""Frozen dataclasses built at the cost of plain ones.

A frozen dataclass's generated ``__init__`` sets each field with ``object.__setattr__`` (the
class's own ``__setattr__`` refuses): the generic attribute path, roughly 1k instructions a
field on CPython 3.11. A *slotted* frozen dataclass can set its fields through its slots'
descriptors instead, as cheaply as a plain class does. :func:`slot_init` gives it such an
``__init__``, with the same parameters, defaults and default factories in the same order;
the class stays a frozen dataclass in every other way (fields, repr, eq, hash, pickling,
``dataclasses.replace``). Used on the objects built once per job (``JobState``,
``BatchItem``, a request's ``Timeouts`` under a deadline): ~7k instructions less per ``JobState``.
"""

from __future__ import annotations

import dataclasses
import sys
from types import MemberDescriptorType
from typing import Any, TypeVar

__all__ = ["slot_init"]

T = TypeVar("T")

#: The default of a parameter whose field has a default factory: call the factory.
_FACTORY: Any = type("_Factory", (), {"__repr__": lambda self: "<factory>"})()


def slot_init(cls: type[T]) -> type[T]:
    """Give ``cls``, a ``@dataclass(frozen=True, slots=True)``, an ``__init__`` that sets its
    slots directly. TypeError for what it does not reproduce: ``__post_init__``,
    ``InitVar`` or ``ClassVar`` pseudo-fields, keyword-only and ``init=False`` fields."""
    params = cls.__dict__.get("__dataclass_params__")
    if params is None or not params.frozen or "__slots__" not in cls.__dict__:
        raise TypeError(f"{cls.__name__} is not a frozen dataclass with slots")
    fields = dataclasses.fields(cls)  # type: ignore[arg-type]
    if hasattr(cls, "__post_init__") or len(fields) != len(cls.__dataclass_fields__):  # type: ignore[attr-defined]
        raise TypeError(f"{cls.__name__}: __post_init__ and pseudo-fields are not supported")
    if any(f.kw_only or not f.init for f in fields):
        raise TypeError(f"{cls.__name__}: keyword-only and init=False fields are not supported")
    namespace: dict[str, Any] = {"_FACTORY": _FACTORY}
    arguments, lines = [], []
    for number, f in enumerate(fields):
        setter, default = f"__set_{number}", f"__default_{number}"
        namespace[setter] = _slot(cls, f.name).__set__
        if f.default is not dataclasses.MISSING:
            namespace[default] = f.default
            arguments.append(f"{f.name}={default}")
        elif f.default_factory is not dataclasses.MISSING:
            namespace[default] = f.default_factory
            arguments.append(f"{f.name}=_FACTORY")
            lines.append(f"    if {f.name} is _FACTORY: {f.name} = {default}()")
        else:
            arguments.append(f.name)
        lines.append(f"    {setter}(self, {f.name})")
    # Built inside a function of the setters and defaults, run in the class's module: the
    # __init__ gets them as closure cells and the module as its globals, where
    # typing.get_type_hints evaluates the annotations (as for dataclasses' own __init__).
    source = (
        f"def __make_init__({', '.join(namespace)}):\n"
        f"    def __init__(self, {', '.join(arguments)}):\n"
        + "\n".join("    " + line for line in lines or ["    pass"])
        + "\n    return __init__"
    )
    made: dict[str, Any] = {}
    module = sys.modules.get(cls.__module__)
    exec(source, vars(module) if module else {}, made)  # noqa: S102 - as dataclasses does
    init = made["__make_init__"](**namespace)
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    init.__module__ = cls.__module__
    init.__annotations__ = {f.name: f.type for f in fields} | {"return": None}
    cls.__init__ = init  # type: ignore[method-assign]
    return cls


def _slot(cls: type, name: str) -> MemberDescriptorType:
    for klass in cls.__mro__:
        found = klass.__dict__.get(name)
        if isinstance(found, MemberDescriptorType):
            return found
    raise TypeError(f"{cls.__name__}.{name} is not a slot")
