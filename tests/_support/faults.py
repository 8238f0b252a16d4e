"""The fault matrix: every operation of the spec against every fault, and the outcome each
cell must have — derived from the operation's facts in the spec, not listed per operation.

Two tests run these cells: ``tests/core/test_fault_cells.py`` runs every cell in fake time
(a scripted server, no sockets), ``tests/integration/test_fault_cells.py`` runs one cell per
*kind* of fault over loopback against the local endpoint's injected faults, on the blocking
client and on both asyncio backends (what only sockets show: how each HTTP library reports a
real dropped, refused or hung connection). ``docs/reliability.md`` shows both.

A row says what goes wrong and when: ``before`` processing (the server never acted on the
request: a 429, a 5xx from a proxy, a dropped connection) or after (a ``run`` really created
its job and only its reply was spoiled). :func:`expected` turns a row and an operation's
``safety``, ``holds``, route and reply schema into the outcome.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from runpod_facade._exceptions import (
    APIConnectionError,
    APIResponseValidationError,
    APITimeoutError,
    InternalServerError,
    RunpodError,
    WaitTimeout,
)

from .backends import BACKENDS
from .operations import OPERATIONS, OperationInfo
from .spec import schema

__all__ = [
    "FAULTS",
    "LOOPBACK_CLIENTS",
    "LOOPBACK_FAULTS",
    "Expect",
    "FaultRow",
    "expected",
    "has_status",
    "matrix",
]


@dataclass(frozen=True)
class Expect:
    """An expected cell outcome: ``error`` is ``None`` when the call returns (the right
    value), else the exact exception type."""

    error: type[RunpodError] | None = None
    passthrough: bool = False  # returns, with the unknown status value as a plain str
    lossy: bool = False  # returns, but the chunks the spoiled reply carried are gone
    sent: bool | None = None  # APIConnectionError.request_sent, when it must be exact

    @property
    def label(self) -> str:
        if self.error is not None:
            return self.error.__name__
        return "ok*" if self.passthrough else "ok"


OK = Expect()
PASS = Expect(passthrough=True)
LOSSY = Expect(lossy=True)
SERVER = Expect(InternalServerError)
INVALID = Expect(APIResponseValidationError)
LOST = Expect(APIConnectionError, sent=True)
HUNG = Expect(APITimeoutError, sent=True)
DOWN = Expect(APIConnectionError, sent=False)
WAITED = Expect(WaitTimeout)

# What a fault does to the exchange, for the rules of `expected`.
RETRY_LATER = "retry later"  # 429: refused unprocessed, safe to send again
ERROR = "error reply"  # a 5xx: the request may have been acted on
UNUSABLE = "unusable 2xx body"
LOST_REPLY = "connection lost"
NO_REPLY = "no reply"
STATUS_CHANGED = "unknown status"
ID_REMOVED = "id removed"
HARMLESS = "harmless"
NOTHING_LISTENS = "nothing listens"


def _http_date(seconds_ahead: float) -> dt.datetime:
    return dt.datetime.now(dt.UTC) + dt.timedelta(seconds=seconds_ahead)


@dataclass(frozen=True)
class FaultRow:
    """One fault: how the local endpoint injects it (``kind`` and the ``Fault`` options, or
    ``kind=None``: nothing listens on the port) and what it does (``effect``, ``before``)."""

    name: str
    description: str
    kind: str | None
    effect: str
    before: bool  # the request is never processed (no job created, nothing drained)
    options: Callable[[], dict[str, Any]] = dict

    def local_fault(self, route: str) -> Any:
        """The local endpoint's ``Fault`` for this row on ``route`` (fires once)."""
        from runpod_facade.local import Fault

        assert self.kind is not None, "nothing to inject: the server is down"
        return Fault(route, self.kind, **self.options())  # type: ignore[arg-type]


_ROWS = [
    # The first row of each kind is the one run over loopback (see LOOPBACK_FAULTS).
    FaultRow("429 Retry-After: 1", "429 with `Retry-After: 1` (seconds)", "http_error",
             RETRY_LATER, True, lambda: {"status": 429, "retry_after": "1"}),
    FaultRow("429 Retry-After: date", "429 with `Retry-After` as an HTTP-date ~1.5 s ahead",
             "http_error", RETRY_LATER, True,
             lambda: {"status": 429, "retry_after": _http_date(1.5)}),
    FaultRow("500", "HTTP 500, JSON error body", "http_error", ERROR, True,
             lambda: {"status": 500}),
    FaultRow("502", "HTTP 502, JSON error body", "http_error", ERROR, True,
             lambda: {"status": 502}),
    FaultRow("503", "HTTP 503, JSON error body", "http_error", ERROR, True,
             lambda: {"status": 503}),
    FaultRow("504", "HTTP 504, JSON error body", "http_error", ERROR, True,
             lambda: {"status": 504}),
    FaultRow("520", "HTTP 520 (Cloudflare, non-IANA)", "http_error", ERROR, True,
             lambda: {"status": 520}),
    FaultRow("html 502", "a proxy's HTML page with 502", "html", ERROR, True,
             lambda: {"status": 502}),
    FaultRow("html 200", "an HTML page with 200 (captive portal)", "html", UNUSABLE, True,
             lambda: {"status": 200}),
    FaultRow("empty 200", "200 with an empty body", "empty", UNUSABLE, True,
             lambda: {"status": 200}),
    FaultRow("truncated", "the real reply with its JSON cut in half", "truncated", UNUSABLE,
             False),
    FaultRow("delay", "processed 0.2 s late", "delay", HARMLESS, False,
             lambda: {"delay": 0.2}),
    FaultRow("drop", "connection closed before any reply", "drop", LOST_REPLY, True),
    FaultRow("drop_after", "request processed, then the connection closed instead of the reply",
             "drop_after", LOST_REPLY, False),
    FaultRow("drop_mid_body", "request processed, half the reply body sent, then closed",
             "drop_mid_body", LOST_REPLY, False),
    FaultRow("hang", "no reply at all (client timeout 1 s; waits and streams 2 s)", "hang",
             NO_REPLY, True),
    FaultRow("unknown status", "`status` replaced by `PAUSED`", "unknown_status",
             STATUS_CHANGED, False, lambda: {"status_value": "PAUSED"}),
    FaultRow("missing status", "the `status` field removed", "missing_fields", UNUSABLE, False,
             lambda: {"fields": ("status",)}),
    FaultRow("missing id", "the `id` field removed", "missing_fields", ID_REMOVED, False,
             lambda: {"fields": ("id",)}),
    FaultRow("extra fields", "unknown fields added to the reply", "extra_fields", HARMLESS,
             False, lambda: {"extra": {"x_new": {"a": 1}, "zz": None}}),
    FaultRow("refused", "nothing listening on the port (connection refused)", None,
             NOTHING_LISTENS, True),
]  # fmt: skip

#: Every fault of the matrix, by name, in the report's order.
FAULTS: dict[str, FaultRow] = {row.name: row for row in _ROWS}

#: The clients of the loopback cells: the blocking one and ``AsyncEndpoint`` on each backend.
LOOPBACK_CLIENTS: tuple[str, ...] = ("sync", *(f"async-{backend}" for backend in BACKENDS))

#: One fault per kind (the first row of each), for the loopback cells.
LOOPBACK_FAULTS: tuple[str, ...] = tuple(
    {row.kind: row.name for row in reversed(_ROWS)}[kind]
    for kind in dict.fromkeys(row.kind for row in _ROWS)
)


def has_status(info: OperationInfo) -> bool:
    """The operation's reply schema has a ``status`` field (``/health``'s has none)."""
    return "status" in schema(info.reply_schema).get("properties", {})


def drains(info: OperationInfo) -> bool:
    """Reading the reply consumes what it carries: ``/stream`` hands each chunk out once."""
    return info.reply_schema == "StreamResponse"


def expected(info: OperationInfo, fault: str) -> Expect:
    """The outcome of ``info``'s public method when ``fault`` hits its first request.

    A submit (``safety: submit``) is never sent again once the server may have acted on it,
    so every fault after which that is possible ends in the typed error that says so; a
    read is sent again and recovers, except that a ``/stream`` reply spoiled after it was
    made has taken its chunks with it. A hang uses up the whole deadline of an operation
    that holds; an unknown status is passed through unless the operation waits for a
    terminal one; a submit without an id in its reply cannot name its job.
    """
    row = FAULTS[fault]
    submit = info.safety == "submit"
    read_outcome = LOSSY if drains(info) and not row.before else OK
    effect = row.effect
    if effect == NOTHING_LISTENS:
        return DOWN
    if effect in (RETRY_LATER, HARMLESS):
        return OK
    if effect == ERROR:
        return SERVER if submit else OK
    if effect == UNUSABLE:
        return INVALID if submit else read_outcome
    if effect == LOST_REPLY:
        return LOST if submit else read_outcome
    if effect == NO_REPLY:
        if submit:
            return HUNG
        return WAITED if info.holds else OK
    if effect == STATUS_CHANGED:
        return PASS if has_status(info) and not info.holds else OK
    assert effect == ID_REMOVED, effect
    return INVALID if submit and not info.job_scoped else OK


def matrix() -> list[tuple[OperationInfo, str, Expect]]:
    """Every cell: each operation of the spec against each fault."""
    return [
        (info, fault, expected(info, fault)) for fault in FAULTS for info in OPERATIONS.values()
    ]
