"""The pytest plugin of runpod-facade: fixtures ``runpod_endpoint`` and ``async_runpod_endpoint``.

pytest loads it through the ``pytest11`` entry point named ``runpod_facade`` (turn it off with
``-p no:runpod_facade``; load it by hand with ``-p runpod_facade`` when plugin autoloading is
disabled). The fixtures are documented in :mod:`runpod_facade.testing`, which holds the code.

This is a top-level module, not part of the ``runpod_facade`` package, on purpose: importing
anything inside that package first imports the package itself (the SDK). Here,
registering the plugin imports only pytest; the SDK and the local endpoint (Starlette,
uvicorn) load when a test first asks for a fixture. Without the ``local`` extra the plugin
still loads, does nothing, and a test using a fixture fails with the install command.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, NoReturn

import pytest

if TYPE_CHECKING:
    from runpod_facade.testing import AsyncEndpointFactory, EndpointFactory

try:
    import pytest_asyncio
except ImportError:  # the async fixture then explains what is missing
    pytest_asyncio = None  # type: ignore[assignment]


def _missing(message: str) -> NoReturn:
    pytest.fail(message, pytrace=False)


def _sync_factory() -> EndpointFactory:
    from runpod_facade.testing import EndpointFactory, MissingExtraError

    try:
        return EndpointFactory()
    except MissingExtraError as exc:
        message = str(exc)
    _missing(message)  # outside the except block: the message alone, no exception chain


def _async_factory() -> AsyncEndpointFactory:
    from runpod_facade.testing import AsyncEndpointFactory, MissingExtraError

    try:
        return AsyncEndpointFactory()
    except MissingExtraError as exc:
        message = str(exc)
    _missing(message)


@pytest.fixture
def runpod_endpoint() -> Iterator[EndpointFactory]:
    """Start RunPod endpoints that run a handler of yours, on loopback, for this test.

    ``ep = runpod_endpoint(handler, *, workers=1, **options)`` returns a started
    ``runpod_facade.testing.ServedEndpoint``: an ``Endpoint`` with fast retry/poll policies,
    plus ``ep.local`` (the server), ``ep.faults``, ``ep.requests`` and ``ep.webhook_attempts``.
    Options are those of ``ServedEndpoint`` and ``runpod_facade.local.LocalEndpoint``. Every
    endpoint started is closed and its server stopped when the test ends.
    """
    factory = _sync_factory()
    try:
        yield factory
    finally:
        factory.close()


# The fallback first: the API reference (read statically, by griffe) shows the last definition.
if pytest_asyncio is None:

    @pytest.fixture
    def async_runpod_endpoint() -> NoReturn:
        """The asyncio twin of runpod_endpoint: endpoints for async tests (pytest-asyncio).

        pytest-asyncio is not installed, so this fixture only says so.
        """
        _missing(
            "the async_runpod_endpoint fixture needs pytest-asyncio: pip install pytest-asyncio"
        )

else:

    @pytest_asyncio.fixture
    async def async_runpod_endpoint() -> AsyncIterator[AsyncEndpointFactory]:
        """The asyncio twin of runpod_endpoint: endpoints for async tests (pytest-asyncio).

        ``ep = await async_runpod_endpoint(handler, *, workers=1, **options)`` returns a
        started ``runpod_facade.testing.AsyncServedEndpoint`` (the server starts in a thread,
        not on the event loop). Every one is closed and stopped when the test ends.
        """
        factory = _async_factory()
        try:
            yield factory
        finally:
            await factory.aclose()
