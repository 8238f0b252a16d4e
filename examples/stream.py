"""Stream the output of a generator handler as it is produced.

Twin of "Stream" in the JS SDK docs (``for await (const result of endpoint.stream(id))``) and
the Go SDK docs (``endpoint.Stream(&StreamInput{Id}, streamChan)``).

Where the seeds mislead:
* Both say the handler must enable ``return_aggregate_stream``. Streaming only needs a
  generator handler (one that ``yield``s); ``return_aggregate_stream`` additionally makes the
  whole list of chunks the job's final ``output`` for ``/run`` and ``/runsync`` callers.
* The JS sample prints ``{"output": ...}`` objects: here each item is the chunk itself.
* The Go sample reads the channel only after ``Stream`` returned and panics on a timeout.
  Here chunks arrive as the worker yields them; ``timeout`` bounds the whole stream and
  ``idle_timeout`` the gap between chunks (both raise ``WaitTimeout`` with the job id).
* A stream ends on COMPLETED or CANCELLED (see ``stream.status``); a FAILED or TIMED_OUT job
  raises ``JobFailed`` / ``JobTimedOut`` after the chunks already yielded.
"""

from runpod_facade import Endpoint


def main() -> None:
    with Endpoint() as endpoint:
        job = endpoint.run({"prompt": "Hello, World!"})
        print(f"job {job.id} queued")
        with job.stream(timeout=300, idle_timeout=120) as stream:
            for chunk in stream:
                print("chunk:", chunk, flush=True)
        print(f"done streaming ({stream.status}, {stream.progress.chunks} chunks)")


if __name__ == "__main__":
    main()
