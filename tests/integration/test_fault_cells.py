"""One fault cell per *kind* of fault over real loopback sockets, on the blocking client and on
``AsyncEndpoint`` with each HTTP backend.

tests/core/test_fault_cells.py decides every operation × fault cell in fake time; what only
sockets show is how httpx and aiohttp report a real failure — a connection closed before,
after or in the middle of the reply, a refused port, a read that never ends, a header they
must pass through — and how the local endpoint injects each fault. So each kind of fault
(the first row of each kind in tests/_support/faults.py, plus "refused") runs here on
``run``: a submit is where that classification decides whether a job may be duplicated or
lost. The same outcome as in fake time is required, and each cell checks on the server that:

* the submit reached it at most once, except attempts it refused unprocessed with 429;
* a job it accepted is never silently lost: a submit that raised either says so
  (``request_sent=True``, a job id, or a 2xx status on the error) or left no job behind.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from runpod_facade import (
    APIResponseValidationError,
    APIStatusError,
    AsyncEndpoint,
    Endpoint,
    JobStatus,
    PollPolicy,
    RetryPolicy,
)
from runpod_facade.local import LocalEndpoint
from runpod_facade.local._faults import PRE_KINDS
from tests._support.faults import FAULTS, LOOPBACK_CLIENTS, LOOPBACK_FAULTS, Expect, expected
from tests._support.handlers import dispatch
from tests._support.operations import OPERATIONS, acall, call
from tests._support.reliability.store import CellResult, record_cell

#: The operation of the loopback cells: the submit whose id comes back at once.
OPERATION = OPERATIONS["run"]
HTTP_TIMEOUT = 1.0  # per request of the faulted client
FAST_RETRY = RetryPolicy(max_retries=3, initial_delay=0.01, max_delay=0.05)
FAST_POLL = PollPolicy(initial=0.02, maximum=0.1)


@dataclass
class Servers:
    local: LocalEndpoint
    dead_base_url: str  # a loopback port where nothing listens


@pytest.fixture(scope="module")
def servers() -> Iterator[Servers]:
    # Bound but not listening: connecting is refused, and no one else can take the port.
    dead = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    dead.bind(("127.0.0.1", 0))
    try:
        with LocalEndpoint(dispatch, workers=2) as local:
            yield Servers(local, f"http://127.0.0.1:{dead.getsockname()[1]}/v2")
    finally:
        dead.close()


def invoker(client: str, local: LocalEndpoint, base_url: str) -> Callable[[Any], Any]:
    options: dict[str, Any] = {
        "base_url": base_url,
        "api_key": local.api_key,
        "timeout": HTTP_TIMEOUT,
        "retry_policy": FAST_RETRY,
        "poll_policy": FAST_POLL,
    }
    if client == "sync":

        def invoke_sync(input: Any) -> Any:
            with Endpoint(local.endpoint_id, **options) as ep:
                return call(ep, OPERATION, input=input)

        return invoke_sync

    backend = client.removeprefix("async-")

    def invoke_async(input: Any) -> Any:
        async def main() -> Any:
            async with AsyncEndpoint(
                local.endpoint_id,
                http_backend=backend,
                **options,  # type: ignore[arg-type]
            ) as ep:
                return await acall(ep, OPERATION, input=input)

        return asyncio.run(main())

    return invoke_async


@pytest.mark.parametrize(
    ("client", "fault", "expect"),
    [
        pytest.param(client, fault, expected(OPERATION, fault), id=f"{client}-{fault}")
        for client in LOOPBACK_CLIENTS
        for fault in LOOPBACK_FAULTS
    ],
)
def test_cell(
    client: str, fault: str, expect: Expect, servers: Servers, request: pytest.FixtureRequest
) -> None:
    local, row = servers.local, FAULTS[fault]
    base_url = local.base_url if row.kind is not None else servers.dead_base_url
    local.faults.clear()
    jobs_before = set(local.job_ids())
    seen = len(local.requests)
    if row.kind is not None:
        local.faults.add(row.local_fault(OPERATION.name))
    input = {"task": "echo", "cell": fault}
    value: Any = None
    error: BaseException | None = None
    started = time.monotonic()
    try:
        value = invoker(client, local, base_url)(input)
    except Exception as exc:  # a non-RunpodError escaping is a finding too
        error = exc
    finally:
        elapsed = time.monotonic() - started
        local.faults.clear()
    records = [r for r in local.requests[seen:] if r.operation == OPERATION.name]
    new_jobs = set(local.job_ids()) - jobs_before

    outcome = "recovered" if error is None else type(error).__name__
    if error is None and expect.passthrough:
        outcome = "passed through"
    detail = _detail(error, new_jobs)
    record_cell(
        request.node.nodeid,
        CellResult(client, OPERATION.name, fault, outcome, detail, len(records), elapsed),
    )

    # 1. the outcome is exactly the one decided in fake time
    if expect.error is None:
        assert error is None, f"expected recovery, got {type(error).__name__}: {error}"
        assert new_jobs == {value.id}
        status = value.last_state.status
        if expect.passthrough:
            assert status == "PAUSED" and type(status) is str
        else:
            assert status is JobStatus.IN_QUEUE
    else:
        assert error is not None, f"expected {expect.error.__name__}, the call returned {value!r}"
        assert type(error) is expect.error, f"expected {expect.error.__name__}, got {error!r}"
        if expect.sent is not None:
            assert error.request_sent is expect.sent  # type: ignore[attr-defined]

    # 2. the submit reached the server at most once, except attempts refused with 429
    for earlier in records[:-1]:
        assert earlier.status_code == 429, (
            f"run was sent again after the server received it "
            f"(status {earlier.status_code}, fault {earlier.fault})"
        )
    # 3. one job at most, and an accepted job is never silently lost
    assert len(new_jobs) <= 1, f"one run created {len(new_jobs)} jobs"
    if error is not None and new_jobs:
        acknowledged = (
            getattr(error, "request_sent", False) is True
            or getattr(error, "job_id", None) in new_jobs
            or isinstance(error, APIResponseValidationError)
        )
        assert acknowledged, f"run created a job but {type(error).__name__} hides it"
    if error is not None and row.kind in PRE_KINDS:
        assert not new_jobs, "a fault before processing left a job behind"
    if row.kind is None:
        assert records == []
    # 4. Retry-After is honoured over the wire; a hang is bounded by the client's timeout
    if row.options().get("retry_after") is not None:
        assert elapsed >= 0.9, "Retry-After was not honoured"
    if fault == "hang":
        assert elapsed <= HTTP_TIMEOUT + 1.5, f"run took {elapsed:.1f}s against a hung server"


def _detail(error: BaseException | None, new_jobs: set[str]) -> str:
    if error is None:
        return "job id returned"
    parts = []
    sent = getattr(error, "request_sent", None)
    if sent is not None:
        parts.append(f"request_sent={sent}")
    if isinstance(error, APIStatusError | APIResponseValidationError):
        parts.append(f"HTTP {error.status_code}")
    if getattr(error, "job_id", None):
        parts.append("job id carried")
    elif new_jobs:
        parts.append("job created, id lost")
    else:
        parts.append("no job created")
    return ", ".join(parts)


def test_every_kind_of_fault_the_local_endpoint_injects_has_a_loopback_cell() -> None:
    from typing import get_args

    from runpod_facade.local._faults import FaultKind

    kinds = {FAULTS[name].kind for name in LOOPBACK_FAULTS}
    assert kinds == {*get_args(FaultKind), None}
