"""Mutation score per module from mutmut's results (``mutants/**.meta``), after ``make
mutation``. Equivalent mutants — listed in docs/mutation.md as ``- `name`: reason`` — leave the
denominator; every other mutant that no test killed counts against the score, also one no test
reached. Exits 1 when a module scores below the threshold, or a listed equivalent mutant no
longer exists or is killed (the list must stay true)."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MUTANTS = ROOT / "mutants"
DOC = ROOT / "docs" / "mutation.md"
THRESHOLD = 95.0

# mutmut's exit codes: 1/3 a test failed (killed), 0 survived, 5/33 no test ran it,
# 36/24/-24/152/255 timeout (an infinite loop is caught: killed), None not checked yet.
KILLED = {1, 3, 36, 24, -24, 152, 255, 37}
SURVIVED = {0}
NO_TESTS = {5, 33}


def equivalent_names() -> dict[str, str]:
    names: dict[str, str] = {}
    if DOC.exists():
        for match in re.finditer(r"^- `([^`]+)`: (.+)$", DOC.read_text("utf-8"), re.MULTILINE):
            names[match.group(1)] = match.group(2)
    return names


def main() -> int:
    metas = sorted(MUTANTS.glob("runpod_facade/*.py.meta"))
    if not metas:
        print("no mutmut results: run `make mutation` first", file=sys.stderr)
        return 1
    equivalent = equivalent_names()
    seen: set[str] = set()
    failures: list[str] = []
    rows = []
    totals = [0, 0, 0, 0, 0, 0]
    for meta in metas:
        module = meta.name.removesuffix(".py.meta")
        codes: dict[str, int | None] = json.loads(meta.read_text())["exit_code_by_key"]
        counts = {"killed": 0, "survived": 0, "no tests": 0, "unchecked": 0, "equivalent": 0}
        left: list[str] = []
        for name, code in sorted(codes.items()):
            if name in equivalent:
                seen.add(name)
                counts["equivalent"] += 1
                if code in KILLED:
                    failures.append(f"{name} is listed as equivalent but a test kills it")
                continue
            if code in KILLED:
                counts["killed"] += 1
            elif code in SURVIVED:
                counts["survived"] += 1
                left.append(name)
            elif code in NO_TESTS:
                counts["no tests"] += 1
                left.append(name)
            else:
                counts["unchecked"] += 1
        scored = len(codes) - counts["equivalent"]
        score = 100.0 * counts["killed"] / scored if scored else 100.0
        rows.append((module, len(codes), counts, score, left))
        for i, key in enumerate(("killed", "survived", "no tests", "unchecked", "equivalent")):
            totals[i] += counts[key]
        totals[5] += len(codes)
        if counts["unchecked"]:
            failures.append(f"{module}: {counts['unchecked']} mutants not checked yet")
        if score < THRESHOLD:
            failures.append(f"{module}: {score:.1f} % < {THRESHOLD} %")
    for name in sorted(set(equivalent) - seen):
        failures.append(f"{name} is listed as equivalent but no such mutant exists")

    print("| module | mutants | killed | survived | no test | equivalent | score |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for module, total, c, score, _ in rows:
        print(
            f"| `{module}` | {total} | {c['killed']} | {c['survived']} | {c['no tests']} "
            f"| {c['equivalent']} | {score:.1f} % |"
        )
    killed, survived, no_tests, _, eq, total = totals
    overall = 100.0 * killed / (total - eq) if total > eq else 100.0
    print(f"| **all** | {total} | {killed} | {survived} | {no_tests} | {eq} | {overall:.1f} % |")
    for *_, left in rows:
        for name in left:
            print(f"survivor: {name}")
    for failure in failures:
        print(f"FAIL: {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
