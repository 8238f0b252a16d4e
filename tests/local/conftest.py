"""Fixtures for the local endpoint tests."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator

import httpx
import pytest

from runpod_facade.local import LocalEndpoint, sample_handlers

# runpod-python is installed only in the benchmark venv, where `make interop` (part of
# `make test`) runs its module; elsewhere the module is not collected rather than skipped.
if importlib.util.find_spec("runpod") is None:
    collect_ignore = ["test_local_runpod_python.py"]


@pytest.fixture
def endpoint() -> Iterator[LocalEndpoint]:
    """An echo endpoint with auth on and 4 workers."""
    with LocalEndpoint(sample_handlers.echo, workers=4) as ep:
        yield ep


@pytest.fixture
def client(endpoint: LocalEndpoint) -> Iterator[httpx.Client]:
    """An authenticated client whose base URL is ``{base_url}/{endpoint_id}``."""
    with httpx.Client(base_url=endpoint.url, headers=endpoint.headers, timeout=30) as c:
        yield c
