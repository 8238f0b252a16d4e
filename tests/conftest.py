"""Suite-wide pytest configuration.

- ``pytester`` (pytest's fixture for testing plugins, used by tests/plugin) is enabled here:
  pytest accepts ``pytest_plugins`` only in a top-level conftest.
- The plugin that writes docs/reliability.md (tests/_support/reliability) is registered here,
  globally, so that it sees every test's report (and, under pytest-xdist, every worker's).
"""

from __future__ import annotations

import pytest

from tests._support.reliability import plugin

pytest_plugins = ["pytester"]


def pytest_addoption(parser: pytest.Parser) -> None:
    plugin.add_option(parser)


def pytest_configure(config: pytest.Config) -> None:
    if not config.pluginmanager.has_plugin("runpod-reliability-report"):
        config.pluginmanager.register(plugin.ReliabilityPlugin(config), "runpod-reliability-report")
