"""Remove every queued job of an endpoint. Jobs already running keep running.

Twin of "Purge queue" in the JS SDK docs (``endpoint.purgeQueue()``) and the Go SDK docs
(``endpoint.PurgeQueue(&PurgeQueueInput{RequestTimeout: 5})``).

Careful: this removes *every* queued job of the endpoint, including other people's.

Where the seeds mislead:
* The reply's ``status`` is ``"completed"`` (lower case): it says the purge went through; it
  is not a job status. ``removed`` is the number of jobs taken off the queue.
* Purged jobs end CANCELLED: waiting on one raises ``JobCancelled``.
"""

from runpod_facade import Endpoint


def main() -> None:
    with Endpoint() as endpoint:
        job = endpoint.run({"prompt": "Hello, World!"})
        result = endpoint.purge_queue()
        print(f"status: {result.status}")
        print(f"removed: {result.removed}")
        print(f"job {job.id} is now {endpoint.status(job.id).status}")


if __name__ == "__main__":
    main()
