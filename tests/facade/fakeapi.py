"""A scripted stand-in for the RunPod API on an ``httpx.MockTransport``: each operation gets a
queue of replies (the last one repeats), and every request is recorded."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from runpod_facade import AsyncEndpoint, Endpoint, PollPolicy, RetryPolicy

API_KEY = "rp_TESTKEY_0123456789abcdef"
FAST_RETRY = RetryPolicy(max_retries=3, initial_delay=0.001, max_delay=0.005, budget=5.0)
FAST_POLL = PollPolicy(initial=0.001, maximum=0.005)

Reply = httpx.Response | Exception | Callable[[httpx.Request], httpx.Response]


def op_of(path: str) -> str:
    # /v2/{endpoint}/{operation}[/{job}]
    parts = path.split("/")
    return parts[3] if len(parts) > 3 else ""


def job(status: str, job_id: str = "job-1", **extra: Any) -> httpx.Response:
    return httpx.Response(200, json={"id": job_id, "status": status, **extra})


def chunks(status: str, *outputs: Any, **extra: Any) -> httpx.Response:
    return httpx.Response(
        200, json={"status": status, "stream": [{"output": o} for o in outputs], **extra}
    )


@dataclass
class FakeApi:
    routes: dict[str, list[Reply]] = field(default_factory=dict)
    requests: list[httpx.Request] = field(default_factory=list)

    def on(self, operation: str, *replies: Reply) -> FakeApi:
        self.routes.setdefault(operation, []).extend(replies)
        return self

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        queue = self.routes.get(op_of(request.url.path))
        if not queue:
            return httpx.Response(404, json={"error": f"no fake reply for {request.url.path}"})
        reply = queue.pop(0) if len(queue) > 1 else queue[0]
        if isinstance(reply, Exception):
            raise reply
        if callable(reply) and not isinstance(reply, httpx.Response):
            return reply(request)
        return reply

    def ops(self) -> list[str]:
        return [op_of(r.url.path) for r in self.requests]

    def bodies(self, operation: str) -> list[Any]:
        return [json.loads(r.content) for r in self.requests if op_of(r.url.path) == operation]

    def endpoint(self, **kwargs: Any) -> Endpoint:
        kwargs.setdefault("retry_policy", FAST_RETRY)
        kwargs.setdefault("poll_policy", FAST_POLL)
        client = httpx.Client(transport=httpx.MockTransport(self.handler))
        return Endpoint("ep-1", api_key=API_KEY, http_client=client, **kwargs)

    def async_endpoint(self, **kwargs: Any) -> AsyncEndpoint:
        kwargs.setdefault("retry_policy", FAST_RETRY)
        kwargs.setdefault("poll_policy", FAST_POLL)
        client = httpx.AsyncClient(transport=httpx.MockTransport(self.handler))
        return AsyncEndpoint("ep-1", api_key=API_KEY, http_client=client, **kwargs)
