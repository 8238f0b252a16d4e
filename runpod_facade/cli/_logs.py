"""Secrets and ``--debug`` logging. Masking is the façade's one mechanism,
:func:`runpod_facade._logging.register_secret` / :func:`~runpod_facade._logging.redact`:
the CLI only feeds it the keys it sees and routes its own text through it."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Iterator, Sequence

from .._config import ENV_API_KEY
from .._logging import RedactingFilter, register_secret

__all__ = ["debug_logging", "register_secrets"]

_KEY_OPTION = "--api-key"
# argparse accepts any unambiguous prefix of a long option ("--a", "--api-k"); registering
# a value that turns out not to be a key costs nothing.
_SHORTEST_PREFIX = len("--a")


def _is_key_option(arg: str) -> bool:
    name = arg.partition("=")[0]
    return len(name) >= _SHORTEST_PREFIX and _KEY_OPTION.startswith(name)


def register_secrets(argv: Sequence[str]) -> None:
    """Register every API key in ``argv`` and the environment, before anything is parsed:
    even an argparse error about the command line must not echo one."""
    env_key = os.environ.get(ENV_API_KEY)
    if env_key:
        register_secret(env_key)
    for index, arg in enumerate(argv):
        if arg == "--":
            break
        if not _is_key_option(arg):
            continue
        if "=" in arg:
            register_secret(arg.partition("=")[2])
        elif index + 1 < len(argv):
            register_secret(argv[index + 1])


class _StderrHandler(logging.Handler):
    """Writes to whatever ``sys.stderr`` is at the time (a live display may wrap it)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stderr.write(self.format(record) + "\n")
            sys.stderr.flush()
        except Exception:
            self.handleError(record)


def _writes_to_stderr(handler: logging.Handler) -> bool:
    return isinstance(handler, logging.StreamHandler) and getattr(handler, "stream", None) in (
        sys.stderr,
        sys.__stderr__,
    )


@contextlib.contextmanager
def debug_logging(enabled: bool) -> Iterator[None]:
    """With ``--debug``, the SDK's and httpx's log records go to stderr, masked, for this call.

    A stderr handler already attached (``RUNPOD_FACADE_LOG=debug``) is set aside meanwhile, so
    no line is printed twice.
    """
    if not enabled:
        yield
        return
    handler = _StderrHandler()
    handler.setFormatter(logging.Formatter("debug: %(name)s: %(message)s"))
    # The façade's own filter: its logger has it already, httpx's records need it here.
    handler.addFilter(RedactingFilter())
    loggers = [logging.getLogger("runpod_facade"), logging.getLogger("httpx")]
    saved = []
    for lg in loggers:
        aside = [h for h in lg.handlers if _writes_to_stderr(h)]
        saved.append((lg, lg.level, aside))
        for other in aside:
            lg.removeHandler(other)
        lg.addHandler(handler)
        lg.setLevel(logging.DEBUG)
    try:
        yield
    finally:
        for lg, level, aside in saved:
            lg.removeHandler(handler)
            lg.setLevel(level)
            for other in aside:
                lg.addHandler(other)
