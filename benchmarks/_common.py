"""Shared helpers: the run context, tables, statistics, the machine section, child processes.

Only the standard library is imported here. A child that measures its own memory imports
:mod:`benchmarks._rss` alone (see ``memory.py``).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import importlib.metadata
import importlib.util
import json
import logging
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = ROOT / "benchmarks"
TERMINAL = frozenset({"COMPLETED", "FAILED", "CANCELLED", "TIMED_OUT"})
NA = "n/a"
#: The API key every benchmark server expects; a made-up value, not a secret.
API_KEY = "rpl_benchmark_key_not_a_secret"
ENDPOINT_ID = "bench-endpoint"


# ------------------------------------------------------------------------------ context


@dataclass
class Context:
    """What every benchmark's ``run(ctx)`` gets.

    ``quick`` asks for fewer iterations; ``runpod`` says whether runpod-python (the peer) can
    be imported; ``output_dir`` is where artefacts beside the Markdown (the chart) go, or
    ``None`` when nothing is written; ``facts`` holds values one benchmark leaves for
    another; ``targets`` collects ``[target, measured, verdict]`` rows (see
    :meth:`target`), which the orchestrator lists first in results.md.
    """

    quick: bool
    runpod: bool
    output_dir: Path | None
    facts: dict[str, Any] = field(default_factory=dict)
    targets: list[list[str]] = field(default_factory=list)

    def target(self, text: str, measured: str, met: bool | None) -> None:
        """Report a target as met, missed or n/a; never assert on it."""
        self.targets.append([text, measured, verdict(met)])


# ------------------------------------------------------------------------------ reporting


@dataclass
class Table:
    title: str
    headers: list[str]
    rows: list[list[str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    intro: list[str] = field(default_factory=list)  # paragraphs between title and table

    def markdown(self) -> str:
        lines = [f"### {self.title}", ""]
        for paragraph in self.intro:
            lines += [paragraph, ""]
        lines.append("| " + " | ".join(self.headers) + " |")
        lines.append(
            "|" + "|".join("---" if i == 0 else "--:" for i in range(len(self.headers))) + "|"
        )
        lines += ["| " + " | ".join(row) + " |" for row in self.rows]
        if self.notes:
            lines.append("")
            lines += [f"- {note}" for note in self.notes]
        return "\n".join(lines)


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------ statistics


def median(values: Sequence[float]) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return float(ordered[middle])
    return (ordered[middle - 1] + ordered[middle]) / 2


def p90(values: Sequence[float]) -> float:
    """Nearest-rank 90th percentile."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = max(1, -(-9 * len(ordered) // 10))  # ceil(0.9 n)
    return float(ordered[rank - 1])


def minimum(values: Sequence[float]) -> float:
    return float(min(values)) if values else float("nan")


def maximum(values: Sequence[float]) -> float:
    return float(max(values)) if values else float("nan")


def is_nan(value: float) -> bool:
    return value != value


def ratio(value: float, base: float) -> str:
    return NA if base <= 0 or is_nan(value) or is_nan(base) else f"{value / base:.2f}×"


def ms(seconds: float) -> str:
    return NA if is_nan(seconds) else f"{seconds * 1000:.1f}"


def us(nanoseconds: float) -> str:
    return NA if is_nan(nanoseconds) else f"{nanoseconds / 1000:.0f}"


def verdict(met: bool | None) -> str:
    """How results.md reports a target: met, missed, or not measurable in this run."""
    return NA if met is None else ("**met**" if met else "**missed**")


def rotated(items: Sequence[Any], shift: int) -> list[Any]:
    """``items`` rotated left by ``shift``: round r of a benchmark runs its contenders in
    this order, so no contender always goes first (or last)."""
    if not items:
        return []
    shift %= len(items)
    return [*items[shift:], *items[:shift]]


# ------------------------------------------------------------------------------ peers


def quiet_root_logger() -> None:
    """Undo ``logging.basicConfig(level=INFO)`` that importing ``runpod`` performs, so no
    client (httpx included) logs every request."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    root.setLevel(logging.WARNING)


def runpod_available() -> bool:
    return importlib.util.find_spec("runpod") is not None


def import_runpod() -> Any:
    """Import runpod-python with its logging side effect undone."""
    import runpod

    quiet_root_logger()
    return runpod


def version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


# ------------------------------------------------------------------------------ child processes


def child_env(**extra: str) -> dict[str, str]:
    """The environment of a measured child: no import-time profiling inherited, no .pyc
    written by a timed child, this checkout first on ``sys.path``."""
    env = dict(os.environ)
    env.pop("PYTHONPROFILEIMPORTTIME", None)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT), *([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])]
    )
    env.update(extra)
    return env


def run_child(
    module: str, args: Sequence[str], *, timeout: float = 600, python: str | None = None
) -> dict[str, Any]:
    """Run ``python -m MODULE ARGS`` in a fresh interpreter and return the JSON object its
    last stdout line holds. Its stderr passes through; a failure raises with its output."""
    command = [python or sys.executable, "-m", module, *args]
    done = subprocess.run(
        command,
        cwd=ROOT,
        env=child_env(),
        stdout=subprocess.PIPE,
        text=True,
        timeout=timeout,
        check=False,
    )
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        raise RuntimeError(
            f"{' '.join(command[1:])} exited {done.returncode}: {done.stdout[-2000:]}"
        )
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def wall_seconds(command: Sequence[str], *, env: dict[str, str] | None = None) -> float:
    """Wall time of one child process, start to exit."""
    started = time.perf_counter()
    subprocess.run(command, check=True, cwd=ROOT, env=env or child_env())
    return time.perf_counter() - started


# ------------------------------------------------------------------------------ machine


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    import platform

    return platform.processor() or "unknown"


def _memory_total() -> str:
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    return "unknown"


def _git_revision() -> str:
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        return head + (" (with uncommitted changes)" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


LIBRARIES = (
    "runpod-facade",
    "runpod",
    "httpx",
    "httpcore",
    "h11",
    "anyio",
    "sniffio",
    "aiohttp",
    "requests",
    "uvicorn",
    "starlette",
    "matplotlib",
)


def machine_section(started: dt.datetime, quick: bool) -> str:
    import platform

    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    cores = f"{os.cpu_count()} logical" + (f" ({affinity} usable)" if affinity else "")
    libs = ", ".join(f"{name} {version(name)}" for name in LIBRARIES)
    return "\n".join(
        [
            f"- Date: {started.strftime('%Y-%m-%d %H:%M UTC')}"
            + (" — **quick run** (`--quick`: fewer iterations)" if quick else ""),
            f"- Machine: {cores} cores, {_cpu_model()}, {_memory_total()} RAM, "
            f"{platform.system()} {platform.release()}",
            f"- Python: {platform.python_implementation()} {platform.python_version()}",
            f"- Revision: {_git_revision()}",
            f"- Libraries: {libs}",
        ]
    )
