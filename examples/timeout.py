"""Timeouts: of each HTTP request, of waiting for a result, and of the job itself.

Twin of "Timeout" in the JS SDK docs (``endpoint.run(request, 5000)``) and the Go SDK docs
(``RunInput{RequestTimeout: 120}``).

Where the seeds mislead (api-contract §6.6):
* The JS docs say the value is a "timeout on a run"; it is only the HTTP timeout of the
  enqueue request, in milliseconds (Go: seconds). It does not limit the job at all.
* The Go sample does not compile (``Input: map[string]interface{}`` has no value).

Here all durations are seconds (or ``timedelta``), and the three kinds are separate:
* ``Endpoint(timeout=5)``: each HTTP request (long-polls extend it by themselves);
* ``job.wait(timeout=60)``: how long *you* wait (``WaitTimeout``; the job goes on);
* ``ExecutionPolicy(execution_timeout=...)``: how long the *job* may run on the server
  (``JobTimedOut``) — see ``execution_policy.py``.
"""

from runpod_facade import Endpoint, WaitTimeout


def main() -> None:
    with Endpoint(timeout=5) as endpoint:  # each HTTP request: 5 s
        job = endpoint.run({"prompt": "Hello, World!"})
        print(f"queued job {job.id}")
        try:
            print("output:", job.wait(timeout=60).output)  # waiting for the result: 60 s
        except WaitTimeout as exc:
            status = exc.last_state.status if exc.last_state else "unknown"
            print(f"no result within 60 s; job {exc.job_id} goes on (last status {status})")


if __name__ == "__main__":
    main()
