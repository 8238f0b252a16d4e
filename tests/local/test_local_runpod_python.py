"""The official ``runpod`` package (runpod-python) against the local endpoint.

Run by ``make interop`` (and so by ``make test``) in the benchmark venv, which pins runpod
1.12.0. Where runpod is not installed, ``tests/local/conftest.py`` leaves this module out of
collection. runpod-python reads ``runpod.endpoint_url_base`` and
``runpod.api_key`` when an ``Endpoint`` is created.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from runpod_facade.local import LocalEndpoint, sample_handlers

pytestmark = pytest.mark.runpod_python


@pytest.fixture
def runpod_at() -> Iterator[Any]:
    import runpod

    saved = (runpod.endpoint_url_base, runpod.api_key)
    yield runpod
    runpod.endpoint_url_base, runpod.api_key = saved


def _point(runpod: Any, ep: LocalEndpoint) -> Any:
    runpod.endpoint_url_base = ep.base_url
    runpod.api_key = ep.api_key
    return runpod.Endpoint(ep.endpoint_id)


def test_run_status_output_and_run_sync(runpod_at: Any) -> None:
    with LocalEndpoint(sample_handlers.echo, workers=2) as ep:
        endpoint = _point(runpod_at, ep)
        job = endpoint.run({"prompt": "hello"})
        assert job.output(timeout=30) == {"prompt": "hello"}
        assert job.status() == "COMPLETED"
        assert endpoint.run_sync({"n": 1}, timeout=30) == {"n": 1}
        health = endpoint.health()
        assert health["jobs"]["completed"] == 2
        assert [r.operation for r in ep.requests].count("run") == 1


def test_stream_cancel_and_purge(runpod_at: Any) -> None:
    with LocalEndpoint(sample_handlers.text_stream) as ep:
        endpoint = _point(runpod_at, ep)
        job = endpoint.run({"prompt": "alpha beta gamma"})
        assert list(job.stream()) == ["alpha", "beta", "gamma"]
    with LocalEndpoint(sample_handlers.sleep) as ep:
        endpoint = _point(runpod_at, ep)
        running = endpoint.run({"seconds": 60})
        queued = endpoint.run({"seconds": 60})
        assert endpoint.purge_queue()["removed"] in (0, 1, 2)
        assert running.cancel()["status"] == "CANCELLED"
        assert queued.status() == "CANCELLED"
