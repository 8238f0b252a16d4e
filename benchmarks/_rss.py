"""Peak resident memory of this process, for children that measure their own memory.

Imports next to nothing on purpose: whatever a memory probe imports shows up in its RSS.
"""

from __future__ import annotations

import resource


def peak_rss_kib() -> int:
    """Peak RSS of this process image, in KiB.

    ``VmHWM`` from /proc belongs to the current address space; ``getrusage().ru_maxrss`` is
    only the fallback, because Linux carries it across ``execve``: a child started from a
    big parent would report the parent's peak.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux


def current_rss_kib() -> int:
    """Resident memory right now (``VmRSS``), in KiB; 0 where /proc is missing."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0
