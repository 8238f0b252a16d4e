"""Lines of the hand-written façade per layer: everything in runpod_facade/ outside cli/,
local/, testing/ and demo.py, which are applications of it.

`python scripts/layer_lines.py [DIR]` prints the lines per layer, the total, and the total
within issue #17's scope: the queue-endpoint façade, i.e. without the surfaces added after
it was filed (load-balancing endpoints #18; the Batch Jobs API, rate limits and webhook
security #19). That scope measured 6,712 lines when #17 was filed (commit eddc94b: 7,283 with
the 571 lines of demo.py)."""

from __future__ import annotations

import sys
from pathlib import Path

APPLICATIONS = {"cli", "local", "testing", "demo.py"}
#: Added by issues #18 and #19, after #17's baseline was measured.
LATER_SURFACES = {
    "_loadbalancing",
    "_batchjobs",
    "_rate_limits.py",
    "_webhook_security.py",
    "_core/pacing.py",
}


def layer_of(parts: tuple[str, ...]) -> str:
    return parts[0] if len(parts) > 1 else "(foundation and public modules)"


def is_later_surface(parts: tuple[str, ...]) -> bool:
    return parts[0] in LATER_SURFACES or "/".join(parts) in LATER_SURFACES


def main() -> None:
    package = Path(sys.argv[1] if len(sys.argv) > 1 else "runpod_facade")
    totals: dict[str, int] = {}
    queue_scope = 0
    for path in sorted(package.rglob("*.py")):
        parts = path.relative_to(package).parts
        if parts[0] in APPLICATIONS:
            continue
        lines = len(path.read_text(encoding="utf-8").splitlines())
        totals[layer_of(parts)] = totals.get(layer_of(parts), 0) + lines
        if not is_later_surface(parts):
            queue_scope += lines
    for layer, lines in sorted(totals.items(), key=lambda item: -item[1]):
        print(f"{lines:6d}  {layer}")
    print(f"{sum(totals.values()):6d}  total")
    print(f"{queue_scope:6d}  queue-endpoint façade (issue #17's scope; 6,712 when filed)")


if __name__ == "__main__":
    main()
