"""Lines of the hand-written façade per layer (everything in runpod_facade/ outside cli/,
local/ and testing/, which are applications of it). `python scripts/layer_lines.py [DIR]`."""

from __future__ import annotations

import sys
from pathlib import Path

APPLICATIONS = {"cli", "local", "testing"}


def layer_of(path: Path, package: Path) -> str:
    parts = path.relative_to(package).parts
    return parts[0] if len(parts) > 1 else "(foundation and public modules)"


def main() -> None:
    package = Path(sys.argv[1] if len(sys.argv) > 1 else "runpod_facade")
    totals: dict[str, int] = {}
    for path in sorted(package.rglob("*.py")):
        parts = path.relative_to(package).parts
        if parts[0] in APPLICATIONS:
            continue
        lines = len(path.read_text(encoding="utf-8").splitlines())
        totals[layer_of(path, package)] = totals.get(layer_of(path, package), 0) + lines
    for layer, lines in sorted(totals.items(), key=lambda item: -item[1]):
        print(f"{lines:6d}  {layer}")
    print(f"{sum(totals.values()):6d}  total")


if __name__ == "__main__":
    main()
