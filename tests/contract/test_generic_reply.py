"""The generic reply parser: any reply schema of the spec, read from the table ``make regen``
writes (``REPLY_SCHEMAS``), parses into a ``Reply`` checked against that schema — so a new
reply schema needs no parser of its own. Every reply schema of the spec goes through it here
(its ``example``), as does a made-up schema with every JSON type, and bodies that break one."""

from __future__ import annotations

import copy
import json
import pickle
from typing import Any

import pytest
from runpod_generated.operations import REPLY_SCHEMAS, FieldInfo, ReplySchema

from runpod_facade import APIResponseValidationError, Reply
from runpod_facade._transports.base import ApiResponse
from runpod_facade._wire.bodies import BodyShapeError
from runpod_facade._wire.replies import PARSERS, parse_generic, parse_reply, reply_from_object
from runpod_facade._wire.requests import build_request
from tests._support.operations import OPERATIONS, example_of
from tests._support.spec import schema


def _field(name: str, json_type: str | None, **kw: Any) -> FieldInfo:
    python = "".join(f"_{c.lower()}" if c.isupper() else c for c in name)
    defaults: dict[str, Any] = {"nullable": False, "required": False, "minimum": None}
    return FieldInfo(name=name, python=python, json_type=json_type, **{**defaults, **kw})


#: A made-up schema with a field of every kind the table can describe.
EVERY_KIND = ReplySchema(
    name="EveryKind",
    fields=(
        _field("id", "string", required=True),
        _field("position", "integer", nullable=True, minimum=1),
        _field("ratio", "number"),
        _field("ready", "boolean"),
        _field("meta", "object"),
        _field("items", "array"),
        _field("anything", None, nullable=True),
        _field("workerId", "string"),
    ),
)


def _reply(data: dict[str, Any], expected_id: str | None = "job-1") -> Reply:
    return reply_from_object(EVERY_KIND, data, json.dumps(data).encode(), expected_id=expected_id)


# --- every reply schema of the spec -----------------------------------------------------------


@pytest.mark.parametrize("name", sorted(REPLY_SCHEMAS))
def test_every_reply_schema_of_the_spec_parses_generically(name: str) -> None:
    data = example_of(name)
    raw = json.dumps(data).encode()
    reply = reply_from_object(REPLY_SCHEMAS[name], data, raw, expected_id=None)
    assert reply.schema == name
    assert reply.raw_json == raw
    assert reply.to_dict() == data
    for field in REPLY_SCHEMAS[name].fields:
        assert getattr(reply, field.python) == data.get(field.name), field.name


@pytest.mark.parametrize("name", sorted(REPLY_SCHEMAS))
def test_the_table_describes_the_spec_schema(name: str) -> None:
    spec = schema(name)
    fields = REPLY_SCHEMAS[name].fields
    assert [f.name for f in fields] == list(spec.get("properties", {}))
    assert {f.name for f in fields if f.required} == set(spec.get("required", []))


@pytest.mark.parametrize("name", sorted(REPLY_SCHEMAS))
def test_no_field_is_hidden_by_an_attribute_of_reply(name: str) -> None:
    own = {n for n in dir(Reply) if not n.startswith("_")} | {"schema", "raw_json"}
    hidden = {f.python for f in REPLY_SCHEMAS[name].fields} & own
    # A field called e.g. `schema` would be shadowed by Reply's own attribute.
    assert hidden == set() or name in PARSERS, f"{name}: fields {hidden} hidden by Reply"


def test_a_schema_without_a_parser_of_its_own_is_parsed_by_the_generic_one() -> None:
    # Pretend /purge-queue's schema had no hand-written parser: parse_reply falls back.
    request = build_request("purge-queue", "ep-1")
    response = ApiResponse(200, {}, b'{"removed": 2, "status": "completed", "x": [1]}')
    reply = parse_generic(response, request)
    assert (reply.removed, reply.status) == (2, "completed")
    assert reply.raw["x"] == [1]
    assert parse_reply(response, request) != reply  # this one has its own: PurgeResult
    assert type(parse_reply(response, request)).__name__ == "PurgeResult"


def _names_a_job(name: str) -> bool:
    info = OPERATIONS[name]
    return info.job_scoped and any(f.name == "id" for f in REPLY_SCHEMAS[info.reply_schema].fields)


@pytest.mark.parametrize("name", sorted(filter(_names_a_job, OPERATIONS)))
def test_a_generic_reply_about_another_job_is_refused_with_the_job_id(name: str) -> None:
    info = OPERATIONS[name]
    request = build_request(name, "ep-1", job_id="job-1", wait_ms=1000 if info.holds else None)
    body = {**example_of(info.reply_schema), "id": "job-2"}
    with pytest.raises(APIResponseValidationError, match="job-2") as caught:
        parse_generic(ApiResponse(200, {}, json.dumps(body).encode()), request)
    assert caught.value.job_id == "job-2"


# --- the checks -----------------------------------------------------------------------------------


def test_every_kind_parses_with_its_type() -> None:
    data = {
        "id": "job-1",
        "position": 3.0,  # an integral number is an integer in JSON Schema
        "ratio": 0.5,
        "ready": True,
        "meta": {"a": [1]},
        "items": [{"b": 2}],
        "anything": None,
        "workerId": "w1",
        "unknown": "kept",
    }
    reply = _reply(data)
    assert reply.position == 3 and type(reply.position) is int
    assert (reply.ratio, reply.ready, reply.worker_id) == (0.5, True, "w1")
    assert reply.meta == {"a": [1]} and reply.items == [{"b": 2}]
    assert reply.anything is None
    assert reply.to_dict() == data
    assert reply.raw["unknown"] == "kept"


def test_absent_optional_fields_are_none_and_null_where_nullable() -> None:
    reply = _reply({"id": "job-1", "position": None})
    assert reply.position is None
    assert reply.ratio is reply.meta is reply.worker_id is None


@pytest.mark.parametrize(
    ("data", "why"),
    [
        ({}, "no `id` in the reply"),
        ({"id": 7}, "`id` is int, not string"),
        ({"id": "job-1", "position": True}, "`position` is bool, not integer"),
        ({"id": "job-1", "position": 1.5}, "`position` is float, not integer"),
        ({"id": "job-1", "position": "1"}, "`position` is str, not integer"),
        ({"id": "job-1", "position": 0}, "`position` is 0, less than 1"),
        ({"id": "job-1", "ratio": None}, "`ratio` is null"),
        ({"id": "job-1", "ratio": False}, "`ratio` is bool, not number"),
        ({"id": "job-1", "ready": 1}, "`ready` is int, not boolean"),
        ({"id": "job-1", "meta": []}, "`meta` is list, not object"),
        ({"id": "job-1", "items": {}}, "`items` is dict, not array"),
        ({"id": "job-1", "workerId": None}, "`workerId` is null"),
        ({"id": "job-2"}, "the body is for job 'job-2', not 'job-1'"),
    ],
)
def test_a_body_that_breaks_the_schema_is_refused(data: dict[str, Any], why: str) -> None:
    with pytest.raises(BodyShapeError) as caught:
        _reply(data)
    assert caught.value.why == why
    # The job the body named, or the request's: never lost.
    assert caught.value.job_id == (data["id"] if isinstance(data.get("id"), str) else "job-1")


# --- the public snapshot --------------------------------------------------------------------------


def test_reply_is_an_immutable_snapshot_that_pickles_and_compares_by_value() -> None:
    reply = _reply({"id": "job-1", "position": 2, "meta": {"a": 1}})
    with pytest.raises(AttributeError, match="immutable"):
        reply.position = 3  # type: ignore[misc]
    with pytest.raises(AttributeError, match="immutable"):
        del reply.position
    reply.meta["a"] = 99  # a copy: the snapshot does not change
    assert reply.meta == {"a": 1}
    reply.fields["meta"]["a"] = 98
    assert reply.fields["meta"] == {"a": 1}
    with pytest.raises(TypeError):
        reply.fields["position"] = 5  # type: ignore[index]
    assert pickle.loads(pickle.dumps(reply)) == reply
    assert copy.deepcopy(reply) == reply == copy.copy(reply)
    assert hash(copy.deepcopy(reply)) == hash(reply)
    assert reply != _reply({"id": "job-1", "position": 3})
    assert pickle.loads(pickle.dumps(reply)).raw_json == reply.raw_json


def test_reply_repr_dir_and_unknown_attributes() -> None:
    reply = _reply({"id": "job-1", "position": 2})
    assert repr(reply).startswith("Reply(schema='EveryKind', id='job-1', position=2, ratio=None")
    assert {"position", "worker_id", "to_dict", "raw_json"} <= set(dir(reply))
    with pytest.raises(AttributeError, match=r"no field 'nope' \(its fields: id, position"):
        _ = reply.nope
    assert not hasattr(reply, "_private")
