"""Queue a job without waiting for it.

Twin of "Run asynchronously" in the JS SDK docs (``endpoint.run({input})``) and the Go SDK
docs (``endpoint.Run(&RunInput{..., RequestTimeout: 120})``).

Where the seeds mislead:
* Go's ``RequestTimeout`` is only the HTTP timeout of the enqueue call, not a limit on the
  job; here that is ``Endpoint(timeout=...)``. Limits on the job belong in
  ``ExecutionPolicy`` (see ``execution_policy.py``).
* The Go sample passes ``RUNPOD_BASE_URL`` as the ``EndpointId``.

``run`` returns a ``Job`` handle at once; keep ``job.id`` to check on it later (see
``get_results.py``, ``status.py``).
"""

from runpod_facade import Endpoint


def main() -> None:
    with Endpoint(timeout=120) as endpoint:
        job = endpoint.run({"prompt": "Hello, World!"})
        print(f"queued job {job.id}: {job.last_state.status if job.last_state else 'IN_QUEUE'}")


if __name__ == "__main__":
    main()
