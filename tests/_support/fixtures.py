"""The recorded replies in tests/fixtures/replies, read against the spec: a file's prefix names
an operation (its ``x-runpod-operation.name`` with ``-`` as ``_``) or a component schema (in
snake case), so no table maps prefixes (see tests/fixtures/replies/README.md)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from .operations import OPERATIONS, OperationInfo, example_of
from .spec import REPO, schema, spec_dict

__all__ = ["FIXTURES", "REPLIES", "Kind", "kind_of", "load", "reply_for"]

REPLIES = REPO / "tests" / "fixtures" / "replies"
FIXTURES = sorted(REPLIES.glob("*.json"))


@dataclass(frozen=True)
class Kind:
    """What a fixture is: a whole reply of ``operation`` (schema = its reply schema), or one
    object of ``schema`` that sits at ``holder``'s reply under ``field`` (a list item when
    ``in_list``)."""

    schema: str
    operation: OperationInfo | None = None
    holder: OperationInfo | None = None
    field: str = ""
    in_list: bool = False


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _ref(node: dict[str, Any]) -> str | None:
    ref = node.get("$ref")
    return None if ref is None else str(ref).rsplit("/", 1)[-1]


@cache
def _prefixes() -> dict[str, Kind]:
    kinds: dict[str, Kind] = {}
    for info in OPERATIONS.values():
        kinds[info.name.replace("-", "_")] = Kind(info.reply_schema, operation=info)
    for name in spec_dict()["components"]["schemas"]:
        holder = _holder_of(name)
        if holder is not None and _snake(name) not in kinds:
            info, field, in_list = holder
            kinds[_snake(name)] = Kind(name, holder=info, field=field, in_list=in_list)
    return kinds


def _holder_of(name: str) -> tuple[OperationInfo, str, bool] | None:
    """The first operation whose reply schema has a property of schema ``name``."""
    for info in OPERATIONS.values():
        for field, prop in schema(info.reply_schema).get("properties", {}).items():
            if _ref(prop) == name:
                return info, field, False
            if prop.get("type") == "array" and _ref(prop.get("items", {})) == name:
                return info, field, True
    return None


def kind_of(path: Path) -> Kind:
    prefix, sep, _ = path.stem.partition("__")
    kinds = _prefixes()
    assert sep and prefix in kinds, (
        f"{path.name}: name must be <prefix>__<description>.json with a prefix of {sorted(kinds)}"
    )
    return kinds[prefix]


def load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def reply_for(info: OperationInfo) -> dict[str, Any]:
    """A 200 reply of ``info``: a recorded one of its own, else one of its reply schema, else
    (a schema no recorded reply shows yet) the schema's example in the spec."""
    whole = [(p, kind_of(p)) for p in FIXTURES if kind_of(p).operation is not None]
    own = [p for p, kind in whole if kind.operation and kind.operation.name == info.name]
    same_schema = [p for p, kind in whole if kind.schema == info.reply_schema]
    found = own or same_schema
    return load(found[0]) if found else example_of(info.reply_schema)
