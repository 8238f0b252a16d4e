"""What a batch journal's commits cost the thread that makes them — the event loop, for
``AsyncEndpoint.map(journal=...)``: each write is one SQLite transaction made inline.

    .venv/bin/python -m benchmarks.journal_commits               # 10,000 items, 3 rounds
    .venv/bin/python -m benchmarks.journal_commits --items 2000

One item of a journaled batch commits three times: ``SENDING`` (before its submit leaves),
``ACCEPTED`` (its job id) and ``FINAL`` (just before it is yielded), and reads its row once
when its input is taken. This replays exactly that sequence on a fresh journal in a temporary
directory and prints the time of one commit (median, p99, max — WAL checkpoints are the
spikes) and of one item's four statements. Nothing asserts.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from runpod_facade._batches.journal import Journal, fingerprint

RAW = b'{"id":"job-%d","status":"COMPLETED","output":{"n":%d},"executionTime":12}'


def one_round(items: int) -> tuple[list[float], list[float]]:
    """Seconds per commit and per item, over ``items`` items."""
    commits: list[float] = []
    per_item: list[float] = []
    clock = time.perf_counter
    with tempfile.TemporaryDirectory() as tmp:
        journal = Journal(Path(tmp) / "bench.journal", "bench-endpoint")
        try:
            for index in range(items):
                job_id = f"job-{index}"
                digest = fingerprint(b'{"input":{"n":%d}}' % index)
                first = clock()
                journal.entry(index)
                started = clock()
                journal.sending(index, digest, duplicate=False)
                sent = clock()
                journal.accepted(index, job_id)
                accepted = clock()
                journal.final_state(index, job_id, "COMPLETED", RAW % (index, index))
                done = clock()
                commits += [sent - started, accepted - sent, done - accepted]
                per_item.append(done - first)
        finally:
            journal.close()
    return commits, per_item


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    for round_ in range(1, args.rounds + 1):
        commits, items = one_round(args.items)
        commits.sort()
        ms = [value * 1000 for value in commits]
        print(
            f"round {round_}: {len(ms):,} commits: median {statistics.median(ms):.3f} ms, "
            f"p99 {ms[int(len(ms) * 0.99)]:.3f} ms, max {ms[-1]:.2f} ms; per item (1 read + 3 "
            f"commits): median {statistics.median(items) * 1000:.3f} ms, "
            f"total {sum(items):.2f} s"
        )


if __name__ == "__main__":
    main()
