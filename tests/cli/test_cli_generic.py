"""The generic command: an operation with a CLI name and no command written by hand gets one
from the spec's table (``cli._generic``). Tried on made-up operations that reuse routes the
local endpoint serves — a job-scoped read, an endpoint read, a long-poll and one with a body —
in-process over loopback: what each sends, prints and exits with."""

from __future__ import annotations

import dataclasses
import json
from types import MappingProxyType

import pytest

from runpod_facade import Endpoint
from runpod_facade.cli import _generic
from runpod_facade.cli._exit import EXIT_API_ERROR, EXIT_OK, EXIT_USAGE, EXIT_WAIT_TIMEOUT
from runpod_facade.local import LocalEndpoint
from tests._support.operations import OPERATIONS

from .conftest import cli

pytestmark = pytest.mark.usefixtures("env")

MADE_UP = {
    "peek": dataclasses.replace(OPERATIONS["status"], name="peek", cli="peek"),
    "counters": dataclasses.replace(OPERATIONS["health"], name="counters", cli="counters"),
    "hold": dataclasses.replace(OPERATIONS["status-sync"], name="hold", cli="hold"),
    "submit": dataclasses.replace(OPERATIONS["run"], name="submit", cli="submit"),
    # A hand-written command keeps its name: the generic one never replaces it.
    "status2": dataclasses.replace(OPERATIONS["status"], name="status2", cli="status"),
}


@pytest.fixture(autouse=True)
def made_up_operations(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_generic, "OPERATIONS", MappingProxyType({**OPERATIONS, **MADE_UP}))


def finished_job(local: LocalEndpoint) -> str:
    with Endpoint(local.endpoint_id, base_url=local.base_url, api_key=local.api_key) as ep:
        return ep.run_sync({"task": "echo", "text": "hi"}, timeout=30).id


def test_a_job_scoped_read_prints_the_reply_as_json(
    env: LocalEndpoint, capsys: pytest.CaptureFixture[str]
) -> None:
    job_id = finished_job(env)
    seen = len(env.requests)
    code, out, err = cli(capsys, "peek", job_id)
    assert (code, err) == (EXIT_OK, "")
    reply = json.loads(out)
    assert (reply["id"], reply["status"]) == (job_id, "COMPLETED")
    assert [(r.operation, r.job_id) for r in env.requests[seen:]] == [("status", job_id)]


def test_an_endpoint_read_prints_the_reply_as_the_api_sent_it(
    env: LocalEndpoint, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = cli(capsys, "--json", "counters")
    assert code == EXIT_OK
    assert set(json.loads(out)) == {"jobs", "workers"}


def test_a_long_poll_takes_timeout_as_its_deadline(
    env: LocalEndpoint, capsys: pytest.CaptureFixture[str]
) -> None:
    job_id = finished_job(env)
    code, out, _ = cli(capsys, "--timeout", "5", "hold", job_id)
    assert code == EXIT_OK and json.loads(out)["id"] == job_id
    with Endpoint(env.endpoint_id, base_url=env.base_url, api_key=env.api_key) as ep:
        slow = ep.run({"task": "sleep", "seconds": 5})
    code, _, err = cli(capsys, "--timeout", "0.2", "hold", slow.id)
    assert code == EXIT_WAIT_TIMEOUT, err
    assert slow.id in err


def test_an_operation_with_a_body_reads_its_input(
    env: LocalEndpoint, capsys: pytest.CaptureFixture[str]
) -> None:
    seen = len(env.requests)
    code, out, _ = cli(capsys, "submit", "--input", '{"task": "echo"}')
    assert code == EXIT_OK
    assert json.loads(out)["status"] in {"IN_QUEUE", "IN_PROGRESS", "COMPLETED"}
    assert [r.operation for r in env.requests[seen:]] == ["run"]


@pytest.mark.misuse("argument")
@pytest.mark.parametrize(
    ("argv", "code", "sent"),
    [
        (["peek"], EXIT_USAGE, False),  # no JOB_ID
        (["peek", "a", "b"], EXIT_USAGE, False),
        (["peek", ""], EXIT_USAGE, False),  # an empty id, refused before any request
        (["counters", "extra"], EXIT_USAGE, False),
        (["submit", "--input", "{not json"], EXIT_USAGE, False),
        (["peek", "no-such-job"], EXIT_API_ERROR, True),  # the API's 404
    ],
)
def test_bad_arguments_exit_as_other_commands_do(
    env: LocalEndpoint,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    code: int,
    sent: bool,
) -> None:
    seen = len(env.requests)
    got, out, err = cli(capsys, *argv)
    assert got == code, err
    assert out == ""
    assert "Traceback" not in err
    assert (len(env.requests) > seen) is sent


def test_a_hand_written_command_is_kept(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(capsys, "status", "--help")
    assert code == EXIT_OK
    assert "print a job's current state" in out  # jobs.py's, not the generic one
