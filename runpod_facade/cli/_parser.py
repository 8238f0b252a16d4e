"""The ``runpod-facade`` argument parser: global options, then one module per command group,
each adding its commands with a ``register(subparsers)`` function."""

from __future__ import annotations

import argparse

from .._version import __version__
from . import _batch, _endpoint, _generic, _jobs, _lb, _serve
from ._errors import PROG
from ._options import EPILOG, CliParser, add_global_options

__all__ = ["build_parser"]

# A new command group is a module with a ``register`` function, listed here. ``_generic``
# comes last: it adds a command for each operation of the spec that has none yet.
_GROUPS = (_jobs, _batch, _endpoint, _serve, _lb, _generic)


def build_parser() -> argparse.ArgumentParser:
    """The ``runpod-facade`` argument parser; each command sets ``run`` in the namespace."""
    parser = CliParser(
        prog=PROG,
        description="Run and manage RunPod serverless jobs (runpod-facade "
        f"{__version__}). Input is JSON; --json makes the output JSON too.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    add_global_options(parser, suppress=False)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=CliParser)
    commands.required = True
    for group in _GROUPS:
        group.register(commands)
    return parser
