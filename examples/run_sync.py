"""Run a job and wait for its result.

Twin of "Run synchronously" in the JS SDK docs (``endpoint.runSync({input})``) and the Go SDK
docs (``endpoint.RunSync(&RunSyncInput{..., Timeout: 120})``).

Where the seeds mislead:
* The Go sample passes ``RUNPOD_BASE_URL`` as the ``EndpointId``; here the endpoint id comes
  from ``RUNPOD_ENDPOINT_ID`` and the base URL (optional) from ``RUNPOD_BASE_URL``.
* The Go sample's output shows ``started``/``completed``/``succeeded``: those are added by the
  JS client, not sent by the API (api-contract §6.8). ``JobState`` has what the API sends.
* Neither seed handles a job that fails: ``run_sync`` raises ``JobFailed`` (or
  ``JobCancelled``/``JobTimedOut``) instead of returning a FAILED result to inspect by hand,
  and ``WaitTimeout`` (with the job id) when ``timeout`` passes — the job goes on.

Run: RUNPOD_ENDPOINT_ID=... RUNPOD_API_KEY=... python examples/run_sync.py
"""

from runpod_facade import Endpoint, JobFailed


def main() -> None:
    with Endpoint() as endpoint:  # RUNPOD_ENDPOINT_ID, RUNPOD_API_KEY, RUNPOD_BASE_URL
        try:
            state = endpoint.run_sync({"prompt": "Hello, World!"}, timeout=120)
        except JobFailed as exc:
            print(f"job {exc.job_id} failed: {exc.error}")
            raise
        print(f"job {state.id} {state.status}")
        print(f"queued for {state.delay_time}, ran for {state.execution_time}")
        print("output:", state.output)


if __name__ == "__main__":
    main()
