"""Write ``runpod_generated/operations.py``: the operation table read from the spec.

openapi-python-client's templates see each operation's route and parameters but not its
vendor extensions, so ``scripts/regen.sh`` runs this script after the generator. The table
joins, per operation, what the generator knows (method, route, parameters, reply schema,
the generated module and its public ``build_request``) with the spec's ``x-runpod-*``
facts (façade name, CLI name, public method, retry safety, payload limits,
also-accepted methods).

    python scripts/gen_operations.py SPEC OUTPUT_FILE

Runs in the generator's venv (it needs ``ruamel.yaml``, which the generator depends on).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

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


def _fail(message: str) -> None:
    print(f"gen_operations: {message}", file=sys.stderr)
    sys.exit(1)


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
        "schema and the x-runpod-* facts), keyed by its façade name. Generated from the spec by",
        'scripts/gen_operations.py through scripts/regen.sh: do not edit."""',
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
        '    ``AsyncEndpoint`` that sends it."""',
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
