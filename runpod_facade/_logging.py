"""The ``runpod_facade`` logger: silent by default, ``RUNPOD_FACADE_LOG=debug|info|warning``
turns it on. Secrets registered here are masked in every record, whoever formats it.

Masking is for diagnostics only (log records, reprs, exception messages, the CLI's stderr).
A job's result is never passed through :func:`redact`: a key that also occurs in the data
(a short key, a common word, ``true``) would change the result, so results are returned,
printed and written exactly as they came."""

from __future__ import annotations

import logging
import os
import sys
import threading

__all__ = ["RedactingFilter", "logger", "redact", "register_secret", "setup_from_env"]

logger = logging.getLogger("runpod_facade")
logger.addHandler(logging.NullHandler())

_lock = threading.Lock()
# Kept for the life of the process: a key may still surface in a log line after its client
# is gone (a user's own log call, a late retry message), and the set stays tiny.
_secrets: set[str] = set()
_MIN_SECRET = 4


def register_secret(value: str) -> None:
    """Mask ``value`` in every record of the ``runpod_facade`` logger and in error text.

    A value under 4 characters is ignored: masking it would mangle ordinary words."""
    if len(value) >= _MIN_SECRET:
        with _lock:
            _secrets.add(value)


def redact(text: str) -> str:
    """``text`` with every registered secret replaced by ``<redacted>``: for diagnostic
    text, never for a job's result (see the module docstring)."""
    with _lock:
        values = sorted(_secrets, key=len, reverse=True)
    for value in values:
        if value in text:
            text = text.replace(value, "<redacted>")
    return text


class RedactingFilter(logging.Filter):
    """Masks registered secrets in every record it sees (install it on any handler)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


logger.addFilter(RedactingFilter())


def setup_from_env() -> None:
    # Unset, empty or not a level name: getLevelName returns a str, and nothing is set up.
    level = logging.getLevelName(os.environ.get("RUNPOD_FACADE_LOG", "").strip().upper())
    if not isinstance(level, int):
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(level)
