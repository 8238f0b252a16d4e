"""Real signals to a real script mapping with a journal against a local endpoint in another
process (``map_signal_client``, ``batch_server``): SIGINT, SIGTERM and SIGKILL in each phase
— submits in flight, jobs running while the loop waits, the loop's body busy between items —
for ``Endpoint.map`` and for ``AsyncEndpoint.map`` under a plain ``asyncio.run(main())``.

* Ctrl-C (SIGINT): the user is told, on stderr, the id of every job left running — logging
  not configured, and under asyncio.run too, which replaces the task's CancelledError with a
  fresh KeyboardInterrupt. The journal holds every id: a rerun waits for the same jobs and no
  input runs twice.
* SIGTERM: the Python API keeps Python's default (the process dies at once, nothing is told)
  — or, with the application's handler the docs suggest, behaves as Ctrl-C.
* SIGKILL (and default SIGTERM): nothing can be told; a rerun with the journal resumes: every
  input ends once in its output, jobs whose id was journaled are waited for (not run again),
  and an input runs twice only when the rerun says it may have (``possibly_duplicated``).

Then the single async calls (run_sync, wait, stream, run_many) under asyncio.run + SIGINT.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .test_batch_crash_resume import ROOT, Server

pytestmark = pytest.mark.misuse("signal")

COUNT = 5  # the client's inputs
DELAY = 1.0  # how long the server holds a submit in the "submitting" phase


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    running = Server(tmp_path_factory.mktemp("signals") / "handler.log")
    try:
        yield running
    finally:
        running.stop()


def handled(server: Server, tag: str) -> list[dict[str, Any]]:
    """The jobs the server started for the case ``tag``, in order."""
    path = Path(server.proc.args[3])  # type: ignore[index]
    if not path.exists():
        return []
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    return [row for row in rows if row["tag"] == tag]


def client(server: Server, journal: Path, mode: str, phase: str, *flags: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "tests.integration.map_signal_client",
        server.base_url,
        server.endpoint_id,
        str(journal),
        mode,
        phase,
        *flags,
    ]


def signal_at_phase(args: list[str], signum: int) -> tuple[int, list[dict[str, Any]], str]:
    """Start the client, send ``signum`` once it prints PHASE; its exit code, the items it
    printed, and its stderr."""
    proc = subprocess.Popen(
        args, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    watchdog = threading.Timer(60, proc.kill)  # a hung client fails the test, not the run
    watchdog.start()
    try:
        assert proc.stdout is not None
        lines = []
        for line in proc.stdout:
            if line.strip() == "PHASE":
                break
            lines.append(line)
        else:
            raise AssertionError(f"the client ended before its phase: {proc.communicate()}")
        os.kill(proc.pid, signum)
        rest, err = proc.communicate(timeout=30)
    finally:
        watchdog.cancel()
    items = [json.loads(line) for line in [*lines, *rest.splitlines()] if line.startswith("{")]
    return proc.returncode, items, err


def rerun(args: list[str]) -> tuple[list[dict[str, Any]], dict[str, int]]:
    done = subprocess.run([*args, "--rerun"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    rows = [json.loads(line) for line in done.stdout.splitlines()]
    return [r for r in rows if "index" in r], rows[-1]["stats"]


def settle(server: Server, tag: str, expected: int, not_before: float = 0.0) -> None:
    """Wait until the server has started ``expected`` jobs for ``tag`` and has none left
    running — and until ``not_before`` (a killed client's held submits have been processed,
    if the server processes them at all, by then)."""
    end = time.monotonic() + 30
    while (
        len(handled(server, tag)) < expected
        or server.ask("health")["jobs"]["inProgress"]
        or time.monotonic() < not_before
    ):
        assert time.monotonic() < end, f"the server never settled: {handled(server, tag)}"
        time.sleep(0.05)


PHASES = ("submitting", "waiting", "between")
MODES = ("sync", "async")
CASES = [
    pytest.param(mode, phase, name, False, id=f"{mode}-{phase}-{name}")
    for mode in MODES
    for phase in PHASES
    for name in ("SIGINT", "SIGTERM", "SIGKILL")
] + [
    pytest.param(mode, "waiting", "SIGTERM", True, id=f"{mode}-waiting-SIGTERM-handled")
    for mode in MODES
]


@pytest.mark.parametrize(("mode", "phase", "name", "handled_term"), CASES)
def test_signal_table(
    server: Server, tmp_path: Path, mode: str, phase: str, name: str, handled_term: bool
) -> None:
    tag = f"{mode}-{phase}-{name}-{int(handled_term)}"
    journal = tmp_path / f"{tag}.journal"
    args = client(server, journal, mode, phase, *(["--term-as-interrupt"] if handled_term else []))
    signum = getattr(signal, name)
    told = name == "SIGINT" or handled_term
    server.ask("hold")
    server.ask(f"delay {DELAY if phase == 'submitting' else 0}")
    try:
        code, items, stderr = signal_at_phase(args, signum)
    finally:
        stopped = time.monotonic()
        server.ask("delay 0")
        server.ask("release")
    first = {row["n"]: row["id"] for row in handled(server, tag)}
    ended = {item["job_id"] for item in items}

    if told:
        assert code == 130, stderr  # the script's own exit on KeyboardInterrupt/CancelledError
        # Every job left running is named on stderr; a journaled one waited for its id.
        assert first, "the client was stopped before any job existed"
        left = [job_id for job_id in first.values() if job_id not in ended]
        assert left and all(job_id in stderr for job_id in left), stderr
        assert "left running on the endpoint" in stderr
        assert "in flight" not in stderr
    else:
        assert code == -signum

    after, stats = rerun(args)
    # The rerun: every input ends once, with its own output.
    assert sorted(item["index"] for item in after) == list(range(COUNT))
    assert all(item["status"] == "COMPLETED" for item in after), after
    assert all(item["output"] == {"n": item["index"]} for item in after)
    duplicated = {item["index"] for item in after if item["dup"]}
    # A job whose id the first run knew is waited for, not run again.
    for item in after:
        if item["index"] in first and item["index"] not in duplicated:
            assert item["job_id"] == first[item["index"]], (item, first)
    if told or phase != "submitting":
        assert not duplicated  # every id was journaled before the process ended
        assert stats["reattached"] + stats["resumed"] >= 2
    else:
        assert duplicated <= {0, 1, 2}  # at most the three submits in flight
    late = phase == "submitting" and not told  # submits the server was still holding
    settle(server, tag, COUNT, not_before=stopped + DELAY + 0.2 if late else 0.0)
    runs = Counter(row["n"] for row in handled(server, tag))
    assert set(runs) == set(range(COUNT))
    assert {n for n, times in runs.items() if times > 1} <= duplicated
    assert all(times <= 2 for times in runs.values())


@pytest.mark.parametrize("operation", ["run_sync", "wait", "stream", "run_many"])
def test_async_calls_tell_what_ctrl_c_left_running(
    server: Server, tmp_path: Path, operation: str
) -> None:
    tag = f"call-{operation}"
    server.ask("hold")
    try:
        code, _items, stderr = signal_at_phase(
            client(server, tmp_path / "unused", f"async-{operation}", tag), signal.SIGINT
        )
    finally:
        server.ask("release")
    assert code == 130, stderr  # asyncio.run's KeyboardInterrupt, caught by the script
    started = [row["id"] for row in handled(server, tag)]
    assert started
    for job_id in started:
        if operation in ("wait", "stream"):  # the handle's job: its id is known
            assert job_id in stderr, stderr
        else:  # named — or, a /runsync reply not come yet, said to be unnameable
            assert job_id in stderr or ("submit" in stderr and "in flight" in stderr), stderr
    told = [line for line in stderr.splitlines() if line.startswith("runpod-facade: ")]
    assert told, stderr
    settle(server, tag, len(started))
