"""``stream`` of a job whose handler returns instead of yielding: the stream has no chunk, and
the CLI prints the job's result (the final state's output) instead of nothing."""

from __future__ import annotations

import json

import pytest

from runpod_facade.local import LocalEndpoint

from .conftest import cli


@pytest.mark.usefixtures("env")
def test_stream_of_a_plain_handler_prints_its_result(
    local: LocalEndpoint, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = cli(capsys, "stream", "--input", '{"task": "echo", "n": 5}')
    assert code == 0, err
    assert json.loads(out) == {"task": "echo", "n": 5}
    assert "COMPLETED (0 chunks)" in err
