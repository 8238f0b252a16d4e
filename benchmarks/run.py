"""``python -m benchmarks.run`` still works: it is ``python -m benchmarks`` (see __main__)."""

from __future__ import annotations

import sys

from .__main__ import main

if __name__ == "__main__":
    sys.exit(main())
