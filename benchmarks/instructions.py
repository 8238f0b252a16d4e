"""Instructions the client process executes per job: a deterministic measure of client CPU work.

    .venv/bin/python -m benchmarks --only instructions
    .venv/bin/python -m benchmarks.instructions --sizes 200 500 --repeats 3 --clients aiohttp

Wall-clock throughput on a shared 2-core machine swings by a factor of two between rounds, so
a 10 % change in the façade's own cost is invisible there. This benchmark counts instead the
user-space instructions a client process retires while running no-op jobs at concurrency 100
against :mod:`benchmarks.fastserver` (in a process of its own, not counted). Each client of
:mod:`benchmarks.throughput` runs as ``python -m benchmarks.throughput --client NAME
--workload noop --jobs N`` (the same child the throughput benchmark starts) under the counter,
once with N1 jobs and once with N2; instructions per job is ``(I(N2) - I(N1)) / (N2 - N1)``,
which cancels the interpreter's start-up, imports, the warm-up job and connection set-up.
Every pair is repeated (3 times by default); the table gives min / median / max.

The counter: ``perf stat -e instructions:u`` when the kernel exposes a hardware instruction
counter (fast: no slowdown), else valgrind's cachegrind with cache and branch simulation off
(``I refs``, every instruction of the process's threads; about 50× slower than native, half
the cost of callgrind for the same total). With neither, the benchmark says so and returns.

What it is not: latency, kernel time (system calls, the TCP stack), time spent waiting, or the
server's work. A client that makes fewer requests but waits longer looks cheap here.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from ._common import NA, ROOT, Context, Table, child_env, log, median, rotated
from ._servers import FastServer
from .throughput import CLIENTS, Client

NAME = "instructions"

#: Façade client -> the raw client sending the same requests per job (issue #17's pairs first).
PAIRS: dict[str, str] = {
    "facade-aiohttp": "aiohttp",
    "facade-aiohttp-many": "aiohttp-runsync",
    "facade-httpx": "httpx",
}
#: Façade client -> a raw client sending the same requests with the same timeouts as the
#: façade gives its HTTP library: what of the façade's cost is its own code, and what is the
#: read timeout raw aiohttp's defaults do not have (measured with its façade, not a target).
SAME_TIMEOUTS: dict[str, str] = {"facade-aiohttp": "aiohttp-read-timeouts"}
SAME_TIMEOUTS_LABEL = (
    "raw `aiohttp.ClientSession` `/run` + `/status-sync` with the façade's timeouts "
    "(`sock_read` 30 s / hold + 10 s, no `total`)"
)
#: Issue #17's floor on raw / façade (the "×" speed figure), applied here to instructions.
TARGET = 0.9
TARGET_PAIRS = ("facade-aiohttp", "facade-aiohttp-many")
CONCURRENCY = 100


@dataclass(frozen=True)
class Settings:
    small: int
    large: int
    repeats: int

    @classmethod
    def make(cls, quick: bool) -> Settings:
        # N1 = 2 x concurrency: both runs open the full pool and reach the steady state (a
        # full semaphore, jobs queued behind it), so only the number of jobs differs. With
        # N1 = concurrency every job of the small run starts at once (raw aiohttp read ~3 %
        # lower in one such run).
        return cls(200, 400, 1) if quick else cls(200, 500, 3)


# ============================================================================== counters


@dataclass(frozen=True)
class Counter:
    """A way to count the user-space instructions of one child process."""

    name: str  # for the table
    prefix: tuple[str, ...]  # what goes before ``python -m ...``; "{out}" is the report file

    def count(self, command: Sequence[str], env: dict[str, str]) -> tuple[int, str]:
        """Run ``command`` under the counter: (instructions, the child's stdout)."""
        with tempfile.TemporaryDirectory(prefix="bench-instr-") as tmp:
            report = Path(tmp) / "report.txt"
            full = [part.replace("{out}", str(report)) for part in self.prefix] + list(command)
            done = subprocess.run(
                full, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True, timeout=900, check=False
            )
            text = report.read_text(encoding="utf-8", errors="replace") if report.exists() else ""
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(full)} exited {done.returncode}: {text[-1500:]}")
        value = _parse(self.name, text)
        if value is None:
            raise RuntimeError(f"no instruction count in the {self.name} report: {text[-1500:]}")
        return value, done.stdout


def _parse(name: str, text: str) -> int | None:
    if name == "perf":  # -x, : "12345,,instructions:u,..." (or "<not supported>,,...")
        for line in text.splitlines():
            fields = line.split(",")
            if len(fields) > 2 and fields[2].startswith("instructions") and fields[0].isdigit():
                return int(fields[0])
        return None
    found = re.search(r"I\s+refs:\s+([\d,]+)", text)  # cachegrind's summary line
    return int(found.group(1).replace(",", "")) if found else None


PERF = Counter("perf", ("perf", "stat", "-e", "instructions:u", "-x", ",", "-o", "{out}", "--"))
CACHEGRIND = Counter(
    "valgrind",
    (
        "valgrind",
        "--tool=cachegrind",
        "--cache-sim=no",
        "--branch-sim=no",
        "--cachegrind-out-file=/dev/null",
        "--log-file={out}",
    ),
)


def find_counter() -> tuple[Counter | None, str]:
    """perf if it counts here (many VMs and containers expose no hardware counter), else
    valgrind; ``None`` with the reason when neither works."""
    reasons: list[str] = []
    probe = [sys.executable, "-c", "pass"]
    for counter, binary in ((PERF, "perf"), (CACHEGRIND, "valgrind")):
        if shutil.which(binary) is None:
            reasons.append(f"{binary} is not on PATH")
            continue
        try:
            value, _ = counter.count(probe, child_env())
        except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
            reasons.append(f"{binary} does not count here ({str(exc).splitlines()[0][:160]})")
            continue
        if value > 0:
            return counter, ""
        reasons.append(f"{binary} counted 0 instructions")
    return None, "; ".join(reasons)


# ============================================================================== measuring


def _env() -> dict[str, str]:
    # A fixed hash seed: set and dict layouts (and so the work done on them) repeat exactly.
    # Bytecode may be written: the uncounted first run compiles it, so no counted run does.
    env = child_env(PYTHONHASHSEED="0")
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def _command(client: str, jobs: int, port: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "benchmarks.throughput",
        "--client",
        client,
        "--workload",
        "noop",
        "--jobs",
        str(jobs),
        "--concurrency",
        str(CONCURRENCY),
        "--port",
        str(port),
    ]


def _result(stdout: str) -> dict[str, object]:
    import json

    lines = stdout.strip().splitlines()
    if not lines:
        raise RuntimeError("the client printed nothing")
    result: dict[str, object] = json.loads(lines[-1])
    return result


def _check(client: str, result: dict[str, object]) -> None:
    if result.get("errors"):
        raise AssertionError(f"{client}: {result['errors']} jobs returned wrong outputs")


def _probe(client: str, port: int) -> str | None:
    """An uncounted run: compiles bytecode, and tells whether the client exists here."""
    done = subprocess.run(
        _command(client, 1, port),
        cwd=ROOT,
        env=_env(),
        stdout=subprocess.PIPE,
        text=True,
        timeout=120,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{client} exited {done.returncode}: {done.stdout[-1500:]}")
    result = _result(done.stdout)
    if not result.get("available"):
        return str(result.get("reason", "not available"))
    _check(client, result)
    return None


def measure(
    counter: Counter, clients: Sequence[str], cfg: Settings, workers: int
) -> tuple[dict[str, list[float]], dict[str, str]]:
    """Instructions per job per client (one value per repeat), and the unavailable clients."""
    unavailable: dict[str, str] = {}
    counts: dict[tuple[str, int, int], int] = {}
    with FastServer() as server:
        for client in clients:
            reason = _probe(client, server.port)
            if reason is not None:
                unavailable[client] = reason
                log(f"    {client}: n/a ({reason})")
        present = [client for client in clients if client not in unavailable]
        cells = [
            (client, jobs, repeat)
            for repeat in range(cfg.repeats)
            for client in rotated(present, repeat)
            for jobs in ((cfg.small, cfg.large) if repeat % 2 == 0 else (cfg.large, cfg.small))
        ]

        def one(cell: tuple[str, int, int]) -> None:
            client, jobs, repeat = cell
            started = time.perf_counter()
            value, stdout = counter.count(_command(client, jobs, server.port), _env())
            _check(client, _result(stdout))
            counts[cell] = value
            log(
                f"    repeat {repeat + 1} {client:<20} {jobs:>5} jobs: {value:>15,} "
                f"instructions ({time.perf_counter() - started:.1f} s)"
            )

        # Counts do not depend on timing (the counted client is the slow side), so two
        # children may run at once when there are cores for them.
        with ThreadPoolExecutor(max_workers=workers) as pool:
            list(pool.map(one, cells))
    per_job: dict[str, list[float]] = {}
    for client in present:
        for repeat in range(cfg.repeats):
            delta = counts[(client, cfg.large, repeat)] - counts[(client, cfg.small, repeat)]
            per_job.setdefault(client, []).append(delta / (cfg.large - cfg.small))
    return per_job, unavailable


# ============================================================================== report


def _k(value: float) -> str:
    return f"{value / 1000:,.0f}k"


def run(
    ctx: Context, cfg: Settings | None = None, keys: Sequence[str] | None = None
) -> list[Table]:
    cfg = cfg or Settings.make(ctx.quick)
    clients: list[Client] = [
        c for c in CLIENTS if (ctx.runpod or not c.needs_runpod) and (keys is None or c.key in keys)
    ]
    counter, why = find_counter()
    title = (
        f"Client instructions per no-op job: concurrency {CONCURRENCY}, "
        f"(I({cfg.large}) − I({cfg.small})) / {cfg.large - cfg.small}, {cfg.repeats} repeat(s)"
    )
    headers = [
        "client",
        "instructions/job (median)",
        "min",
        "max",
        "spread",
        "façade / raw",
        "raw / façade (× speed)",
    ]
    if counter is None:
        log(f"{NAME}: skipped: {why}")
        table = Table(title, headers)
        table.rows.append([f"{NA}: {why}", NA, NA, NA, NA, NA, NA])
        _targets(ctx)
        return [table]
    keys_counted = [c.key for c in clients]
    keys_counted += [SAME_TIMEOUTS[key] for key in keys_counted if key in SAME_TIMEOUTS]
    workers = 2 if len(os.sched_getaffinity(0)) >= 2 else 1
    log(
        f"{NAME}: {counter.name}, {len(keys_counted)} clients x {cfg.repeats} repeat(s) x "
        f"{cfg.small}/{cfg.large} jobs, {workers} at a time"
    )
    started = time.perf_counter()
    per_job, unavailable = measure(counter, keys_counted, cfg, workers)
    elapsed = time.perf_counter() - started
    if not ctx.runpod:
        unavailable.update(
            {c.key: "runpod-python is not installed" for c in CLIENTS if c.needs_runpod}
        )

    table = Table(title, headers)
    for client in CLIENTS:
        if keys is not None and client.key not in keys:
            continue
        values = per_job.get(client.key)
        if not values:
            reason = unavailable.get(client.key, "not measured")
            table.rows.append([client.label, f"{NA} ({reason})", NA, NA, NA, NA, NA])
            continue
        raw = per_job.get(PAIRS.get(client.key, ""))
        if raw:
            ratio = median(values) / median(raw)
            ratio_text, speed_text = f"{ratio:.3f}", f"{1 / ratio:.3f}×"
            ctx.facts[f"instructions.{client.key}.speed"] = 1 / ratio
        else:
            ratio_text = speed_text = "—"
        table.rows.append(
            [
                client.label,
                _k(median(values)),
                _k(min(values)),
                _k(max(values)),
                f"{(max(values) - min(values)) / median(values):.1%}",
                ratio_text,
                speed_text,
            ]
        )
    for facade, raw_key in SAME_TIMEOUTS.items():
        values, facade_values = per_job.get(raw_key), per_job.get(facade)
        if values and facade_values:
            ratio = median(facade_values) / median(values)
            table.rows.append(
                [
                    SAME_TIMEOUTS_LABEL,
                    _k(median(values)),
                    _k(min(values)),
                    _k(max(values)),
                    f"{(max(values) - min(values)) / median(values):.1%}",
                    f"{ratio:.3f}",
                    f"{1 / ratio:.3f}×",
                ]
            )
    tool = (
        "`perf stat -e instructions:u`"
        if counter is PERF
        else "valgrind cachegrind (`--cache-sim=no --branch-sim=no`, `I refs`)"
    )
    table.notes += [
        f"Counted with {tool}; every client is `python -m benchmarks.throughput --workload "
        "noop` in a process of its own (`PYTHONHASHSEED=0`), the fast server in another "
        "(not counted). The difference of two job counts cancels start-up, imports, the "
        "warm-up job and opening the pool's connections.",
        "Pairs send the same requests per job: façade `run()` + `wait()` vs raw `/run` + "
        "`/status-sync`, façade `run_many()` vs raw aiohttp `/runsync`. Raw / façade is the "
        f"speed figure of issue #17's targets (≥ {TARGET}×) if client CPU were the only cost.",
        "The row with the façade's timeouts is raw aiohttp given the `ClientTimeout` the façade "
        "gives aiohttp by default (its ratios are to the façade's `run()` + `wait()`): aiohttp "
        "re-arms `sock_read` on every chunk it receives, one timer more per request than raw "
        "aiohttp's default `total`; the difference between the two raw rows is that timer.",
        "User-space instructions only: not latency, not kernel time (system calls, loopback "
        "TCP), not time waiting for the server.",
        "Spread is (max − min) / median over the repeats. Raw httpx's is large: its default "
        "pool keeps 20 of 100 connections alive, and how many it closes and reopens depends "
        "on timing, so its per-job work is not fixed (see the throughput benchmark's pool "
        f"diagnostic). This benchmark took {elapsed:.0f} s.",
    ]
    _targets(ctx)
    return [table]


def _targets(ctx: Context) -> None:
    """Issue #17's pairs as instruction ratios; n/a when nothing was counted."""
    labels = {c.key: c.label for c in CLIENTS}
    for key in TARGET_PAIRS:
        speed = ctx.facts.get(f"instructions.{key}.speed")
        ctx.target(
            f"client instructions per no-op job: {labels[PAIRS[key]]} / {labels[key]} "
            f"≥ {TARGET}× (issue #17's floor, client CPU work only)",
            NA if speed is None else f"{speed:.3f}×",
            None if speed is None else speed >= TARGET,
        )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs=2, default=None, metavar=("N1", "N2"))
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument("--clients", nargs="*", default=None, choices=[c.key for c in CLIENTS])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    base = Settings.make(args.quick)
    small, large = args.sizes or (base.small, base.large)
    if not CONCURRENCY <= small < large:
        parser.error(f"need {CONCURRENCY} <= N1 < N2 (N1 below the concurrency skips pool set-up)")
    cfg = Settings(small, large, args.repeats or base.repeats)
    from ._common import runpod_available

    ctx = Context(quick=args.quick, runpod=runpod_available(), output_dir=None)
    for table in run(ctx, cfg, args.clients):
        print(table.markdown())
    for row in ctx.targets:
        print(f"- {row[0]}: {row[1]} {row[2]}")


if __name__ == "__main__":
    main()
