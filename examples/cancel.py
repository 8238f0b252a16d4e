"""Cancel a queued or running job.

Twin of "Cancel" in the JS SDK docs (``run`` then ``endpoint.cancel(id)``) and the Go SDK docs
(``endpoint.Cancel(&CancelInput{Id})``).

Where the seeds mislead:
* The Go sample prints the cancel reply as "health output" (a copy-paste slip).
* Cancelling a job that already finished does not turn it CANCELLED: the reply then carries
  its real terminal status, so check ``state.status`` rather than assuming.
* Waiting on a cancelled job raises ``JobCancelled`` (``job.wait()``), and a stream of a
  cancelled job simply ends with ``stream.status == "CANCELLED"``.
"""

from runpod_facade import Endpoint, JobCancelled


def main() -> None:
    with Endpoint() as endpoint:
        job = endpoint.run({"prompt": "Hello, World!"})
        state = job.cancel()
        print(f"cancel: job {state.id} is {state.status}")
        try:
            job.wait(timeout=60)
            print("the job had already completed")
        except JobCancelled:
            print("wait() raised JobCancelled, as expected")


if __name__ == "__main__":
    main()
