"""Running Python in a subprocess that obeys file permissions, even as root.

Root ignores a file's or directory's mode bits (``CAP_DAC_OVERRIDE``), so a test of a
read-only journal would pass for the wrong reason there. :func:`unprivileged_python` starts
``python`` through a launcher that drops those capabilities from its bounding set before
``exec``: the new program is still root, but ``chmod a-w`` holds for it as for anyone.
"""

from __future__ import annotations

import sys

__all__ = ["unprivileged_python"]

_LAUNCHER = """
import ctypes, os, sys
if os.geteuid() == 0:
    libc = ctypes.CDLL(None, use_errno=True)
    # PR_CAPBSET_DROP: CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER, CAP_LINUX_IMMUTABLE
    for cap in (1, 2, 3, 9):
        if libc.prctl(24, cap, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP) failed")
os.execv(sys.executable, [sys.executable, *sys.argv[1:]])
"""


def unprivileged_python(*args: str) -> list[str]:
    """The command line of ``python ARGS`` run without permission overrides."""
    return [sys.executable, "-c", _LAUNCHER, *args]
