"""Run many jobs concurrently with asyncio.

No direct seed: the JS SDK docs samples are ``async`` but await one job at a time, and the Go
SDK docs have no concurrent helper. This is the asyncio twin of "Run asynchronously" + "Get
results from an asynchronous run", for N jobs at once with ``AsyncEndpoint``:

* ``run_many`` runs a batch with bounded concurrency and one deadline, and returns the final
  states in input order. With ``return_exceptions=True`` a failed job's error (``JobFailed``
  ... carrying ``job_id``) takes its place instead of cancelling the rest.
* ``asyncio.gather`` over ``run`` + ``wait`` is the same by hand, when you want the handles.
"""

import asyncio

from runpod_facade import AsyncEndpoint, JobState, RunpodError


async def run_many(prompts: list[str]) -> list[JobState | RunpodError]:
    async with AsyncEndpoint() as endpoint:
        return await endpoint.run_many(
            [{"prompt": p} for p in prompts], concurrency=8, timeout=600, return_exceptions=True
        )


async def gather(prompts: list[str]) -> list[object]:
    async with AsyncEndpoint() as endpoint:
        jobs = await asyncio.gather(*(endpoint.run({"prompt": p}) for p in prompts))
        print(f"queued {len(jobs)} jobs")
        results: list[object] = await asyncio.gather(
            *(job.wait(timeout=300) for job in jobs), return_exceptions=True
        )
        return results


def main(count: int = 10) -> None:
    prompts = [f"prompt {n}" for n in range(count)]
    for n, result in enumerate(asyncio.run(run_many(prompts))):
        if isinstance(result, RunpodError):
            print(f"{n}: {type(result).__name__}: {result}")
        else:
            print(f"{n}: {result.status} {result.output}")

    for n, outcome in enumerate(asyncio.run(gather(prompts))):
        print(f"gathered {n}: {outcome.output if isinstance(outcome, JobState) else outcome}")


if __name__ == "__main__":
    main()
