"""The timer that keeps the main thread's loop waking while requests are in flight
(``runpod_facade._transports.wakeup``), on its own; tests/integration/test_promises.py,
tests/loadbalancing/test_edges.py and tests/integration/test_batchjobs_map.py show Ctrl-C
acted on through it."""

from __future__ import annotations

import asyncio
import threading

from runpod_facade._transports.wakeup import WAKE_EVERY, InFlight, Waker, waker_for


async def test_the_timer_runs_while_busy_and_stops_after() -> None:
    busy = True
    fired: list[float] = []
    loop = asyncio.get_running_loop()

    def still_busy() -> bool:
        fired.append(loop.time())
        return busy

    waker = Waker(loop, still_busy)
    waker.arm()
    waker.arm()  # armed already: no second timer
    # Timers run in time order: each sleep outlasts the tick due before it ends.
    await asyncio.sleep(WAKE_EVERY * 1.5)
    assert waker.armed and len(fired) == 1
    busy = False
    await asyncio.sleep(WAKE_EVERY * 1.5)
    assert not waker.armed and len(fired) == 2
    await asyncio.sleep(WAKE_EVERY * 1.5)
    assert len(fired) == 2  # stopped: nothing is in flight
    waker.arm()  # the next request starts it again
    assert waker.armed


async def test_only_the_main_threads_loop_gets_one() -> None:
    assert waker_for(asyncio.get_running_loop(), lambda: True) is not None
    found: list[Waker | None] = []

    async def elsewhere() -> None:
        found.append(waker_for(asyncio.get_running_loop(), lambda: True))

    thread = threading.Thread(target=asyncio.run, args=(elsewhere(),))
    thread.start()
    thread.join()
    assert found == [None]  # signal handlers run only in the main thread


def test_in_flight_keeps_the_timer_while_any_wait_is_open() -> None:
    in_flight = InFlight()
    wakers: list[Waker | None] = []

    async def main() -> None:
        with in_flight:
            in_flight.enter()  # a second wait (a streamed body, say) ends elsewhere
        waker = in_flight._waker
        assert waker is not None and waker.armed and in_flight.count == 1
        await asyncio.sleep(WAKE_EVERY * 1.5)
        assert waker.armed  # re-armed: one wait is still open
        in_flight.leave()
        await asyncio.sleep(WAKE_EVERY * 1.5)
        assert not waker.armed
        wakers.append(waker)

    asyncio.run(main())
    asyncio.run(main())  # a new loop gets a timer of its own
    assert wakers[0] is not wakers[1]
