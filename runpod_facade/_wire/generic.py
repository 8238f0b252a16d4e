"""The one parser of a reply schema that has no hand-written parser: its fields are read from
the spec's reply table (``runpod_generated.operations.REPLY_SCHEMAS``, written by
``make regen``) and checked there — required, JSON type, ``null``, minimum — into a
:class:`~runpod_facade._types.Reply`. An operation whose reply schema is new to the spec is
therefore parsed without a line of code here."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .._types import Reply
from .bodies import BodyShapeError

if TYPE_CHECKING:
    from runpod_generated.operations import FieldInfo, ReplySchema

__all__ = ["reply_from_object", "reply_schema"]


def reply_schema(name: str) -> ReplySchema:
    """The spec's table of reply schema ``name`` (the generated table, loaded on first use)."""
    from runpod_generated.operations import REPLY_SCHEMAS

    return REPLY_SCHEMAS[name]


def _typed(field: FieldInfo, value: Any) -> Any:
    """``value`` as the field's JSON type says (an integral float is an integer, as in JSON
    Schema); BodyShapeError when it is not of that type."""
    kind = field.json_type
    # bool is an int to Python, not to JSON Schema: `"position": true` is off-contract.
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if kind is None:
        return value
    if kind == "integer" and number and float(value).is_integer():
        return int(value)
    if kind == "number" and number:
        return value
    if isinstance(value, _PYTHON_TYPES.get(kind, ())) and not (
        kind != "boolean" and isinstance(value, bool)
    ):
        return value
    raise BodyShapeError(f"`{field.name}` is {type(value).__name__}, not {kind}")


_PYTHON_TYPES: Mapping[str, type | tuple[type, ...]] = {
    "string": str,
    "boolean": bool,
    "object": dict,
    "array": list,
    "null": type(None),
}


def _value(field: FieldInfo, data: Mapping[str, Any]) -> Any:
    if field.name not in data:
        if field.required:
            raise BodyShapeError(f"no `{field.name}` in the reply")
        return None
    value = data[field.name]
    if value is None:
        if not field.nullable:
            raise BodyShapeError(f"`{field.name}` is null")
        return None
    value = _typed(field, value)
    if field.minimum is not None and isinstance(value, int | float) and value < field.minimum:
        raise BodyShapeError(f"`{field.name}` is {value}, less than {field.minimum}")
    return value


def reply_from_object(
    schema: ReplySchema, data: Mapping[str, Any], raw_json: bytes, *, expected_id: str | None
) -> Reply:
    """The :class:`Reply` of ``data``, a decoded body of ``schema``; ``raw_json`` its bytes.

    ``expected_id`` is the job the request was about: a body whose ``id`` field names another
    job is refused. BodyShapeError (with the job the body named) when a field breaks the
    schema."""
    named = data.get("id")
    job_id = named if isinstance(named, str) and named else expected_id
    try:
        values = {field.python: _value(field, data) for field in schema.fields}
    except BodyShapeError as exc:
        raise BodyShapeError(exc.why, job_id) from None
    if expected_id is not None and isinstance(named, str) and named != expected_id:
        raise BodyShapeError(f"the body is for job {named!r}, not {expected_id!r}", named)
    return Reply(schema.name, values, raw_json)
