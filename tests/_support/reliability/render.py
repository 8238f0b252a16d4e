"""Writes ``docs/reliability.md`` from what the reliability tests measured in one run.

:func:`missing` says what a run left out: every cell of the fault matrix in fake time (each
operation of the spec × each fault), every loopback cell (each kind of fault × each client),
every deadline row, the load measures, the secrets checks, the bad-input tests, and every
misuse case of every test file that uses the ``misuse`` marker (found by reading the test
sources, so a new file is required without being listed anywhere). The plugin
writes nothing while anything is missing, so the report never mixes runs or shows a part.
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import re
from collections import Counter
from pathlib import Path
from typing import Any

from ..faults import FAULTS, LOOPBACK_CLIENTS, LOOPBACK_FAULTS
from ..operations import OPERATIONS
from .store import CellResult, Store

__all__ = ["MISUSE_KINDS", "missing", "misuse_sources", "render", "write_report"]

FAKE = "fake time"
CORE_CELLS = "tests/core/test_fault_cells.py"
LOOPBACK_CELLS = "tests/integration/test_fault_cells.py"
PROMISES_FILE = "tests/integration/test_promises.py"
LOAD_FILE = "tests/integration/test_load.py"
SECRETS_FILE = "tests/integration/test_secrets.py"
BAD_INPUT_FILES = ("tests/facade/test_bad_input.py", "tests/local/test_bad_requests.py")

#: The kinds ``@pytest.mark.misuse(kind)`` takes (pyproject.toml registers the marker), in
#: the order the report lists them, with what a case of each kind tries.
MISUSE_KINDS = {
    "path": "a file or directory that is missing, unwritable, or the wrong one",
    "journal": "a batch journal of another batch, in use, damaged or misplaced",
    "key": "an API key that is missing, wrong, or malformed",
    "signal": "Ctrl-C or SIGTERM at an awkward moment",
    "argument": "an argument or payload the SDK must refuse",
    "docs": "a code block of README.md or docs/ that neither runs in the suite nor says why not",
}
# A test file that uses the marker: the Makefile's MISUSE_TESTS greps for the same text.
_MISUSE_SOURCE = re.compile(r"pytest\.mark\.misuse\(")

LOAD_KEYS = (
    "jobs_per_round", "rounds", "server_workers", "first_round_s", "second_round_s", "total_s",
    "requests_per_s", "peak_connections", "distinct_connections", "fds_before",
    "fds_after_first", "fds_after", "tasks_before", "tasks_after", "rss_after_first_mb",
    "rss_after_second_mb", "rss_delta_mb",
)  # fmt: skip
SECRET_CHECKS = (
    "CLI stdout/stderr", "debug log lines", "exception attributes", "exception repr",
    "exception str", "repr of public objects", "str of public objects", "traceback",
)  # fmt: skip
DEADLINE_ROWS = (
    "job.wait|sync", "ep.run_sync|sync", "job.stream(idle_timeout)|sync",
    "job.stream(timeout)|sync", "job.wait|async", "ep.run_sync|async",
    "job.stream(idle_timeout)|async",
)  # fmt: skip

_SHORT = {
    "recovered": "ok",
    "passed through": "ok*",
    "InternalServerError": "ServerError",
    "APIResponseValidationError": "ResponseValidation",
    "APIConnectionError": "ConnectionError",
    "APITimeoutError": "TimeoutError",
    "WaitTimeout": "WaitTimeout",
}


def _by_cell(store: Store) -> dict[tuple[str, str, str], CellResult]:
    return {(c.client, c.operation, c.fault): c for c in store.cells.values()}


def missing(store: Store, session: Any) -> list[str]:
    """Everything the report shows that this run did not record (empty: complete)."""
    gaps: list[str] = []
    cells = _by_cell(store)
    for fault in FAULTS:
        for name in OPERATIONS:
            if (FAKE, name, fault) not in cells:
                gaps.append(f"fake-time cell {name} × {fault}")
    for client in LOOPBACK_CLIENTS:
        for fault in LOOPBACK_FAULTS:
            if (client, "run", fault) not in cells:
                gaps.append(f"loopback cell {client} × {fault}")
    gaps += [f"load measure {key}" for key in LOAD_KEYS if key not in store.load]
    gaps += [f"secrets check {where!r}" for where in SECRET_CHECKS if not store.secrets.get(where)]
    gaps += [f"deadline row {row}" for row in DEADLINE_ROWS if not store.deadlines.get(row)]
    for path in (*BAD_INPUT_FILES, PROMISES_FILE):
        if not session.passed.get(path):
            gaps.append(f"passed tests of {path}")
    gaps += [
        f"misuse case {nodeid} has the unknown kind {kind!r}"
        for nodeid, kind in sorted(session.misuse.items())
        if kind not in MISUSE_KINDS
    ]
    ran = {nodeid.split("::", 1)[0] for nodeid in session.misuse}
    gaps += [f"misuse tests of {path}" for path in sorted(session.misuse_sources - ran)]
    gaps += [
        f"misuse case {nodeid} did not pass"
        for nodeid in sorted(session.misuse)
        if nodeid not in session.misuse_passed
    ]
    return gaps


def misuse_sources(root: Path) -> set[str]:
    """The test files under ``root/tests`` whose source uses the ``misuse`` marker."""
    return {
        path.relative_to(root).as_posix()
        for path in (root / "tests").rglob("test_*.py")
        if _MISUSE_SOURCE.search(path.read_text(encoding="utf-8"))
    }


def _machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return (
        f"{platform.system()} {platform.release()}, {cpu}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}"
    )


def _cell_text(cell: CellResult | None) -> str:
    if cell is None:
        return ""
    return f"{_SHORT.get(cell.outcome, cell.outcome)} ({cell.attempts})"


def _fake_matrix(cells: dict[tuple[str, str, str], CellResult]) -> list[str]:
    names = list(OPERATIONS)
    head = " | ".join(f"`{n}` ({OPERATIONS[n].python})" for n in names)
    lines = [f"| fault | {head} |", "| --- |" + " --- |" * len(names)]
    for fault in FAULTS:
        row = " | ".join(_cell_text(cells.get((FAKE, name, fault))) for name in names)
        lines.append(f"| {fault} | {row} |")
    return lines


def _loopback_table(cells: dict[tuple[str, str, str], CellResult]) -> list[str]:
    head = " | ".join(f"`{client}`" for client in LOOPBACK_CLIENTS)
    lines = [
        f"| fault (kind) | fake time | {head} |",
        "| --- | --- |" + " --- |" * len(LOOPBACK_CLIENTS),
    ]
    for fault in LOOPBACK_FAULTS:
        kind = f"`{FAULTS[fault].kind}`" if FAULTS[fault].kind else "no server"
        row = [_cell_text(cells.get((FAKE, "run", fault)))]
        for client in LOOPBACK_CLIENTS:
            cell = cells.get((client, "run", fault))
            row.append("" if cell is None else f"{_cell_text(cell)}, {cell.seconds:.2f} s")
        lines.append(f"| {fault} ({kind}) | " + " | ".join(row) + " |")
    return lines


def render(store: Store, session: Any) -> str:
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    cells = _by_cell(store)
    fake = [c for c in store.cells.values() if c.client == FAKE]
    loopback = [c for c in store.cells.values() if c.client != FAKE]
    outcomes = Counter(c.outcome for c in fake)
    recovered = outcomes["recovered"] + outcomes["passed through"]
    typed = len(fake) - recovered
    n_ops, n_faults = len(OPERATIONS), len(FAULTS)
    durations = session.durations

    out: list[str] = []
    add = out.append
    add("# Reliability and security report")
    add("")
    add(
        "<!-- Generated by the test suite (tests/_support/reliability, run by `make test` or "
        "`make reliability`); do not edit by hand. -->"
    )
    add("")
    add(
        "Written at the end of a run of the whole suite (`make test`) or of the tests that "
        "measure it (`make reliability`), only when every one of them passed and nothing was "
        "left out, so every number below was measured by that one run. It covers the **fault "
        "matrix** (every operation of the spec against every fault, in fake time, and one cell "
        "per kind of fault over real loopback sockets on each client), **bad input** rejected "
        "before any request, **misuse** (each mistake a user can make that the tests try, by "
        "kind), **load** (thousands of jobs waited on from one `AsyncEndpoint`), the SDK's "
        "**promises** at their edges, and **secrets** (the API key never shows)."
    )
    add("")
    add(f"- Date: {now}")
    add(f"- Machine: {_machine()}")
    if session.workers:
        add(f"- Run by {session.workers} pytest-xdist workers")
    add("")

    add("## Fault matrix (fake time)")
    add("")
    add(
        f"{len(fake)} cells: each of the spec's {n_ops} operations "
        "(`runpod_generated.operations.OPERATIONS`), called through its public method "
        f"(`x-runpod-operation.python`), against each of {n_faults} faults. **Replayed in fake "
        f"time** by `{CORE_CELLS}`: the real `Endpoint` method and the sans-IO core, answered "
        "by a scripted server whose fault spoils the first request to the operation's route — "
        "no sockets and no sleeping, so backoff, `Retry-After` and deadlines are exact. "
        f"**{recovered} recovered** (the call returned the right value, after retries where "
        f"needed), **{typed} ended in the expected typed error**. The expected outcome of "
        "every cell is derived from the operation's facts in the spec (`safety`, `holds`, "
        "its route and reply schema: `tests/_support/faults.py`), not listed per operation. "
        "Every cell also checked that:"
    )
    add("")
    add(
        "- a submit (`safety: submit`) reached the server at most once per call, except "
        "attempts the server refused unprocessed with 429 (a refused connection never reaches "
        "it);"
    )
    add(
        "- a job the server accepted was never silently lost: a failed submit either said "
        "so (`request_sent=True`, the job id, or a 2xx status on the error) or left no job "
        "behind, and no call created two jobs;"
    )
    add("- every error about an existing job carried its id.")
    add("")
    add(
        "Cell legend: `ok` recovered, `ok*` returned with the unknown status passed through "
        "as a plain `str`, otherwise the exception class (`ResponseValidation` = "
        "`APIResponseValidationError`, `ConnectionError` = `APIConnectionError`, "
        "`TimeoutError` = `APITimeoutError`). The number is how many requests the server "
        "received on the faulted route; each fault fires once. Columns are operation names "
        "with their public method."
    )
    add("")
    out.extend(_fake_matrix(cells))
    add("")
    add("Faults:")
    add("")
    for name, row in FAULTS.items():
        kind = f"`{row.kind}`" if row.kind else "no server"
        add(f"- **{name}** ({kind}): {row.description}")
    add("")
    details = Counter(
        (c.outcome, c.detail) for c in fake if c.outcome not in ("recovered", "passed through")
    )
    add("Typed errors by class and what they carried:")
    add("")
    for (outcome, detail), n in sorted(details.items()):
        add(f"- {outcome} — {detail}: {n}")
    add("")
    lossy = [c for c in fake if "lost" in c.detail and c.outcome == "recovered"]
    if lossy:
        add(
            f"{len(lossy)} stream cells recovered but lost the chunks of the spoiled reply, as "
            "documented: `/stream` drains what it returns."
        )
        add("")
    add(f"Test time of the fake-time matrix: {durations.get(CORE_CELLS, 0.0):.1f} s.")
    add("")

    add("## Fault cells over loopback")
    add("")
    add(
        f"{len(loopback)} cells by `{LOOPBACK_CELLS}`: one fault of each kind the local "
        "endpoint injects (and a port where nothing listens), on `run`, through the blocking "
        "`Endpoint` and `AsyncEndpoint` on each HTTP backend, over real loopback HTTP. This is "
        "what fake time cannot show: how httpx and aiohttp report a connection closed before, "
        "after or during the reply, a refused port and a read that never ends "
        "(`request_sent`, which decides whether a submit may be sent again), and that "
        "`Retry-After` reaches the client. Each must end exactly as the fake-time `run` cell "
        "(asserted), with the same submit and lost-job checks made on the server's own record. "
        "Wall-clock seconds per cell."
    )
    add("")
    out.extend(_loopback_table(cells))
    add("")
    add(f"Test time of the loopback cells: {durations.get(LOOPBACK_CELLS, 0.0):.1f} s.")
    add("")

    add("## Bad input")
    add("")
    counts = {path: session.passed.get(path, 0) for path in BAD_INPUT_FILES}
    add(
        f"{sum(counts.values())} bad-input tests passed in this run (each rejects one malformed "
        "argument or request with a clear error before anything is sent or changed):"
    )
    add("")
    for path, n in counts.items():
        add(f"- `{path}`: {n}")
    add("")
    out.extend(_misuse(session))

    add("## Load")
    add("")
    load = store.load
    add(
        f"{load['rounds']} rounds of {load['jobs_per_round']:,} jobs each against a local "
        f"endpoint in a child process ({load['server_workers']} workers): all submitted, "
        "then all waited on from one `AsyncEndpoint` with `asyncio.gather` (every waiting "
        "task started at once, ungated: the client itself queues calls beyond its pool). "
        f"By `{LOAD_FILE}`."
    )
    add("")
    add("| measure | value |")
    add("| --- | --- |")
    rows = [
        ("round 1 / round 2", f"{load['first_round_s']} s / {load['second_round_s']} s"),
        ("requests per second (submit + wait)", f"{load['requests_per_s']:,}"),
        ("peak open client connections (pool limit 100)", load["peak_connections"]),
        (
            "distinct client sockets seen (a new AsyncEndpoint each round; idle "
            "connections are kept, not churned)",
            f"{load['distinct_connections']:,}",
        ),
        (
            "open fds before / after round 1 / after round 2",
            f"{load['fds_before']} / {load['fds_after_first']} / {load['fds_after']}",
        ),
        ("asyncio tasks before / after", f"{load['tasks_before']} / {load['tasks_after']}"),
        (
            "RSS after round 1 / round 2",
            f"{load['rss_after_first_mb']} MB / {load['rss_after_second_mb']} MB "
            f"(delta {load['rss_delta_mb']} MB, limit 20 MB)",
        ),
        ("5,000-job test runtime (both rounds)", f"{load['total_s']} s"),
        ("all load tests", f"{durations.get(LOAD_FILE, 0.0):.1f} s"),
    ]
    for name, value in rows:
        add(f"| {name} | {value} |")
    add("")
    add(
        "`AsyncEndpoint` admits at most 100 requests into httpx at a time and queues the "
        "rest itself: handed to httpcore's pool all at once, N pending requests cost O(N²) "
        "CPU (1,000 concurrent `run` calls took ~19 s, 5,000 waits did not finish in 60 s). "
        "`test_ungated_concurrency_scales` keeps that fixed."
    )
    add("")
    out.extend(_promises(store))
    add("## Secrets")
    add("")
    total = sum(store.secrets.values())
    add(
        f"The API key (the right one, a wrong one, and the server's) was searched for in "
        f"{total:,} places and found in none, end to end by `{SECRETS_FILE}`: debug logs of "
        "every logger (SDK, httpx, httpcore, aiohttp, uvicorn), reprs of the public objects, "
        "exception strings, attributes and full tracebacks, and CLI output with `--debug` and "
        "`--json`, including replies of a proxy that echoes the `Authorization` header back "
        "(the same rules, over a mocked transport: `tests/facade/test_secrets.py`, which also "
        "shows plain `http://` to a non-loopback host refused unless `allow_insecure_http=True`)."
    )
    add("")
    add("| where | checks |")
    add("| --- | --- |")
    for where, n in sorted(store.secrets.items()):
        add(f"| {where} | {n:,} |")
    add("")
    add(f"Test time of the end-to-end secrets tests: {durations.get(SECRETS_FILE, 0.0):.1f} s.")
    add("")
    return "\n".join(out)


def _misuse(session: Any) -> list[str]:
    tried: Counter[str] = Counter()
    passed: Counter[str] = Counter()
    files: dict[str, Counter[str]] = {kind: Counter() for kind in MISUSE_KINDS}
    for nodeid, kind in session.misuse.items():  # every kind is known: missing() said so
        tried[kind] += 1
        passed[kind] += nodeid in session.misuse_passed
        files[kind][nodeid.split("::", 1)[0]] += 1
    out = ["## Misuse", ""]
    out.append(
        f"{sum(tried.values())} misuse cases tried, {sum(passed.values())} passed: each is one "
        "mistake a user can make, tried by a test marked `@pytest.mark.misuse(kind)` (each "
        "case of a parametrized test counts). A case passes when the mistake is caught with a "
        "clear error before anything is sent or changed, or, for `docs`, when the code block "
        "runs in the suite or says why it does not. The test files are found by their use of "
        "the marker, and every one of them must have run for this report to be written."
    )
    out.append("")
    out.append("| kind | what a case tries | cases tried | passed | test files (cases) |")
    out.append("| --- | --- | --: | --: | --- |")
    for kind, about in MISUSE_KINDS.items():
        where = ", ".join(f"`{path}` ({n})" for path, n in sorted(files[kind].items()))
        out.append(f"| `{kind}` | {about} | {tried[kind]} | {passed[kind]} | {where or 'none'} |")
    out.append("")
    return out


# Every promise of the SDK at its edges, and the test that proves it (tests/integration/
# test_promises.py unless another file is named).
PROMISES = [
    (
        "`timeout=0` (and 1e-6) looks once: one request, the output if the job is done, else WaitTimeout with the id",
        "test_timeout_zero_on_a_finished_job_returns_its_output, test_wait_meets_its_deadline[0]",
    ),
    (
        "Sub-second deadlines are met (no 1 s floor from the server's minimum hold): wait, run_sync, stream idle and total, sync and async",
        "test_wait_meets_its_deadline, test_run_sync_meets_its_deadline_and_names_the_job, test_stream_*_timeout_is_met, test_async_*",
    ),
    (
        "A 429 whose Retry-After outlasts the deadline ends as WaitTimeout (job id, the RateLimitError as cause)",
        "test_a_rate_limit_longer_than_the_deadline_ends_as_the_deadline",
    ),
    (
        "Ctrl-C during wait / stream names the job in a PEP 678 note",
        "test_ctrl_c_during_wait_names_the_job, test_ctrl_c_during_a_stream_names_the_job",
    ),
    (
        "`cancel_on_interrupt=True` cancels the job (wait, and run_sync, which then submits with /run)",
        "test_ctrl_c_with_cancel_on_interrupt_cancels_the_job",
    ),
    (
        "Ctrl-C during a /runsync hold says plainly that no id had arrived",
        "test_ctrl_c_during_a_runsync_hold_says_no_id_had_arrived",
    ),
    (
        "Task cancellation: the note names the job; cancel_on_interrupt cancels it",
        "test_task_cancellation_names_and_can_cancel_the_job, test_task_cancellation_of_run_sync_without_an_id_says_so",
    ),
    (
        "/runsync's HTTP 400 with a FAILED job is JobFailed with the id; every APIError whose body names an id carries it",
        "tests/contract/test_error_replies.py",
    ),
    (
        "A stream of a plain handler ends with its result in `stream.state`; `raw=True` yields whole chunks",
        "test_a_stream_of_a_plain_handler_ends_with_its_result, test_raw_stream_chunks_are_whole_objects",
    ),
    (
        "JobState/Health pickle and deep-copy; frozen is deep; clients and handles refuse to pickle; the key is never in a pickle",
        "test_states_travel_and_clients_do_not",
    ),
    (
        "A closed client raises ClientClosedError; an AsyncEndpoint works on one event loop after another",
        "test_a_closed_client_says_so, test_an_async_endpoint_works_on_one_loop_after_another",
    ),
    (
        "A submit that fails after it may have been sent is never re-sent; its id is on the error when the reply named it",
        "fault matrix above; tests/contract/test_error_replies.py",
    ),
]


def _promises(store: Store) -> list[str]:
    out = ["## Promises", ""]
    out.append("| promise | proved by |")
    out.append("| --- | --- |")
    out.extend(f"| {promise} | {test} |" for promise, test in PROMISES)
    out.append("")
    out.append(
        "Measured overshoot of each waiting operation past its `timeout`, over loopback "
        "against a job that outlives it (target ≤ 50 ms; the tests assert only a loose bound, "
        "and the suite runs its tests in parallel, so these are measured under that load):"
    )
    out.append("")
    out.append("| operation | client | timeouts tried (s) | worst overshoot | median overshoot |")
    out.append("| --- | --- | --- | --: | --: |")
    for key in DEADLINE_ROWS:
        runs = store.deadlines[key]
        operation, client = key.split("|")
        over = sorted(elapsed - timeout for timeout, elapsed in runs)
        tried = ", ".join(f"{t:g}" for t in sorted({t for t, _ in runs}))
        median = over[len(over) // 2]
        out.append(
            f"| `{operation}` | {client} | {tried} | {over[-1] * 1000:.0f} ms | "
            f"{median * 1000:.0f} ms |"
        )
    out.append("")
    return out


def write_report(root: Path, store: Store, session: Any) -> None:
    """Render and replace ``docs/reliability.md`` (refuses an incomplete run)."""
    gaps = missing(store, session)
    if gaps:
        raise ValueError(f"the reliability data is incomplete: {gaps[:5]}")
    text = render(store, session)
    target = root / "docs" / "reliability.md"
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".md.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(target)
