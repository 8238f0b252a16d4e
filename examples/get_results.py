"""Get the result of an asynchronous run.

Twin of "Get results from an asynchronous run" in the JS SDK docs and the Go SDK docs: both
call ``run`` and then ``status`` in a loop, sleeping 5 s between checks.

Where the seeds mislead:
* Their loops stop only on COMPLETED or FAILED: a CANCELLED or TIMED_OUT job makes the JS
  loop run out of its 20 tries and the Go loop spin forever. ``job.wait()`` ends on every
  terminal state: it returns the output of a COMPLETED job and raises ``JobFailed``,
  ``JobCancelled`` or ``JobTimedOut`` otherwise.
* A fixed 5 s sleep makes every result up to 5 s late; ``wait`` long-polls the server (or
  polls ``/status`` with a growing interval) so the result comes as soon as it exists.
* The Go loop retries a failing status call forever; ``wait`` retries transient errors a
  bounded number of times and stops at ``timeout`` with ``WaitTimeout`` (carrying the id).
"""

from runpod_facade import Endpoint, JobError, WaitTimeout


def main() -> None:
    with Endpoint() as endpoint:
        job = endpoint.run({"prompt": "Hello, World!"})
        print(f"run response: job {job.id}")
        try:
            output = job.wait(timeout=300).output
        except JobError as exc:  # FAILED, CANCELLED or TIMED_OUT; exc.state has the details
            print(f"operation ended {exc.state.status}: {exc}")
            raise
        except WaitTimeout:
            print(f"still running after 300 s; check later with endpoint.status({job.id!r})")
            raise
        print("operation completed successfully.")
        print("output:", output)


if __name__ == "__main__":
    main()
