"""Worker affinity: the ``X-Runpod-Worker-Id`` header, read from replies and sent back.

The router names the worker that served each reply in ``X-Runpod-Worker-Id``. Sending the
header back pins a request to that worker, in one of three modes (the header's value):

* ``soft`` — ``<id>``: prefer the worker, fall back to any other; never fails.
* ``strict`` — ``strict <id>``: only that worker; wait while it is busy (400 worker_timeout),
  404 affinity_worker_gone when it is no longer there.
* ``strict-resume`` — ``strict-resume <id>``: as strict, and a scaled-down worker is resumed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal, get_args

import httpx

from .._exceptions import InvalidInputError

__all__ = ["WORKER_ID_HEADER", "Affinity", "AffinityMode", "coerce_affinity", "worker_id"]

WORKER_ID_HEADER = "X-Runpod-Worker-Id"

AffinityMode = Literal["soft", "strict", "strict-resume"]
_MODES: tuple[str, ...] = get_args(AffinityMode)
# A worker id is one token of visible ASCII: it travels in a header and after a mode word.
_WORKER_ID = re.compile(r"[!-~]{1,256}")


def _check_worker_id(value: object) -> str:
    if not isinstance(value, str):
        raise InvalidInputError(f"worker id must be a string, got {type(value).__name__}")
    if not _WORKER_ID.fullmatch(value):
        raise InvalidInputError(
            f"worker id {value[:80]!r} must be 1-256 visible ASCII characters without spaces"
        )
    if value in _MODES:
        raise InvalidInputError(f"worker id must not be the mode word {value!r}")
    return value


@dataclass(frozen=True, slots=True)
class Affinity:
    """Pin one request to ``worker_id``; ``mode`` is ``"soft"`` (default), ``"strict"`` or
    ``"strict-resume"``. ``Affinity.strict(ep.worker_id(response))`` pins to the worker that
    served an earlier reply."""

    worker_id: str
    mode: AffinityMode = "soft"

    def __post_init__(self) -> None:
        _check_worker_id(self.worker_id)
        if self.mode not in _MODES:
            raise InvalidInputError(f"affinity mode must be one of {_MODES}, got {self.mode!r}")

    @classmethod
    def soft(cls, worker_id: str) -> Affinity:
        return cls(worker_id, "soft")

    @classmethod
    def strict(cls, worker_id: str) -> Affinity:
        return cls(worker_id, "strict")

    @classmethod
    def strict_resume(cls, worker_id: str) -> Affinity:
        return cls(worker_id, "strict-resume")

    @classmethod
    def parse(cls, value: str) -> Affinity:
        """The header form: ``"<id>"``, ``"strict <id>"`` or ``"strict-resume <id>"``."""
        if not isinstance(value, str):
            raise InvalidInputError(f"affinity must be a string, got {type(value).__name__}")
        words = value.split(" ")
        if len(words) == 1:
            return cls(words[0], "soft")
        if len(words) == 2 and words[0] in ("strict", "strict-resume"):
            return cls(words[1], "strict" if words[0] == "strict" else "strict-resume")
        raise InvalidInputError(
            f"affinity {value[:80]!r} must be '<worker-id>', 'strict <worker-id>' or "
            "'strict-resume <worker-id>'"
        )

    def header_value(self) -> str:
        """The value of ``X-Runpod-Worker-Id`` that asks for this affinity."""
        return self.worker_id if self.mode == "soft" else f"{self.mode} {self.worker_id}"

    def __str__(self) -> str:
        return self.header_value()


def coerce_affinity(value: object) -> Affinity | None:
    """``affinity=`` as users pass it: ``None``, an :class:`Affinity`, or its header form."""
    if value is None or isinstance(value, Affinity):
        return value
    if isinstance(value, str):
        return Affinity.parse(value)
    raise InvalidInputError(
        f"affinity must be an Affinity, a header string or None, got {type(value).__name__}"
    )


def worker_id(reply: httpx.Response) -> str | None:
    """The worker that served ``reply`` (its ``X-Runpod-Worker-Id``), or ``None``."""
    if not isinstance(reply, httpx.Response):
        raise InvalidInputError(
            "worker_id takes the reply of a request (an httpx.Response), "
            f"got {type(reply).__name__}"
        )
    return reply.headers.get(WORKER_ID_HEADER) or None
