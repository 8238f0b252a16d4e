"""Limit how long a job may run and live on the server: the execution policy.

Twin of "Execution policy" in the JS SDK docs (``policy: {executionTimeout: 5000}``) and the
Go SDK docs.

Where the seeds mislead:
* The Go docs put ``"ttl": 3600`` and ``"execution_timeout": 300`` inside the job *input*
  (api-contract §6.4). The platform never reads those: the handler just receives them as
  data. The API reads a top-level ``policy`` object in milliseconds —
  ``{"executionTimeout": ..., "ttl": ..., "lowPriority": ...}`` — which ``ExecutionPolicy``
  builds from seconds (or ``timedelta``) and validates (execution timeout 5 s to 7 days,
  TTL 10 s to 7 days) before anything is sent.
* The JS docs describe ``executionTimeout`` as "the maximum time to wait for a response";
  it is how long the job may *run* once a worker takes it. Past it the job ends TIMED_OUT
  (``JobTimedOut`` here). How long you wait is ``wait(timeout=...)``.
"""

from datetime import timedelta

from runpod_facade import Endpoint, ExecutionPolicy, JobTimedOut


def main() -> None:
    policy = ExecutionPolicy(
        execution_timeout=300,  # seconds the job may run once started
        ttl=timedelta(hours=1),  # lifetime from submission, queue time included
        low_priority=False,
    )
    print("policy sent to the API:", policy.to_wire())
    with Endpoint() as endpoint:
        job = endpoint.run({"prompt": "Hello, World!"}, policy=policy)
        print(f"queued job {job.id}")
        try:
            print("output:", job.wait(timeout=600).output)
        except JobTimedOut as exc:
            print(f"job {exc.job_id} ran past its execution timeout: {exc.state.error}")


if __name__ == "__main__":
    main()
