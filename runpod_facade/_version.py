"""The package's one version string: pyproject.toml reads it (``dynamic = ["version"]``)."""

__version__ = "1.0.0"
