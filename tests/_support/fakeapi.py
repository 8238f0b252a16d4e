"""A scripted stand-in for the RunPod API on an ``httpx.MockTransport``: the one fake API of
the suite (façade tests, contract tests, bad input).

Each operation (named as in the spec's ``x-runpod-operation.name``: ``run``, ``status-sync``,
…) gets a queue of replies — an ``httpx.Response``, an exception to raise, or a function of
the request; the last one repeats. An operation with no queue answers 404, or with
``defaults=True`` a plain success reply for its reply schema (so a table of every operation
needs no scripted reply). With ``contract=True`` every request, and every reply, is checked
against the spec by openapi-core on the way (``ContractViolation`` out of the call). Every
request is recorded. ``endpoint(fake_time=True)`` runs the client on :attr:`FakeApi.clock`:
its deadlines read that clock and its sleeps move it, and a reply function can move it too
(a slow or hung server) — no test waits on the real clock for what fake time proves.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

import httpx

from runpod_facade import AsyncEndpoint, Endpoint, PollPolicy, RetryPolicy

from .operations import OperationInfo, operation_at, sample_reply
from .scripted import FakeClock

__all__ = [
    "API_KEY",
    "FAST_POLL",
    "FAST_RETRY",
    "FakeApi",
    "Reply",
    "chunks",
    "default_reply",
    "job",
    "op_of",
]

API_KEY = "rp_TESTKEY_0123456789abcdef"
FAST_RETRY = RetryPolicy(max_retries=3, initial_delay=0.001, max_delay=0.005, budget=5.0)
FAST_POLL = PollPolicy(initial=0.001, maximum=0.005)
#: The job id of default submit replies.
JOB_ID = "job-1"

Reply = httpx.Response | Exception | Callable[[httpx.Request], httpx.Response]


def op_of(path: str) -> str:
    """The operation name of a request path (``""`` when no operation of the spec has it)."""
    info = operation_at(path)
    return "" if info is None else info.name


def job(status: str, job_id: str = JOB_ID, **extra: Any) -> httpx.Response:
    return httpx.Response(200, json={"id": job_id, "status": status, **extra})


def chunks(status: str, *outputs: Any, **extra: Any) -> httpx.Response:
    return httpx.Response(
        200, json={"status": status, "stream": [{"output": o} for o in outputs], **extra}
    )


def _job_id_in(request: httpx.Request) -> str:
    """The (still escaped) last path segment: the job id of a job-scoped route."""
    return unquote(request.url.raw_path.split(b"?")[0].decode().rsplit("/", 1)[1])


def default_reply(
    info: OperationInfo, request: httpx.Request, new_job: str = JOB_ID
) -> httpx.Response:
    """A plain success reply to ``request`` for ``info``'s reply schema, about the job the
    route names (or ``new_job`` for a submit)."""
    job_id = _job_id_in(request) if info.job_scoped else new_job
    return httpx.Response(200, json=sample_reply(info, job_id))


@dataclass
class FakeApi:
    routes: dict[str, list[Reply]] = field(default_factory=dict)
    requests: list[httpx.Request] = field(default_factory=list)
    defaults: bool = False
    contract: bool = False
    job_id: str = JOB_ID  # the id default submit replies hand out
    clock: FakeClock = field(default_factory=FakeClock)

    def __post_init__(self) -> None:
        if self.contract:
            from .openapi_httpx import ContractTransport

            self.transport: httpx.MockTransport = ContractTransport(self.handler)
        else:
            self.transport = httpx.MockTransport(self.handler)

    def on(self, operation: str, *replies: Reply) -> FakeApi:
        self.routes.setdefault(operation, []).extend(replies)
        return self

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        info = operation_at(request.url.raw_path.decode("ascii"))
        queue = self.routes.get(info.name) if info is not None else None
        if not queue:
            if self.defaults and info is not None:
                return default_reply(info, request, self.job_id)
            return httpx.Response(404, json={"error": f"no fake reply for {request.url.path}"})
        reply = queue.pop(0) if len(queue) > 1 else queue[0]
        if isinstance(reply, Exception):
            raise reply
        if callable(reply) and not isinstance(reply, httpx.Response):
            return reply(request)
        return reply

    # --- what was sent --------------------------------------------------------------------

    def ops(self) -> list[str]:
        """The operation of every request, in order."""
        return [op_of(r.url.raw_path.decode("ascii")) for r in self.requests]

    def sent(self, operation: str) -> list[httpx.Request]:
        """The requests for ``operation``, in order."""
        return [r for r in self.requests if op_of(r.url.raw_path.decode("ascii")) == operation]

    def bodies(self, operation: str) -> list[Any]:
        return [json.loads(r.content) for r in self.sent(operation)]

    # --- clients on it ----------------------------------------------------------------------

    def endpoint(self, *, fake_time: bool = False, **kwargs: Any) -> Endpoint:
        kwargs.setdefault("retry_policy", FAST_RETRY)
        kwargs.setdefault("poll_policy", FAST_POLL)
        kwargs.setdefault("api_key", API_KEY)
        endpoint_id = kwargs.pop("endpoint_id", "ep-1")
        client = httpx.Client(transport=self.transport)
        endpoint = Endpoint(endpoint_id, http_client=client, **kwargs)
        if fake_time:
            endpoint._core.clock = self.clock
            endpoint._driver.sleep = self.clock.advance
        return endpoint

    def async_endpoint(self, **kwargs: Any) -> AsyncEndpoint:
        kwargs.setdefault("retry_policy", FAST_RETRY)
        kwargs.setdefault("poll_policy", FAST_POLL)
        kwargs.setdefault("api_key", API_KEY)
        endpoint_id = kwargs.pop("endpoint_id", "ep-1")
        client = httpx.AsyncClient(transport=self.transport)
        return AsyncEndpoint(endpoint_id, http_client=client, **kwargs)
