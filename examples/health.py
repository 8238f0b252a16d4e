"""Check an endpoint's health: job counters and worker counters.

Twin of "Health check" in the JS SDK docs (``endpoint.health()``) and the Go SDK docs.

Where the seeds mislead:
* The Go sample builds a ``StatusInput`` with a job id and calls ``endpoint.Status``, then
  prints it as "health output" next to a ``/health`` sample reply (api-contract §6.5). Health
  takes no job id: it is ``GET /{endpoint_id}/health``, ``endpoint.health()`` here.
* Counters the API leaves out (the docs' sample has only ``idle`` and ``running`` workers)
  are 0 in ``Health``, never missing; ``health.raw`` has the reply as received.
"""

from runpod_facade import Endpoint


def main() -> None:
    with Endpoint() as endpoint:
        health = endpoint.health()
    jobs, workers = health.jobs, health.workers
    print(
        f"jobs: {jobs.completed} completed, {jobs.failed} failed, {jobs.in_progress} in "
        f"progress, {jobs.in_queue} in queue, {jobs.retried} retried"
    )
    print(
        f"workers: {workers.idle} idle, {workers.initializing} initializing, {workers.ready} "
        f"ready, {workers.running} running, {workers.throttled} throttled, "
        f"{workers.unhealthy} unhealthy"
    )


if __name__ == "__main__":
    main()
