"""What is derived from the spec's operation table rather than written per operation: the job
handles' method of every job-scoped read (``job.queue_position()`` from
``ep.queue_position(job_id)``), checked for every operation of the spec and tried on a
made-up one."""

from __future__ import annotations

import dataclasses
import inspect
from types import MappingProxyType

import httpx
import pytest

from runpod_facade import AsyncEndpoint, AsyncJob, Endpoint, Job, JobState, JobStatus
from runpod_facade._clients import derived
from runpod_facade._core.effects import Operation
from runpod_facade._drivers.api import api
from tests._support.fakeapi import FakeApi
from tests._support.operations import OPERATIONS, public_args


@pytest.mark.parametrize("name", sorted(n for n, i in OPERATIONS.items() if i.job_scoped))
def test_every_job_scoped_operation_has_its_method_on_both_handles(name: str) -> None:
    info = OPERATIONS[name]
    _, endpoint_kwargs = public_args(info, job_id="j", input=None, timeout=1.0)
    for handle in (Job, AsyncJob):
        method = getattr(handle, info.python, None)
        assert callable(method), (
            f"{handle.__name__} has no {info.python}() for {name}: a read gets it from "
            f"{info.python}(job_id, ...) on EndpointBase; a submit needs one written by hand"
        )
        parameters = inspect.signature(method).parameters
        assert "job_id" not in parameters, f"{handle.__name__}.{info.python}() takes a job id"
        assert set(endpoint_kwargs) <= set(parameters), (handle.__name__, info.python)


# --- the derivation, on a made-up operation ---------------------------------------------------


class PeekEndpoint(Endpoint):
    @api
    def peek(self, job_id: str, *, ttl: float | None = None) -> Operation[JobState]:
        """The job's state, peeked at."""
        return self._core.status(self._job_id(job_id), ttl_ms=self._ttl_ms(ttl))


class AsyncPeekEndpoint(AsyncEndpoint):
    peek = PeekEndpoint.peek


class PeekJob(Job):
    __slots__ = ()


class AsyncPeekJob(AsyncJob):
    __slots__ = ()


@pytest.fixture
def peek_table(monkeypatch: pytest.MonkeyPatch) -> None:
    """The spec's table plus `peek`, a job-scoped read whose route is /status's."""
    peek = dataclasses.replace(OPERATIONS["status"], name="peek", python="peek", cli=None)
    poke = dataclasses.replace(peek, name="poke", python="poke", safety="submit")
    table = MappingProxyType({**OPERATIONS, "peek": peek, "poke": poke})
    monkeypatch.setattr(derived, "OPERATIONS", table)
    for cls in (PeekJob, AsyncPeekJob):
        monkeypatch.delattr(cls, "peek", raising=False)


def test_a_job_scoped_read_gets_its_handle_method(peek_table: None) -> None:
    derived.derive_job_methods(PeekJob, PeekEndpoint)
    method = PeekJob.__dict__["peek"]
    signature = inspect.signature(PeekJob.peek)
    assert list(signature.parameters) == ["self", "ttl"]
    assert "The job's state, peeked at." in (method.__doc__ or "")
    assert not hasattr(PeekJob, "poke")  # a submit is never derived: it needs a human

    api_ = FakeApi(defaults=True)
    with PeekEndpoint(
        "ep-1", api_key="k", http_client=httpx.Client(transport=api_.transport)
    ) as ep:
        job = PeekJob(ep, "job-7", link=ep._link)
        state = job.peek(ttl=5)
    assert state.id == "job-7" and state.status is JobStatus.COMPLETED
    assert job.last_state == state  # a reply that is the job's state is recorded
    (request,) = api_.sent("status")
    assert request.url.path == "/v2/ep-1/status/job-7"
    assert request.url.params["ttl"] == "5000"


async def test_the_derived_method_is_awaitable_on_the_asyncio_handle(peek_table: None) -> None:
    derived.derive_job_methods(AsyncPeekJob, AsyncPeekEndpoint)
    api_ = FakeApi(defaults=True)
    async with AsyncPeekEndpoint(
        "ep-1", api_key="k", http_client=httpx.AsyncClient(transport=api_.transport)
    ) as ep:
        state = await AsyncPeekJob(ep, "job-8", link=ep._link).peek()
    assert state.id == "job-8"
    assert [r.url.path for r in api_.sent("status")] == ["/v2/ep-1/status/job-8"]


def test_a_hand_written_handle_method_is_kept(peek_table: None) -> None:
    before = dict(vars(PeekJob))
    derived.derive_job_methods(PeekJob, Endpoint)  # Endpoint has no peek(): nothing to derive
    assert dict(vars(PeekJob)) == before
    status = Job.status
    derived.derive_job_methods(Job, Endpoint)
    assert Job.status is status
