"""Every operation the spec gives a CLI name (``x-runpod-operation.cli``) is reachable through
that command: run in-process against a local endpoint, it sends that operation's request.
The arguments follow from the route (a job id when it has one, ``--input`` when the
operation takes a body), so an operation added to the spec is covered here as soon as its
command is registered."""

from __future__ import annotations

import json

import pytest

from runpod_facade import Endpoint
from runpod_facade.cli._exit import EXIT_CODES
from runpod_facade.local import LocalEndpoint
from tests._support.operations import OPERATIONS, OperationInfo

from .conftest import cli

pytestmark = pytest.mark.usefixtures("env")

WITH_CLI = [info for info in OPERATIONS.values() if info.cli is not None]


def finished_job(local: LocalEndpoint) -> str:
    """A job that has finished (the one an operation on a job id is tried on)."""
    with Endpoint(local.endpoint_id, base_url=local.base_url, api_key=local.api_key) as ep:
        return ep.run_sync({"task": "echo"}, timeout=30).id


@pytest.mark.parametrize("info", WITH_CLI, ids=lambda info: info.cli)
def test_the_command_sends_its_operation(
    info: OperationInfo, env: LocalEndpoint, capsys: pytest.CaptureFixture[str]
) -> None:
    job_id = finished_job(env) if info.job_scoped else None
    argv: list[str] = ["--json", "--timeout", "10", info.cli]  # type: ignore[list-item]
    if job_id is not None:
        argv.append(job_id)
    if info.has_body:
        argv += ["--input", '{"task": "echo"}']
    seen = len(env.requests)
    code, out, err = cli(capsys, *argv)
    sent = [r for r in env.requests[seen:] if r.operation == info.name]
    assert sent, f"{info.cli} sent no {info.name} request (exit {code}: {err})"
    if job_id is not None:
        assert sent[0].job_id == job_id
    # It ends with an exit code of the CLI's table (a retry of a job that did not fail is
    # refused by the API: 6), never a traceback; a success prints JSON as asked.
    assert code in {c for c, _ in EXIT_CODES}
    assert "Traceback" not in err
    if code == 0:
        json.loads(out)
