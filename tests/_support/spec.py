"""The spec itself (``openapi/runpod-serverless.yaml``), read once: for the facts the generated
operation table does not carry, such as the properties of a reply schema."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import yaml

__all__ = ["REPO", "SERVER_URL", "SPEC_PATH", "schema", "spec_dict"]

REPO = Path(__file__).resolve().parents[2]
SPEC_PATH = REPO / "openapi" / "runpod-serverless.yaml"
SERVER_URL = "https://api.runpod.ai/v2"


@functools.cache
def spec_dict() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(SPEC_PATH.read_text(encoding="utf-8"))
    return data


def schema(name: str) -> dict[str, Any]:
    """The component schema ``name``."""
    found: dict[str, Any] = spec_dict()["components"]["schemas"][name]
    return found
