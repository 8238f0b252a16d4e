"""The client of the batch crash test: maps N inputs with a journal and writes one JSON line
per item as it comes (flushed, so a SIGKILL loses at most the item in hand).

    python -m tests.integration.batch_client BASE_URL ENDPOINT_ID JOURNAL OUTPUT N CONCURRENCY
"""

from __future__ import annotations

import dataclasses
import json
import sys

from runpod_facade import Endpoint, PollPolicy


def main() -> None:
    base_url, endpoint_id, journal, output = sys.argv[1:5]
    count, concurrency = int(sys.argv[5]), int(sys.argv[6])
    inputs = ({"n": n, "seconds": 0.02 + (n % 7) * 0.02} for n in range(count))
    poll = PollPolicy(initial=0.02, maximum=0.1)
    with (
        Endpoint(endpoint_id, base_url=base_url, api_key="rp_unused", poll_policy=poll) as ep,
        open(output, "a", encoding="utf-8") as out,
    ):
        results = ep.map(inputs, concurrency=concurrency, journal=journal)
        for item in results:
            record = {
                "index": item.index,
                "job_id": item.job_id,
                "status": None if item.status is None else str(item.status),
                "output": item.output,
                "error": None if item.error is None else repr(item.error),
                "final": item.final,
                "resumed": item.resumed,
                "dup": item.possibly_duplicated,
            }
            out.write(json.dumps(record) + "\n")
            out.flush()
        print(json.dumps(dataclasses.asdict(results.stats)), flush=True)


if __name__ == "__main__":
    main()
