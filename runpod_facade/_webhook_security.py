"""Receiving RunPod webhooks safely. RunPod signs nothing, so the only thing a forger lacks is
the URL: :func:`webhook_url` puts a long random secret in it and :func:`verify_webhook_url`
checks it. RunPod re-delivers a job not answered 2xx in time, even one already handled:
:class:`WebhookDeduplicator` recognises a delivery that came before.
"""

from __future__ import annotations

import hmac
import secrets
import threading
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any, Final, Protocol, runtime_checkable
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

from ._exceptions import InvalidInputError
from ._logging import register_secret
from ._types import JobState
from ._webhook import parse_webhook

__all__ = [
    "MemorySeenStore",
    "SeenStore",
    "WebhookDeduplicator",
    "new_webhook_secret",
    "verify_webhook_url",
    "webhook_url",
]

#: The query parameter :func:`webhook_url` puts the secret in.
DEFAULT_TOKEN_PARAM: Final = "token"  # noqa: S105 - a parameter name, not a secret
# 128 bits: a secret shorter than this could be guessed by a patient forger.
_MIN_SECRET_CHARS: Final = 22


def new_webhook_secret() -> str:
    """A new random secret for :func:`webhook_url` (256 bits, URL-safe)."""
    return secrets.token_urlsafe(32)


def _check_secret(secret: object, param: object) -> None:
    """Refuse a poor secret or token parameter; register the secret for redaction."""
    if not isinstance(secret, str):
        raise InvalidInputError(f"the webhook secret must be a str, got {type(secret).__name__}")
    if len(secret) < _MIN_SECRET_CHARS:
        # Not echoed: it is a secret, even when it is a poor one.
        raise InvalidInputError(
            f"the webhook secret must have at least {_MIN_SECRET_CHARS} characters "
            "(use new_webhook_secret())"
        )
    if not secret.isascii() or not secret.isprintable():
        raise InvalidInputError("the webhook secret must be printable ASCII")
    # The URL travels in job requests and comes back in /status and webhook bodies: keep the
    # secret out of this SDK's log lines and error messages.
    register_secret(secret)
    if not isinstance(param, str) or not param or not param.isascii():
        raise InvalidInputError(f"param must be a non-empty ASCII str, got {param!r}")


def webhook_url(base_url: str, secret: str, *, param: str = DEFAULT_TOKEN_PARAM) -> str:
    """``base_url`` with ``secret`` added as the query parameter ``param``: the ``webhook=``
    to submit jobs with, so that :func:`verify_webhook_url` can tell RunPod's deliveries
    from anyone else's.

    Raises :class:`InvalidInputError` when ``base_url`` is not an absolute http(s) URL, already
    has ``param``, or has a fragment, or when ``secret`` is shorter than 22 characters.
    """
    _check_secret(secret, param)
    if not isinstance(base_url, str):
        raise InvalidInputError(f"base_url must be a str, got {type(base_url).__name__}")
    parts = urlsplit(base_url)
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        raise InvalidInputError(f"base_url must be an absolute http(s) URL, got {base_url!r}")
    if parts.fragment:
        raise InvalidInputError("base_url must have no #fragment (it is never sent)")
    if param in parse_qs(parts.query, keep_blank_values=True):
        raise InvalidInputError(f"base_url already has a {param!r} query parameter")
    query = urlencode({param: secret})
    query = f"{parts.query}&{query}" if parts.query else query
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, ""))


def verify_webhook_url(request_url: str, secret: str, *, param: str = DEFAULT_TOKEN_PARAM) -> bool:
    """Whether the URL a delivery was POSTed to carries ``secret`` as ``param`` (exactly once),
    compared in constant time. ``request_url`` may be the full URL or just its path and query
    (``"/hooks/runpod?token=..."``, what an HTTP server sees). A receiver answers ``False``
    with 401/403 before it reads the body."""
    _check_secret(secret, param)
    if not isinstance(request_url, str):
        return False
    values = parse_qs(urlsplit(request_url).query, keep_blank_values=True).get(param, [])
    if len(values) != 1:
        return False
    return hmac.compare_digest(values[0].encode("utf-8"), secret.encode("utf-8"))


@runtime_checkable
class SeenStore(Protocol):
    """Where a :class:`WebhookDeduplicator` remembers deliveries. ``add`` must be atomic
    (a database insert under a unique key, Redis ``SET NX``): when two deliveries of one
    job race, exactly one ``add`` returns ``True``."""

    def add(self, key: str) -> bool:
        """Remember ``key``; ``True`` if it was not remembered before."""
        ...

    def discard(self, key: str) -> None:
        """Forget ``key`` (its handling failed, so a re-delivery must be handled)."""
        ...


class MemorySeenStore:
    """A :class:`SeenStore` in this process's memory, thread-safe, remembering the most
    recent ``max_entries`` keys (older ones are forgotten first). RunPod re-delivers within
    about 20 s, so a bound far above the deliveries of 20 s is enough."""

    def __init__(self, max_entries: int = 100_000) -> None:
        if isinstance(max_entries, bool) or not isinstance(max_entries, int) or max_entries < 1:
            raise InvalidInputError(f"max_entries must be an int >= 1, got {max_entries!r}")
        self.max_entries = max_entries
        self._keys: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.Lock()

    def add(self, key: str) -> bool:
        with self._lock:
            if key in self._keys:
                return False
            self._keys[key] = None
            if len(self._keys) > self.max_entries:
                self._keys.popitem(last=False)
            return True

    def discard(self, key: str) -> None:
        with self._lock:
            self._keys.pop(key, None)

    def __len__(self) -> int:
        with self._lock:
            return len(self._keys)


class WebhookDeduplicator:
    """Recognises a webhook delivery that came before, keyed by (job id, status).

    The status is part of the key because a job requeued with ``/retry`` ends again, and that
    end is news. ``store`` defaults to a :class:`MemorySeenStore` of ``max_entries``; pass
    your own :class:`SeenStore` when several processes receive the same endpoint's webhooks.

    ::

        dedupe = WebhookDeduplicator()
        state = parse_webhook(body)
        if not dedupe.first_delivery(state):
            return 200  # seen before: acknowledge, do nothing
        try:
            handle(state)
        except Exception:
            dedupe.forget(state)  # so RunPod's re-delivery is handled
            return 500
        return 200
    """

    def __init__(self, store: SeenStore | None = None, *, max_entries: int = 100_000) -> None:
        if store is not None and not isinstance(store, SeenStore):
            raise InvalidInputError(
                f"store must have add(key) -> bool and discard(key), got {type(store).__name__}"
            )
        self.store: SeenStore = store if store is not None else MemorySeenStore(max_entries)

    @staticmethod
    def key(delivery: JobState | Mapping[str, Any] | bytes | str) -> str:
        """The key of a delivery: ``"<job id> <status>"`` (a job id has no spaces).

        ``delivery`` is a :class:`JobState` (from :func:`parse_webhook`) or the body as
        received, which is parsed (and refused with ``WebhookPayloadError`` if it is not a
        job)."""
        state = delivery if isinstance(delivery, JobState) else parse_webhook(delivery)
        return f"{state.id} {state.status}"

    def first_delivery(self, delivery: JobState | Mapping[str, Any] | bytes | str) -> bool:
        """``True`` the first time this (job id, status) is seen, ``False`` after."""
        return self.store.add(self.key(delivery))

    def forget(self, delivery: JobState | Mapping[str, Any] | bytes | str) -> None:
        """Forget a delivery whose handling failed, so that its re-delivery counts as first."""
        self.store.discard(self.key(delivery))
