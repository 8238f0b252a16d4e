"""Cold import time, in a clean venv for the façade and in the bench venv for the peer.

The bench venv holds runpod-python and its extras (rich, click, …); with those installed,
``import httpx`` also imports httpx's CLI machinery, which distorts the façade's figure. So
``import runpod_facade`` is timed in ``.venv-bench-import/``: a venv with only the façade and
its runtime dependencies (httpx, attrs, sniffio, pinned to the bench venv's versions). The
dependencies are installed on first use and kept (``.venv-*`` is gitignored; a change of
pyproject.toml or of those versions rebuilds the venv). The façade itself is reinstalled from
this checkout on every run, as a wheel — what a user gets — not as an editable install, whose
import hook alone costs ~10 ms per interpreter.

Every figure is a fresh interpreter, .pyc and OS caches warm (one untimed run first), the
runs interleaved; min and median over the runs.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import time
from pathlib import Path

from ._common import (
    NA,
    ROOT,
    Context,
    Table,
    child_env,
    log,
    median,
    minimum,
    ms,
    ratio,
    rotated,
    version,
    wall_seconds,
)

NAME = "import_time"
TARGET_S = 0.100  # issue #17
IMPORT_VENV = ROOT / ".venv-bench-import"
RUNTIME = ("httpx", "attrs", "sniffio")
# Their dependencies, pinned (as constraints) to what the bench venv has, for comparability.
TRANSITIVE = ("httpcore", "h11", "anyio", "idna", "certifi", "typing_extensions")


def _pins() -> tuple[list[str], list[str]]:
    requirements = [f"{name}=={version(name)}" for name in RUNTIME]
    constraints = [f"{name}=={version(name)}" for name in TRANSITIVE if version(name)[0].isdigit()]
    return requirements, constraints


def clean_venv() -> Path | None:
    """The clean venv's python, built if missing or stale; None if it cannot be built."""
    requirements, constraints = _pins()
    digest = hashlib.sha256(
        "\n".join([(ROOT / "pyproject.toml").read_text(), *requirements, *constraints]).encode()
    ).hexdigest()
    python = IMPORT_VENV / "bin" / "python"
    stamp = IMPORT_VENV / ".installed"
    pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    try:
        if not (python.exists() and stamp.exists() and stamp.read_text().strip() == digest):
            log(f"    building {IMPORT_VENV.name}/ ({', '.join(requirements)})")
            shutil.rmtree(IMPORT_VENV, ignore_errors=True)
            constraints_file = IMPORT_VENV / "constraints.txt"
            subprocess.run([sys.executable, "-m", "venv", str(IMPORT_VENV)], check=True)
            constraints_file.write_text("\n".join(constraints) + "\n")
            subprocess.run([*pip, *requirements, "-c", str(constraints_file)], check=True)
            stamp.write_text(digest + "\n")
        log(f"    installing runpod-facade into {IMPORT_VENV.name}/ as a wheel")
        reinstall = [*pip, "--no-deps", "--force-reinstall", str(ROOT)]
        subprocess.run(reinstall, check=True, cwd=ROOT, capture_output=True)
    except (OSError, subprocess.CalledProcessError) as exc:
        log(f"    could not build {IMPORT_VENV.name}/: {exc}")
        return None
    return python


def _env() -> dict[str, str]:
    env = child_env()
    env.pop("PYTHONPATH", None)  # import from the venv under test, not from this checkout
    return env


def _timer(python: str, module: str) -> tuple[float, float]:
    """One fresh interpreter importing ``module``: (in-process seconds, wall seconds)."""
    code = f"import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"
    started = time.perf_counter()
    out = subprocess.run(
        [python, "-c", code], check=True, cwd="/", env=_env(), capture_output=True, text=True
    )
    wall = time.perf_counter() - started
    return float(out.stdout.strip().splitlines()[-1]), wall


def _importtime(python: str, module: str) -> tuple[float, dict[str, float]]:
    """``python -X importtime -c "import MODULE"``: the module's cumulative seconds, and the
    self time summed per top-level package."""
    out = subprocess.run(
        [python, "-X", "importtime", "-c", f"import {module}"],
        check=True,
        cwd="/",
        env=_env(),
        capture_output=True,
        text=True,
    )
    total = 0.0
    by_package: dict[str, float] = {}
    for line in out.stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        own, cumulative, name = line.split(":", 1)[1].split("|")
        name = name.strip()
        if name == module:
            total = int(cumulative) / 1e6
        package = name.split(".")[0]
        by_package[package] = by_package.get(package, 0.0) + int(own) / 1e6
    return total, by_package


def _bare(python: str) -> float:
    return wall_seconds([python, "-c", "pass"], env=_env())


def run(ctx: Context) -> list[Table]:
    # Cheap imports get more runs than runpod's 1.5 s one: the minimum needs a quiet moment.
    reps, slow_reps = (5, 2) if ctx.quick else (15, 5)
    clean = clean_venv()
    bench = sys.executable
    log(f"{NAME}: {reps} interleaved runs per figure ({slow_reps} of `import runpod`)")
    # (label, python, module)
    cases: list[tuple[str, str | None, str]] = [
        ("`runpod_facade`, clean venv", str(clean) if clean else None, "runpod_facade"),
        ("`httpx` alone, clean venv", str(clean) if clean else None, "httpx"),
        ("`runpod_facade`, bench venv (runpod-python's extras installed)", bench, "runpod_facade"),
        ("`runpod` (runpod-python 1.12), bench venv", bench if ctx.runpod else None, "runpod"),
    ]
    live = [(label, python, module) for label, python, module in cases if python is not None]
    pythons = sorted({python for _, python, _ in live})
    warm_env = _env()
    warm_env.pop("PYTHONDONTWRITEBYTECODE", None)
    for _, python, module in live:  # warm-up: write .pyc, fill the page cache
        subprocess.run([python, "-c", f"import {module}"], check=True, cwd="/", env=warm_env)
    timer: dict[str, list[float]] = {label: [] for label, _, _ in live}
    cumulative: dict[str, list[float]] = {label: [] for label, _, _ in live}
    wall: dict[str, list[float]] = {label: [] for label, _, _ in live}
    bare: dict[str, list[float]] = {python: [] for python in pythons}
    breakdown: dict[str, float] = {}
    slow_turns = {index * reps // slow_reps for index in range(slow_reps)}
    for rep in range(reps):
        for python in pythons:
            bare[python].append(_bare(python))
        for label, python, module in rotated(live, rep):
            if module == "runpod" and rep not in slow_turns:
                continue
            seconds, whole = _timer(python, module)
            timer[label].append(seconds)
            wall[label].append(whole)
            if label == cases[0][0]:  # -X importtime: the façade in the clean venv only
                total, by_package = _importtime(python, module)
                cumulative[label].append(total)
                if not breakdown or total < breakdown["__total__"]:
                    breakdown = {**by_package, "__total__": total}

    table = Table(
        f"Cold import in a fresh interpreter ({reps} runs each, {slow_reps} of `import runpod`, "
        "interleaved; .pyc and OS caches warm)",
        [
            "import",
            "in-process timer ms (min / median)",
            "`-X importtime` cumulative ms (min / median)",
            "wall ms minus bare interpreter (min / median)",
            "vs `runpod_facade` in the clean venv (min)",
        ],
    )
    first = cases[0][0]
    base = minimum(timer[first]) if first in timer else float("nan")
    for label, interpreter, _ in cases:
        if interpreter is None:
            table.rows.append([label, NA, NA, NA, NA])
            continue
        idle = minimum(bare[interpreter])
        table.rows.append(
            [
                label,
                f"{ms(minimum(timer[label]))} / {ms(median(timer[label]))}",
                f"{ms(minimum(cumulative[label]))} / {ms(median(cumulative[label]))}"
                if cumulative[label]
                else "—",
                f"{ms(minimum(wall[label]) - idle)} / {ms(median(wall[label]) - idle)}",
                ratio(minimum(timer[label]), base),
            ]
        )
    bare_text = ", ".join(
        f"{'clean' if python != bench else 'bench'} venv {ms(minimum(values))} ms"
        for python, values in bare.items()
    )
    table.notes += [
        f"Bare interpreter start-up (its minimum is subtracted from the wall column): {bare_text}.",
        "The minimum is the figure to compare: start-up is fixed work, and a busy machine "
        "only ever adds to it; the median shows how much the run was disturbed.",
    ]
    if clean is None:
        table.notes.append(
            f"The clean venv `{IMPORT_VENV.name}/` could not be built (no package index?)."
        )
    if breakdown:
        groups = {
            "httpx + httpcore + h11 + anyio + idna + certifi": (
                "httpx",
                "httpcore",
                "h11",
                "anyio",
                "idna",
                "certifi",
                "sniffio",
            ),
            "runpod_generated + attrs": ("runpod_generated", "attr", "attrs"),
            "runpod_facade itself": ("runpod_facade",),
            "asyncio": ("asyncio",),
            "ssl": ("ssl", "_ssl"),
        }
        found = [
            f"{label} {ms(sum(breakdown.get(name, 0.0) for name in names))} ms"
            for label, names in groups.items()
        ]
        table.notes.append(
            f"Where `import runpod_facade` spends its {ms(breakdown['__total__'])} ms in the "
            "clean venv (`-X importtime` of the fastest run, self time summed per package; "
            "the rest is other stdlib): " + "; ".join(found) + "."
        )
    table.notes.append(
        "In the bench venv, `import httpx` also imports rich, click and pygments (httpx's "
        "CLI, loaded by `httpx/__init__` whenever they are installed, as runpod-python's "
        "dependencies are): the difference between the first and third rows."
    )
    value = minimum(timer[first]) if first in timer else None
    ctx.target(
        f"cold `import runpod_facade` ≤ {TARGET_S * 1000:.0f} ms in a clean venv "
        f"(in-process timer, min of {reps})",
        NA if value is None else f"{value * 1000:.0f} ms",
        None if value is None else value <= TARGET_S,
    )
    return [table]
