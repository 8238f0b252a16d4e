"""Test your code against a real (local) RunPod endpoint, without an account.

With the ``local`` extra installed (``pip install 'runpod-facade[local]'``), pytest finds two
fixtures — no configuration needed:

* ``runpod_endpoint(handler, *, workers=1, **options) -> ServedEndpoint``
* ``await async_runpod_endpoint(handler, *, workers=1, **options) -> AsyncServedEndpoint``
  (needs pytest-asyncio)

Each call starts a :class:`runpod_facade.local.LocalEndpoint` running ``handler`` on a
loopback port and returns a client for it — an :class:`~runpod_facade.Endpoint` (or
:class:`~runpod_facade.AsyncEndpoint`) that also exposes the server: ``ep.local``,
``ep.faults``, ``ep.requests``, ``ep.webhook_attempts``. Clients use fast retry and poll
policies. Everything a test started is closed and stopped when the test ends::

    from runpod_facade import JobFailed

    def test_summarise(runpod_endpoint):
        ep = runpod_endpoint(lambda job: {"summary": job["input"]["text"][:10]})
        assert my_app.summarise(ep, "a long text ...") == "a long tex"

    def test_worker_failure_is_reported(runpod_endpoint):
        def broken(job):
            raise RuntimeError("out of memory")

        with pytest.raises(JobFailed, match="out of memory"):
            runpod_endpoint(broken).run_sync({"text": "x"})

Outside pytest, :class:`ServedEndpoint` is a context manager and :class:`EndpointFactory`
is what the fixture hands out. Without the extra this package still imports; starting an
endpoint raises :class:`MissingExtraError` (an ImportError) naming the install command.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._defaults import (
    FAST_POLL_POLICY,
    FAST_RETRY_POLICY,
    FAST_WEBHOOK_RETRY_DELAY_S,
    Handler,
)
from ._extra import MissingExtraError
from ._factories import AsyncEndpointFactory, EndpointFactory

if TYPE_CHECKING:
    from ._served import AsyncServedEndpoint, ServedEndpoint

__all__ = [
    "FAST_POLL_POLICY",
    "FAST_RETRY_POLICY",
    "FAST_WEBHOOK_RETRY_DELAY_S",
    "AsyncEndpointFactory",
    "AsyncServedEndpoint",
    "EndpointFactory",
    "Handler",
    "MissingExtraError",
    "ServedEndpoint",
]

# They subclass the clients around runpod_facade.local (Starlette, uvicorn): loaded on use.
_SERVED = {"ServedEndpoint", "AsyncServedEndpoint"}


def __getattr__(name: str) -> Any:
    if name in _SERVED:
        from ._extra import require_local

        require_local()
        from . import _served

        value = getattr(_served, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'runpod_facade.testing' has no attribute {name!r}")
