"""Get the status of a job.

Twin of "Status" in the JS SDK docs (``run`` then ``endpoint.status(id)``) and the Go SDK
docs (``endpoint.Status(&StatusInput{Id})`` with a known id).

Usage: ``python examples/status.py [JOB_ID]`` — without a JOB_ID a job is queued first.

Where the seeds mislead:
* The Go output sample shows ``started``, ``completed`` and ``succeeded``: the API sends no
  such fields (the JS client adds them; api-contract §6.8). Use ``state.status`` and
  ``state.is_terminal`` / ``state.is_completed``.
* The Go SDK sends ``POST /status``; the documented method is ``GET`` (api-contract §6.1).
* A job whose result has expired (30 min after ``/run``, 1 min after ``/runsync``, or its
  TTL) is gone: ``status`` raises ``NotFoundError`` rather than returning an empty status.
"""

import sys

from runpod_facade import Endpoint


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    with Endpoint() as endpoint:
        job_id = args[0] if args else endpoint.run({"prompt": "Hello, World!"}).id
        state = endpoint.status(job_id)
    print(f"job {state.id}: {state.status}")
    print(f"  queued for {state.delay_time}, ran for {state.execution_time}")
    if state.output is not None:
        print("  output:", state.output)
    if state.error:
        print("  error:", state.error)


if __name__ == "__main__":
    main()
