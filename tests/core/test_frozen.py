"""``slot_init``: a frozen slotted dataclass whose ``__init__`` sets its slots directly behaves
as the dataclass's own ``__init__`` does — compared against an undecorated twin."""

from __future__ import annotations

import copy
import dataclasses
import inspect
import pickle
import typing
from dataclasses import dataclass, field
from typing import Any, ClassVar

import pytest

from runpod_facade import JobState
from runpod_facade._batches.types import BatchItem
from runpod_facade._frozen import slot_init
from runpod_facade._transports.base import Timeouts


@dataclass(frozen=True, slots=True)
class Base:
    a: int


@dataclass(frozen=True, slots=True)
class PlainPoint(Base):
    b: str
    c: float | None = None
    tags: list[str] = field(default_factory=list)
    note: str = field(default="n", compare=False)


@slot_init
@dataclass(frozen=True, slots=True)
class FastPoint(Base):  # the same fields
    b: str
    c: float | None = None
    tags: list[str] = field(default_factory=list)
    note: str = field(default="n", compare=False)


FAST: type[Any] = FastPoint
PLAIN: type[Any] = PlainPoint

CALLS: list[tuple[tuple[Any, ...], dict[str, Any]]] = [
    ((1, "x"), {}),
    ((1, "x", 2.5), {}),
    ((1, "x", 2.5, ["t"], "m"), {}),
    ((), {"a": 1, "b": "x", "tags": ["t"]}),
    ((1,), {"b": "x", "note": "m", "c": None}),
]


@pytest.mark.parametrize(("args", "kwargs"), CALLS)
def test_fields_are_set_as_the_dataclass_init_sets_them(
    args: tuple[Any, ...], kwargs: dict[str, Any]
) -> None:
    fast, plain = FAST(*args, **kwargs), PLAIN(*args, **kwargs)
    assert dataclasses.asdict(fast) == dataclasses.asdict(plain)
    assert repr(fast).split("(", 1)[1] == repr(plain).split("(", 1)[1]


BAD_CALLS: list[tuple[tuple[Any, ...], dict[str, Any]]] = [
    ((), {}),  # a required field missing
    ((1,), {}),
    ((1, "x"), {"z": 0}),  # an unknown field
    ((1, "x"), {"a": 2}),  # a field given twice
    ((1, "x", 2.5, [], "m", "extra"), {}),  # too many
]


@pytest.mark.parametrize(("args", "kwargs"), BAD_CALLS)
def test_bad_calls_raise_type_error_as_the_dataclass_init_does(
    args: tuple[Any, ...], kwargs: dict[str, Any]
) -> None:
    with pytest.raises(TypeError):
        PLAIN(*args, **kwargs)
    with pytest.raises(TypeError):
        FAST(*args, **kwargs)


def test_a_default_factory_runs_once_per_instance() -> None:
    first, second = FAST(1, "x"), FAST(1, "x")
    assert first.tags == [] and first.tags is not second.tags
    given = ["t"]
    assert FAST(1, "x", tags=given).tags is given


def test_still_frozen_comparable_hashable_picklable_and_replaceable() -> None:
    point = FAST(1, "x", 2.5, ("t",))  # type: ignore[arg-type]  # a tuple: hashable
    with pytest.raises(dataclasses.FrozenInstanceError):
        point.a = 2
    assert point == FAST(1, "x", 2.5, ("t",), note="other")  # note: compare=False
    assert hash(point) == hash(FAST(1, "x", 2.5, ("t",)))
    assert pickle.loads(pickle.dumps(point)) == point
    assert copy.deepcopy(point) == point
    assert dataclasses.replace(point, c=None) == FAST(1, "x", None, ("t",))
    assert not hasattr(point, "__dict__")


def test_the_signature_is_the_dataclass_one() -> None:
    fast, plain = inspect.signature(FAST), inspect.signature(PLAIN)
    assert list(fast.parameters) == list(plain.parameters)
    for name, parameter in fast.parameters.items():
        expected = plain.parameters[name]
        assert parameter.kind == expected.kind
        assert parameter.annotation == expected.annotation
        assert repr(parameter.default) == repr(expected.default)
    assert FAST.__init__.__qualname__ == "FastPoint.__init__"


@pytest.mark.parametrize("cls", [JobState, BatchItem, Timeouts])
def test_the_package_classes_built_per_job_use_it(cls: type[Any]) -> None:
    assert "__set_0" in cls.__init__.__code__.co_freevars  # (the generated __init__'s cells)


@dataclass(frozen=True, slots=True)
class PlainPair:
    first: Base  # a name of this module, not a builtin
    rest: tuple[Base, ...] = ()


@slot_init
@dataclass(frozen=True, slots=True)
class FastPair:
    first: Base
    rest: tuple[Base, ...] = ()


def test_the_annotations_evaluate_in_the_class_module_as_the_dataclass_ones() -> None:
    # What FastAPI, pydantic and sphinx do with a signature.
    fast: Any = FastPair
    assert typing.get_type_hints(fast.__init__) == typing.get_type_hints(PlainPair.__init__)
    assert typing.get_type_hints(fast.__init__)["first"] is Base
    assert inspect.signature(fast, eval_str=True) == inspect.signature(PlainPair, eval_str=True)


def _not_frozen() -> type[Any]:
    @dataclass(slots=True)
    class C:
        a: int

    return C


def _no_slots() -> type[Any]:
    @dataclass(frozen=True)
    class C:
        a: int

    return C


def _post_init() -> type[Any]:
    @dataclass(frozen=True, slots=True)
    class C:
        a: int

        def __post_init__(self) -> None: ...

    return C


def _kw_only() -> type[Any]:
    @dataclass(frozen=True, slots=True, kw_only=True)
    class C:
        a: int

    return C


def _not_in_init() -> type[Any]:
    @dataclass(frozen=True, slots=True)
    class C:
        a: int = field(default=0, init=False)

    return C


def _init_var() -> type[Any]:
    @dataclass(frozen=True, slots=True)
    class C:
        a: int
        b: dataclasses.InitVar[int] = 0

    return C


def _class_var() -> type[Any]:
    @dataclass(frozen=True, slots=True)
    class C:
        a: int
        b: ClassVar[int] = 0

    return C


@pytest.mark.parametrize(
    "make",
    [_not_frozen, _no_slots, _post_init, _kw_only, _not_in_init, _init_var, _class_var],
)
def test_what_it_does_not_reproduce_is_refused(make: Any) -> None:
    with pytest.raises(TypeError):
        slot_init(make())
