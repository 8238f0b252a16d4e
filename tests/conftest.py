"""Suite-wide pytest configuration.

``pytester`` (pytest's fixture for testing plugins, used by tests/plugin) is enabled here:
pytest accepts ``pytest_plugins`` only in a top-level conftest.
"""

pytest_plugins = ["pytester"]
