"""Orchestrator: ``python -m benchmarks [--quick] [--only NAME ...] [--output FILE]``.

Runs the benchmarks listed in :data:`BENCHMARKS` in order, each a module of this package with
a ``run(ctx) -> list[Table]`` function, and writes one Markdown document: the machine, the
targets (met / missed), then every benchmark's tables. A full run (no ``--quick``, no
``--only``) writes ``benchmarks/results.md`` and the chart beside it unless ``--output`` says
otherwise; other runs print to stdout and write only when given ``--output``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from ._common import BENCH_DIR, ROOT, Context, Table, log, machine_section, runpod_available

#: Every benchmark, in the order a full run takes them. Adding one: a module
#: ``benchmarks/NAME.py`` with ``run(ctx: Context) -> list[Table]``, and its name here.
BENCHMARKS: tuple[str, ...] = (
    "overhead",
    "latency",
    "throughput",
    "instructions",
    "headofline",
    "streaming",
    "import_time",
    "memory",
    "map_memory",
    "lb_throughput",
    "rate_limits",
)
DEFAULT_OUTPUT = BENCH_DIR / "results.md"

INTRO = (
    "Produced by `make bench` (`python -m benchmarks`). Every server runs in a process of its "
    "own, never in the clients' process: the minimal asyncio server of "
    "`benchmarks/fastserver.py` (jobs are timers) for everything that measures client cost, "
    "and the project's local endpoint (`runpod_facade.local`, running a real handler) for "
    "latency and streaming. Each client is compared with baselines measured in the "
    "same run, as ratios; nothing here is a pass/fail timing test. See `benchmarks/README.md` "
    "for what each benchmark measures and how."
)


def _names(values: Sequence[str]) -> list[str]:
    names = [name.strip() for value in values for name in value.split(",") if name.strip()]
    unknown = [name for name in names if name not in BENCHMARKS]
    if unknown:
        raise SystemExit(f"unknown benchmark(s) {unknown}; choose from {', '.join(BENCHMARKS)}")
    return [name for name in BENCHMARKS if name in names]  # the canonical order


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--quick", action="store_true", help="fewer iterations, for development")
    parser.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="NAME",
        help=f"run only these (repeatable or comma-separated): {', '.join(BENCHMARKS)}",
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=None,
        help=f"Markdown file to write; the chart goes beside it (default: "
        f"{DEFAULT_OUTPUT.relative_to(ROOT)} for a full run, nothing otherwise)",
    )
    args = parser.parse_args(argv)
    names = _names(args.only) if args.only else list(BENCHMARKS)
    full = not args.quick and not args.only
    output: Path | None = args.output or (DEFAULT_OUTPUT if full else None)

    started = dt.datetime.now(dt.UTC)
    clock = time.perf_counter()
    has_runpod = runpod_available()
    if not has_runpod:
        log("runpod-python is not installed: its rows read n/a (use `make bench`)")
    machine = machine_section(started, args.quick)  # before any file here is rewritten
    ctx = Context(
        quick=args.quick,
        runpod=has_runpod,
        output_dir=output.resolve().parent if output is not None else None,
    )
    sections: list[str] = []
    for index, name in enumerate(names, 1):
        log(f"[{index}/{len(names)}] {name}")
        section_started = time.perf_counter()
        module = importlib.import_module(f"benchmarks.{name}")
        tables: list[Table] = module.run(ctx)
        sections += [table.markdown() for table in tables]
        log(f"[{index}/{len(names)}] {name} done in {time.perf_counter() - section_started:.0f} s")
    elapsed = time.perf_counter() - clock

    parts = [
        "# runpod-facade benchmarks",
        INTRO,
        "## Machine\n\n" + machine,
    ]
    if ctx.targets:
        targets = Table("Targets (issue #11)", ["target", "measured", "verdict"], ctx.targets)
        parts.append("## Targets\n\n" + targets.markdown().split("\n", 2)[2])
    parts += ["## Results", *sections, f"_Whole run: {elapsed:.0f} s._"]
    document = "\n\n".join(parts)
    print(document)
    if output is not None:
        output.write_text(document + "\n", encoding="utf-8")
        log(f"wrote {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
