"""The client of the map signal tests: a plain script, as a user writes one, that maps a few
inputs with a journal — with ``Endpoint.map`` in a for loop, or ``AsyncEndpoint.map`` in an
``async for`` under ``asyncio.run(main())`` — and gets a real signal from the test.

    python -m tests.integration.map_signal_client BASE_URL ENDPOINT_ID JOURNAL MODE PHASE \
        [--rerun] [--term-as-interrupt]

MODE is ``sync`` or ``async`` — or ``async-OPERATION`` (``run_sync``, ``wait``, ``stream``,
``run_many``: one call of held jobs under ``asyncio.run``; PHASE is then the case's tag).
PHASE is where the signal is to land; the script prints
``PHASE`` (flushed) once it is there, and the test sends the signal then:

* ``submitting``: three submits in flight (the server holds each submit a while);
* ``waiting``: three jobs running, their ids known, the loop blocked waiting for an item;
* ``between``: the first item (a quick job) came and the loop body is busy (it sleeps),
  two jobs running.

Inputs: five, each held by the server until the test releases it — but in the ``between``
shape the first ends at once. ``--rerun``: run the same batch to its end (nothing printed
but items). ``--term-as-interrupt``: the application's own SIGTERM handler, as documented:
``signal.default_int_handler`` (blocking) or cancelling the main task (asyncio).

Items go to stdout as JSON lines, then ``{"stats": ...}``. Logging is not configured, and an
interrupt ends the script the way scripts commonly end one (exit 130, no traceback, the
exception's notes printed): what is on stderr is what the user is told.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

from runpod_facade import AsyncEndpoint, BatchItem, Endpoint, PollPolicy
from runpod_facade._batches.run import BatchRun

COUNT = 5
POLL = PollPolicy(initial=0.02, maximum=0.1)


def inputs(phase: str, tag: str) -> list[dict[str, Any]]:
    """``tag`` (the journal's name) tells the server's log which test case ran the job."""
    held = [not (phase == "between" and n == 0) for n in range(COUNT)]
    return [{"n": n, "hold": hold, "tag": tag} for n, hold in enumerate(held)]


def emit(item: BatchItem) -> None:
    record = {
        "index": item.index,
        "job_id": item.job_id,
        "status": None if item.status is None else str(item.status),
        "output": item.output,
        "dup": item.possibly_duplicated,
        "resumed": item.resumed,
    }
    print(json.dumps(record), flush=True)


def settled(run: BatchRun, running: int) -> bool:
    """``running`` jobs known by id and no submit in flight (none unnamed: before a stop, a
    submit is unnamed only while in flight). (Reads the batch's internals: a test's way to
    know where the batch stands.)"""
    report = run.report()
    return len(report.left_running) >= running and report.unnamed_submits == 0


def announce_when(run: BatchRun, phase: str) -> None:
    """Print PHASE from a helper thread once the batch is where a signal is to land."""

    def watch() -> None:
        while True:
            if phase == "submitting" and run.stats.submitted >= 3:
                break
            if phase == "waiting" and settled(run, 3):
                break
            time.sleep(0.01)
        print("PHASE", flush=True)

    if phase in ("submitting", "waiting"):
        threading.Thread(target=watch, daemon=True).start()


def busy(seconds: float) -> None:
    """Sleep in short slices, as a loop body that does work would run bytecode: a SIGINT whose
    C handler runs just before one long time.sleep() enters the kernel (the main thread
    descheduled there, as right after printing PHASE on a loaded machine) is seen only when
    the sleep ends, and the test would wait out its 30 s for Python's race, not the SDK's."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        time.sleep(0.1)


def blocking(base_url: str, endpoint_id: str, journal: str, phase: str, rerun: bool) -> None:
    with Endpoint(endpoint_id, base_url=base_url, api_key="rp_unused", poll_policy=POLL) as ep:
        results = ep.map(inputs(phase, Path(journal).stem), concurrency=3, journal=journal)
        if not rerun:
            announce_when(results._threads.run, phase)
        for item in results:
            emit(item)
            if phase == "between" and not rerun:
                while not settled(results._threads.run, 2):
                    time.sleep(0.01)
                print("PHASE", flush=True)
                busy(60)  # the loop body, busy when the signal lands
        print(json.dumps({"stats": dataclasses.asdict(results.stats)}), flush=True)


async def main(base_url: str, endpoint_id: str, journal: str, phase: str, rerun: bool) -> None:
    if "--term-as-interrupt" in sys.argv:
        task = asyncio.current_task()
        assert task is not None
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    async with AsyncEndpoint(
        endpoint_id, base_url=base_url, api_key="rp_unused", poll_policy=POLL
    ) as ep:
        results = ep.map(inputs(phase, Path(journal).stem), concurrency=3, journal=journal)
        if not rerun:
            announce_when(results._tasks.run, phase)
        async for item in results:
            emit(item)
            if phase == "between" and not rerun:
                while not settled(results._tasks.run, 2):
                    await asyncio.sleep(0.01)
                print("PHASE", flush=True)
                await asyncio.sleep(60)
        print(json.dumps({"stats": dataclasses.asdict(results.stats)}), flush=True)


def say_phase() -> None:
    print("PHASE", flush=True)


async def announce_running(ep: AsyncEndpoint, count: int, then: float = 0.0) -> None:
    """Print PHASE once the server runs ``count`` jobs (and ``then`` seconds more)."""
    while ((await ep.health()).jobs.in_progress or 0) < count:
        await asyncio.sleep(0.02)
    await asyncio.sleep(then)
    say_phase()


async def one_call(base_url: str, endpoint_id: str, operation: str, tag: str) -> None:
    """``operation`` (run_sync, wait, stream, run_many) of held jobs under asyncio.run:
    PHASE once the server runs the jobs — for run_many, a moment after the 1 s ``/runsync``
    hold that brings the ids; run_sync's own hold outlasts the test (its id is unknown)."""
    async with AsyncEndpoint(
        endpoint_id, base_url=base_url, api_key="rp_unused", poll_policy=POLL
    ) as ep:
        data = {"n": 0, "hold": True, "tag": tag}
        count, then = (3, 1.5) if operation == "run_many" else (1, 0.1)
        announcer = asyncio.ensure_future(announce_running(ep, count, then))
        if operation == "run_many":
            await ep.run_many([{**data, "n": n} for n in range(3)], concurrency=3)
        elif operation == "run_sync":
            await ep.run_sync(data)
        elif operation == "wait":
            await (await ep.run(data)).wait()
        else:
            async for _chunk in (await ep.run(data)).stream():
                pass
        announcer.cancel()


def run() -> None:
    # A shell that starts a job in the background starts it with SIGINT ignored.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    base_url, endpoint_id, journal, mode, phase = sys.argv[1:6]
    rerun = "--rerun" in sys.argv
    try:
        if mode.startswith("async-"):  # one call, not a batch: JOURNAL only names the case
            asyncio.run(one_call(base_url, endpoint_id, mode.removeprefix("async-"), phase))
        elif mode == "sync":
            if "--term-as-interrupt" in sys.argv:
                signal.signal(signal.SIGTERM, signal.default_int_handler)
            blocking(base_url, endpoint_id, journal, phase, rerun)
        else:
            asyncio.run(main(base_url, endpoint_id, journal, phase, rerun))
    except (KeyboardInterrupt, asyncio.CancelledError) as exc:
        # What a script commonly does on Ctrl-C: no traceback, a word, exit 130. All it can
        # show of the exception is its notes — none on the KeyboardInterrupt that
        # asyncio.run raises: there, only what the library logged tells the ids.
        for note in getattr(exc, "__notes__", ()):
            print(note, file=sys.stderr)
        print("interrupted", file=sys.stderr)
        sys.exit(130)


if __name__ == "__main__":
    run()
