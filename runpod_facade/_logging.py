"""The ``runpod_facade`` logger: silent by default, ``RUNPOD_FACADE_LOG=debug|info|warning``
turns it on. Secrets registered here are masked in every record, whoever formats it."""

from __future__ import annotations

import logging
import os
import sys
import threading
import weakref

__all__ = ["logger", "redact", "register_secret", "setup_from_env"]

logger = logging.getLogger("runpod_facade")
logger.addHandler(logging.NullHandler())

_lock = threading.Lock()
_secrets: weakref.WeakSet[_SecretHolder] = weakref.WeakSet()
_MIN_SECRET = 4


class _SecretHolder:
    __slots__ = ("__weakref__", "value")

    def __init__(self, value: str) -> None:
        self.value = value


def register_secret(value: str) -> object:
    """Mask ``value`` in log records while the returned token is alive."""
    holder = _SecretHolder(value)
    if len(value) >= _MIN_SECRET:
        with _lock:
            _secrets.add(holder)
    return holder


def redact(text: str) -> str:
    with _lock:
        values = [h.value for h in _secrets]
    for value in values:
        if value in text:
            text = text.replace(value, "<redacted>")
    return text


class _RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


logger.addFilter(_RedactingFilter())


def setup_from_env() -> None:
    level_name = os.environ.get("RUNPOD_FACADE_LOG", "").strip().upper()
    if not level_name:
        return
    level = logging.getLevelName(level_name)
    if not isinstance(level, int):
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(level)
