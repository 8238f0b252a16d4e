"""Suite-wide pytest configuration.

- ``pytester`` (pytest's fixture for testing plugins, used by tests/plugin) is enabled here:
  pytest accepts ``pytest_plugins`` only in a top-level conftest.
- The plugin that writes docs/reliability.md (tests/_support/reliability) is registered here,
  globally, so that it sees every test's report (and, under pytest-xdist, every worker's).
- Ctrl-C works in every test process: a shell that starts the suite in the background (a CI
  runner, ``nohup``, ``cmd &``) starts it with SIGINT ignored, which Python and every child
  process inherit, and the tests that press Ctrl-C (in this process or in a CLI subprocess)
  would see nothing.
- Tests run longest first (the load test, then the loopback and local-endpoint folders, the
  fake-time folders last): under pytest-xdist the long ones start at once and the many short
  ones fill the gaps at the end, instead of one long test starting last.
"""

from __future__ import annotations

import signal

import pytest

from tests._support.reliability import plugin

pytest_plugins = ["pytester"]


def pytest_addoption(parser: pytest.Parser) -> None:
    plugin.add_option(parser)


def pytest_configure(config: pytest.Config) -> None:
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)  # children get the default
    if not config.pluginmanager.has_plugin("runpod-reliability-report"):
        config.pluginmanager.register(plugin.ReliabilityPlugin(config), "runpod-reliability-report")


#: Folders in the order their tests start: the longest first (see the module docstring).
ORDER = (
    "tests/integration/test_load.py",
    "tests/integration/",
    "tests/local/",
    "tests/transports/",
    "tests/cli/",
    "tests/plugin/",
    "tests/contract/",
    "tests/facade/",
    "tests/core/",
)


def _rank(item: pytest.Item) -> int:
    path = item.nodeid
    return next((i for i, prefix in enumerate(ORDER) if path.startswith(prefix)), len(ORDER))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=_rank)  # stable: the order within a folder is kept
