"""The throughput chart (``benchmarks/throughput.svg``), drawn with matplotlib.

matplotlib is installed only in the bench venv (see the Makefile); :mod:`benchmarks.throughput`
calls :func:`throughput_chart` after its last round. The SVG keeps text as text and carries no
date, so two runs with the same numbers write the same file.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt

PEER_COLOR = "#9a9a9a"
FACADE_COLOR = "#2f6db5"
RAW_COLOR = "#7fa7d4"


def _color(client: str) -> str:
    if client.startswith("runpod-python"):
        return PEER_COLOR
    return FACADE_COLOR if client.startswith("façade") else RAW_COLOR


def throughput_chart(
    rows: Sequence[dict[str, Any]],
    path: Path,
    *,
    title: str,
    workloads: Sequence[tuple[str, str]],
) -> None:
    """One horizontal bar panel per workload: jobs/s per client (``rate`` None: n/a)."""
    matplotlib.rcParams.update(
        {"svg.fonttype": "none", "svg.hashsalt": "runpod-facade-bench", "font.size": 9}
    )
    clients = list(dict.fromkeys(row["client"] for row in rows))
    figure, axes = plt.subplots(
        1, len(workloads), figsize=(11, 0.45 * len(clients) + 1.6), sharey=True
    )
    axes_list = list(axes) if len(workloads) > 1 else [axes]
    for axis, (key, workload_title) in zip(axes_list, workloads, strict=True):
        rates = {row["client"]: row["rate"] for row in rows if row["workload"] == key}
        peer = next((rates[c] for c in clients if c.startswith("runpod-python")), None)
        values = [rates.get(client) or 0.0 for client in clients]
        positions = range(len(clients))
        axis.barh(
            list(positions),
            values,
            color=[_color(client) for client in clients],
            height=0.65,
        )
        top = max(values) if any(values) else 1.0
        for position, client in zip(positions, clients, strict=True):
            rate = rates.get(client)
            if rate is None:
                text = "n/a (not in this build)"
            elif peer:
                text = f"{rate:,.0f}  ({rate / peer:.2f}×)"
            else:
                text = f"{rate:,.0f}"
            axis.text(
                (rate or 0.0) + top * 0.01, position, text, va="center", ha="left", fontsize=8
            )
        axis.set_xlim(0, top * 1.35)
        axis.set_title(f"{workload_title}: jobs/s (× runpod-python)")
        axis.grid(axis="x", color="#e5e5e5")
        axis.set_axisbelow(True)
        for side in ("top", "right"):
            axis.spines[side].set_visible(False)
    axes_list[0].set_yticks(list(range(len(clients))), clients)
    axes_list[0].invert_yaxis()
    figure.suptitle(title, fontsize=10)
    figure.tight_layout()
    figure.savefig(path, format=path.suffix.lstrip(".") or "svg", metadata={"Date": None})
    plt.close(figure)
