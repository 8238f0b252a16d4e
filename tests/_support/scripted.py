"""Drive the core's operations without sockets or real time.

The core (``runpod_facade._core.engine`` and the operations in ``_waiting``, ``_streaming`` and
``_interrupts``) is a set of generators that yield effects: ``Send`` a request, ``Sleep``,
``Emit`` a chunk. :class:`ScriptedDriver` performs them the way h11's tests drive a
``Connection``: each ``Send`` is answered from a script, time is a :class:`FakeClock` that
only moves when a scripted reply takes time (a server hold, latency, a hung read) or the
operation sleeps, and an interrupt can be thrown in at any effect. Everything the operation
asked for is recorded, so a test can assert exact requests, timeouts and sleeps.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx

from runpod_facade._clients.api import EndpointLink
from runpod_facade._clients.sync import Endpoint
from runpod_facade._core.effects import Emit, Operation, Send, Sleep
from runpod_facade._core.engine import EndpointCore
from runpod_facade._core.retry import PollPolicy, RetryPolicy
from runpod_facade._timeout import DEFAULT_TIMEOUT
from runpod_facade._transports.base import ApiResponse, Timeouts, TransportFailure

__all__ = [
    "CLIENT_TIMEOUTS",
    "EPOCH",
    "HOLD",
    "POLL",
    "READ_TIMEOUT",
    "RETRY",
    "FakeClock",
    "Reply",
    "ScriptedDriver",
    "Sent",
    "fixed",
    "make_core",
    "scripted_endpoint",
]

T = TypeVar("T")

#: The client's default per-phase timeouts (``Endpoint(timeout=DEFAULT_TIMEOUT)``).
CLIENT_TIMEOUTS = Timeouts(
    connect=DEFAULT_TIMEOUT.connect,
    read=DEFAULT_TIMEOUT.read,
    write=DEFAULT_TIMEOUT.write,
    pool=DEFAULT_TIMEOUT.pool,
)

#: Fake time starts here, not at 0, so a test cannot confuse an instant with a duration.
EPOCH = 1000.0


class FakeClock:
    """A monotonic clock that moves only when told to. Call it to read the time."""

    def __init__(self, start: float = EPOCH) -> None:
        self.start = start
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        assert seconds >= 0, f"time cannot go back ({seconds})"
        self.now += seconds

    @property
    def elapsed(self) -> float:
        """Seconds since the clock was made."""
        return self.now - self.start


Outcome = ApiResponse | TransportFailure
Delay = float | Callable[[Send, Timeouts], float]


def HOLD(send: Send, timeouts: Timeouts) -> float:
    """The server holds the request for its whole ``wait`` (a long-poll nothing ended early)."""
    return send.request.hold or 0.0


def READ_TIMEOUT(send: Send, timeouts: Timeouts) -> float:
    """No reply until the client's read timeout for this request fires (a hung server)."""
    assert timeouts.read is not None, "a hang against an unlimited read never ends"
    return timeouts.read


@dataclass(frozen=True)
class Reply:
    """One scripted answer: ``outcome`` after ``after`` seconds of fake time (a number, or
    :data:`HOLD` / :data:`READ_TIMEOUT`). ``op``, when given, is the operation the request
    must be for: the script fails loudly if the core sends something else."""

    outcome: Outcome
    after: Delay = 0.0
    op: str | None = None


Answer = Outcome | Reply
Responder = Callable[[Send, "ScriptedDriver"], Answer]


@dataclass(frozen=True)
class Sent:
    """One ``Send`` as the driver saw it: when, with which client timeouts."""

    send: Send
    at: float  # fake-clock seconds since the driver's clock was made
    timeouts: Timeouts

    @property
    def op(self) -> str:
        return self.send.request.operation

    @property
    def path(self) -> str:
        return self.send.request.path

    @property
    def wait(self) -> int | None:
        """The ``wait`` query parameter (milliseconds), if the request has one."""
        return self.send.request.params.get("wait")

    @property
    def cap(self) -> float | None:
        return self.send.cap

    @property
    def read(self) -> float | None:
        return self.timeouts.read


@dataclass
class ScriptedDriver:
    """Runs one operation generator against a script.

    ``script`` is either a list of answers consumed one per ``Send`` (an ``ApiResponse``, a
    ``TransportFailure``, or a :class:`Reply` that also takes fake time or checks the
    operation), or a responder ``(send, driver) -> answer`` called for every ``Send``
    (a small fake server). ``then`` answers once a list runs out; without it an extra
    ``Send`` fails the test.

    ``interrupt_at`` throws ``interrupt`` (``KeyboardInterrupt`` by default) into the
    operation at that performed effect (0-based, counting ``Send`` and ``Sleep``, as a
    real driver would be interrupted while performing it) instead of performing it.
    """

    clock: FakeClock
    script: list[Answer] | Responder = field(default_factory=list)
    then: Answer | Responder | None = None
    interrupt_at: int | None = None
    interrupt: BaseException | type[BaseException] = KeyboardInterrupt

    sent: list[Sent] = field(default_factory=list, init=False)
    sleeps: list[float] = field(default_factory=list, init=False)
    emitted: list[Any] = field(default_factory=list, init=False)
    #: Every effect in order, as (fake seconds since start, effect).
    effects: list[tuple[float, Send | Sleep | Emit]] = field(default_factory=list, init=False)
    interrupted: bool = field(default=False, init=False)
    _performed: int = field(default=0, init=False)

    # --- what happened -----------------------------------------------------------------

    @property
    def ops(self) -> list[str]:
        """The operation of every request sent, in order."""
        return [s.op for s in self.sent]

    @property
    def waits(self) -> list[int | None]:
        """The ``wait`` parameter (ms) of every request sent."""
        return [s.wait for s in self.sent]

    @property
    def unused(self) -> int:
        """Scripted answers left over (0 when the script was used up exactly)."""
        return len(self.script) if isinstance(self.script, list) else 0

    # --- running -----------------------------------------------------------------------

    def run(self, operation: Operation[T]) -> T:
        """Run ``operation`` to its end: return its value or raise what it raises."""
        value: Any = None
        pending: BaseException | None = None
        try:
            while True:
                try:
                    effect = operation.send(value) if pending is None else operation.throw(pending)
                except StopIteration as stop:
                    result: T = stop.value
                    return result
                pending, value = None, None
                self.effects.append((self.clock.elapsed, effect))
                if isinstance(effect, Emit):
                    self.emitted.append(effect.value)
                    continue
                assert isinstance(effect, (Send, Sleep)), f"unexpected effect {effect!r}"
                index = self._performed
                self._performed += 1
                if index == self.interrupt_at:
                    self.interrupted = True
                    pending = (
                        self.interrupt() if isinstance(self.interrupt, type) else self.interrupt
                    )
                    if isinstance(effect, Send):
                        # The request was on its way when the interrupt came.
                        self.sent.append(self._record(effect))
                    continue
                value = self._perform(effect)
        finally:
            operation.close()

    def iterate(self, operation: Operation[None]) -> Iterator[Any]:
        """Run a stream operation to its end, returning the emitted values as an iterator."""
        self.run(operation)
        return iter(self.emitted)

    def _record(self, send: Send) -> Sent:
        return Sent(send, self.clock.elapsed, send.timeouts)

    def _perform(self, effect: Send | Sleep) -> Outcome | None:
        if isinstance(effect, Sleep):
            assert effect.seconds >= 0, f"negative sleep {effect.seconds}"
            self.sleeps.append(effect.seconds)
            self.clock.advance(effect.seconds)
            return None
        sent = self._record(effect)
        self.sent.append(sent)
        answer = self._next_answer(effect)
        if not isinstance(answer, Reply):
            answer = Reply(answer)
        if answer.op is not None:
            assert effect.request.operation == answer.op, (
                f"request {len(self.sent)} is {effect.request.operation} "
                f"{effect.request.path}, the script expected {answer.op}"
            )
        after = answer.after(effect, sent.timeouts) if callable(answer.after) else answer.after
        self.clock.advance(after)
        return answer.outcome

    def _next_answer(self, send: Send) -> Answer:
        if callable(self.script):
            return self.script(send, self)
        if self.script:
            return self.script.pop(0)
        if self.then is None:
            raise AssertionError(
                f"unexpected request {len(self.sent)}: {send.request.method} "
                f"{send.request.path} (the script is used up)"
            )
        return self.then(send, self) if callable(self.then) else self.then


def fixed(value: float) -> Callable[[], float]:
    """A random source that always returns ``value`` (so jittered delays are exact)."""
    return lambda: value


#: Backoff with dyadic numbers, so every delay is exact in binary floating point:
#: retry ``n`` sleeps ``0.5 * 2**n`` (capped at 4) less 25 % * 0.5 = 12.5 % jitter.
RETRY = RetryPolicy(
    max_retries=3, initial_delay=0.5, max_delay=4.0, jitter=0.25, budget=60.0, rng=fixed(0.5)
)
#: Poll ``n`` sleeps ``0.25 * 2**n`` (capped at 2) less 50 % * 0.5 = 25 % jitter.
POLL = PollPolicy(initial=0.25, factor=2.0, maximum=2.0, jitter=0.5, rng=fixed(0.5))


def make_core(
    clock: FakeClock,
    *,
    retry: RetryPolicy = RETRY,
    poll: PollPolicy = POLL,
    long_poll: bool = True,
    endpoint_id: str = "ep-1",
    timeouts: Timeouts = CLIENT_TIMEOUTS,
) -> EndpointCore:
    """An ``EndpointCore`` on ``clock`` with exact (fixed-random) retry and poll policies."""
    return EndpointCore(
        endpoint_id, retry=retry, poll=poll, timeouts=timeouts, long_poll=long_poll, clock=clock
    )


def scripted_endpoint(driver: ScriptedDriver, core: EndpointCore) -> Endpoint:
    """A real ``Endpoint`` whose public methods run on ``driver`` (no sockets, no sleeping)
    and whose core reads ``driver``'s fake clock: the whole public method — argument
    checks, the core's operation, the handle or stream it returns — in fake time."""
    endpoint = Endpoint(
        core.endpoint_id,
        api_key="rp_scripted_0123456789",
        base_url=BASE_URL,
        http_client=_UNUSED_CLIENT,  # not one per endpoint: each would load the TLS roots
    )
    endpoint._driver.close()  # the httpx driver it made is never used
    endpoint._link = EndpointLink(core, driver)  # type: ignore[arg-type]
    return endpoint


#: The base URL of :func:`scripted_endpoint` (nothing is ever sent there).
BASE_URL = "https://api.runpod.ai/v2"


def _never(request: httpx.Request) -> httpx.Response:
    raise AssertionError(f"a scripted endpoint sent {request.method} {request.url}")


_UNUSED_CLIENT = httpx.Client(transport=httpx.MockTransport(_never))
