"""Write ``runpod_generated/operations.py``: the operation table read from the spec.

openapi-python-client's templates see each operation's route and parameters but not its
vendor extensions, so ``scripts/regen.sh`` runs this script after the generator. The table
joins, per operation, what the generator knows (method, route, parameters, reply schema,
the generated module and its public ``build_request``) with the spec's ``x-runpod-*``
facts (façade name, CLI name, public method, retry safety, payload limits,
also-accepted methods). It also writes each reply schema's fields (wire name, attribute name,
JSON type, nullable, required, minimum), from which the façade parses and checks a reply that
has no hand-written parser.

    python scripts/gen_operations.py SPEC OUTPUT_FILE

Runs in the generator's venv (it needs ``ruamel.yaml``, which the generator depends on).
"""

from __future__ import annotations

import keyword
import re
import sys
from pathlib import Path
from typing import Any, NoReturn

from ruamel.yaml import YAML

_METHODS = ("get", "put", "post", "delete", "patch")
_SAFETY = {"repeatable", "submit"}


def _snake(name: str) -> str:
    """The generator's module name for an operationId (``getJobStatus`` -> ``get_job_status``)."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _ref_name(ref: str) -> str:
    return ref.rsplit("/", 1)[-1]


def _parameter(spec: dict[str, Any], param: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in param:
        return spec["components"]["parameters"][_ref_name(param["$ref"])]
    return param


def _reply_schema(operation: dict[str, Any]) -> str:
    schema = operation["responses"]["200"]["content"]["application/json"]["schema"]
    return _ref_name(schema["$ref"])


def _fail(message: str) -> NoReturn:
    print(f"gen_operations: {message}", file=sys.stderr)
    sys.exit(1)


_JSON_TYPES = {"string", "integer", "number", "boolean", "object", "array"}


def _schema_named(spec: dict[str, Any], name: str) -> dict[str, Any]:
    found: dict[str, Any] = spec["components"]["schemas"][name]
    return found


def _json_type(spec: dict[str, Any], node: dict[str, Any], where: str) -> tuple[str | None, bool]:
    """The JSON type of a property (``None``: any JSON value) and whether it may be null."""
    if "$ref" in node:
        return _json_type(spec, _schema_named(spec, _ref_name(node["$ref"])), where)
    branches = node.get("anyOf") or node.get("oneOf")
    if branches is not None:
        found = [_json_type(spec, branch, where) for branch in branches]
        kinds = {kind for kind, _ in found if kind != "null"}
        if len(kinds) != 1 or None in kinds:
            _fail(f"{where}: its branches have no one JSON type ({sorted(map(str, kinds))})")
        return kinds.pop(), any(nullable or kind == "null" for kind, nullable in found)
    if "allOf" in node:
        _fail(f"{where}: allOf is not supported in a reply field")
    kind = node.get("type")
    if kind is None:
        return None, True  # any JSON value, null included
    kinds = [kind] if isinstance(kind, str) else list(kind)
    nullable = "null" in kinds or bool(node.get("nullable", False))
    rest = [k for k in kinds if k != "null"]
    if not rest:
        return "null", True
    if len(rest) != 1 or rest[0] not in _JSON_TYPES:
        _fail(f"{where}: type {kind!r} is not one JSON type")
    return str(rest[0]), nullable


def _attribute(name: str, where: str) -> str:
    python = re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()
    if not python.isidentifier() or keyword.iskeyword(python):
        _fail(f"{where}: {name!r} makes no attribute name ({python!r})")
    return python


def reply_schemas(spec: dict[str, Any], rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The fields of every reply schema the operations name, in the spec's order."""
    found: dict[str, dict[str, Any]] = {}
    for name in dict.fromkeys(row["reply_schema"] for row in rows):
        node = _schema_named(spec, name)
        if node.get("type") != "object":
            _fail(f"reply schema {name} must be a JSON object (type: object)")
        if not isinstance(node.get("example"), dict):
            _fail(f"reply schema {name} needs an `example` (a plain success body; the tests send it)")
        required = set(node.get("required", []))
        fields = []
        for field, prop in node.get("properties", {}).items():
            where = f"{name}.{field}"
            kind, nullable = _json_type(spec, prop, where)
            fields.append(
                {
                    "name": str(field),
                    "python": _attribute(str(field), where),
                    "json_type": kind,
                    "nullable": nullable,
                    "required": field in required,
                    "minimum": prop.get("minimum"),
                }
            )
        if required - {f["name"] for f in fields}:
            _fail(f"reply schema {name}: required fields without a property: {sorted(required)}")
        pythons = [f["python"] for f in fields]
        if len(set(pythons)) != len(pythons):
            _fail(f"reply schema {name}: two fields make one attribute name: {pythons}")
        found[name] = {"name": name, "fields": fields}
    return found


def collect(spec: dict[str, Any]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for path, item in spec["paths"].items():
        shared = [_parameter(spec, p) for p in item.get("parameters", [])]
        for method in _METHODS:
            operation = item.get(method)
            if operation is None:
                continue
            meta = operation.get("x-runpod-operation")
            if meta is None:
                _fail(f"{method.upper()} {path} has no x-runpod-operation")
            params = shared + [_parameter(spec, p) for p in operation.get("parameters", [])]
            query = [p for p in params if p["in"] == "query"]
            if meta.get("safety") not in _SAFETY:
                _fail(f"{path}: x-runpod-operation.safety must be one of {sorted(_SAFETY)}")
            python = str(meta.get("python") or str(meta["name"]).replace("-", "_"))
            if not python.isidentifier():
                _fail(f"{path}: x-runpod-operation.python must be a method name, got {python!r}")
            rows.append(
                {
                    "name": str(meta["name"]),
                    "operation_id": str(operation["operationId"]),
                    "tag": str(operation["tags"][0]),
                    "method": method.upper(),
                    "path": str(path),
                    "also_accepts": tuple(str(m) for m in operation.get("x-runpod-also-accepts", [])),
                    "path_params": tuple(str(p["name"]) for p in params if p["in"] == "path"),
                    "query_params": tuple(str(p["name"]) for p in query),
                    "has_body": "requestBody" in operation,
                    "reply_schema": _reply_schema(operation),
                    "safety": str(meta["safety"]),
                    "holds": any(p["name"] == "wait" for p in query),
                    "cli": None if meta.get("cli") is None else str(meta["cli"]),
                    "python": python,
                    "max_payload_bytes": operation.get("x-runpod-max-payload-bytes"),
                    "max_chunk_bytes": operation.get("x-runpod-max-chunk-bytes"),
                    "undocumented": bool(operation.get("x-runpod-undocumented", False)),
                    "summary": str(operation.get("summary", "")),
                }
            )
    names = [row["name"] for row in rows]
    if len(set(names)) != len(names):
        _fail(f"duplicate x-runpod-operation names: {names}")
    return rows


def render(spec: dict[str, Any], rows: list[dict[str, Any]]) -> str:
    imports = sorted({(row["tag"], _snake(row["operation_id"])) for row in rows})
    retention = {str(k): int(v) for k, v in spec["x-runpod-result-retention-seconds"].items()}
    terminal = [str(s) for s in spec["x-runpod-terminal-statuses"]]
    lines = [
        '"""Every operation of the API, as the spec describes it (method, route, parameters, reply',
        "schema and the x-runpod-* facts), keyed by its façade name, and the fields of every reply",
        "schema. Generated from the spec by scripts/gen_operations.py through scripts/regen.sh: do",
        'not edit."""',
        "",
        "from collections.abc import Callable, Mapping",
        "from dataclasses import dataclass",
        "from types import MappingProxyType",
        "from typing import Any",
        "",
    ]
    lines += [f"from .api.{tag} import {module}" for tag, module in imports]
    lines += [
        "",
        "",
        "@dataclass(frozen=True, slots=True)",
        "class OperationInfo:",
        '    """One operation. ``build_request`` returns the method, URL, query and JSON body',
        '    of one request (no I/O); ``safety`` is ``"submit"`` when sending it twice could',
        '    create or requeue a job, else ``"repeatable"``; ``holds`` means it takes the',
        '    long-poll ``wait`` parameter; ``python`` names the method of ``Endpoint`` and',
        '    ``AsyncEndpoint`` that sends it; ``summary`` is the spec\'s one line about it."""',
        "",
        "    name: str",
        "    operation_id: str",
        "    method: str",
        "    path: str",
        "    also_accepts: tuple[str, ...]",
        "    path_params: tuple[str, ...]",
        "    query_params: tuple[str, ...]",
        "    has_body: bool",
        "    reply_schema: str",
        "    safety: str",
        "    holds: bool",
        "    cli: str | None",
        "    python: str",
        "    max_payload_bytes: int | None",
        "    max_chunk_bytes: int | None",
        "    undocumented: bool",
        "    summary: str",
        "    build_request: Callable[..., dict[str, Any]]",
        "",
        "    @property",
        "    def methods(self) -> tuple[str, ...]:",
        '        """Every HTTP method the API accepts on this route."""',
        "        return (self.method, *self.also_accepts)",
        "",
        "    @property",
        "    def job_scoped(self) -> bool:",
        '        return "jobId" in self.path_params',
        "",
        "",
        "@dataclass(frozen=True, slots=True)",
        "class FieldInfo:",
        '    """One property of a reply schema: ``name`` on the wire, ``python`` as an attribute',
        '    (snake case), ``json_type`` one of string, integer, number, boolean, object, array,',
        '    or ``None`` for any JSON value; ``nullable``: ``null`` is allowed; ``required``:',
        '    the reply always has it; ``minimum``: the least number it may be."""',
        "",
        "    name: str",
        "    python: str",
        "    json_type: str | None",
        "    nullable: bool",
        "    required: bool",
        "    minimum: int | float | None",
        "",
        "",
        "@dataclass(frozen=True, slots=True)",
        "class ReplySchema:",
        '    """A reply schema of the spec (the 200 body of an operation) and its fields."""',
        "",
        "    name: str",
        "    fields: tuple[FieldInfo, ...]",
        "",
        "",
        "OPERATIONS: Mapping[str, OperationInfo] = MappingProxyType(",
        "    {",
    ]
    for row in rows:
        fields = ", ".join(f"{key}={row[key]!r}" for key in row if key != "tag")
        module = _snake(row["operation_id"])
        lines.append(f"        {row['name']!r}: OperationInfo({fields}, build_request={module}.build_request),")
    lines += [
        "    }",
        ")",
        "",
        "BY_OPERATION_ID: Mapping[str, OperationInfo] = MappingProxyType(",
        "    {info.operation_id: info for info in OPERATIONS.values()}",
        ")",
        "",
        "REPLY_SCHEMAS: Mapping[str, ReplySchema] = MappingProxyType(",
        "    {",
    ]
    for name, reply in reply_schemas(spec, rows).items():
        fields = ", ".join(
            "FieldInfo(" + ", ".join(f"{key}={value!r}" for key, value in field.items()) + ")"
            for field in reply["fields"]
        )
        tail = "," if fields else ""
        lines.append(f"        {name!r}: ReplySchema(name={name!r}, fields=({fields}{tail})),")
    lines += [
        "    }",
        ")",
        "",
        f"TERMINAL_STATUSES: frozenset[str] = frozenset({terminal!r})",
        f"RESULT_RETENTION_SECONDS: Mapping[str, int] = MappingProxyType({retention!r})",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    spec = YAML(typ="safe").load(Path(argv[1]).read_text(encoding="utf-8"))
    Path(argv[2]).write_text(render(spec, collect(spec)), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
