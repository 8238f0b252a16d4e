"""Poll the status of an asynchronous run, printing each status as it changes.

Twin of "Poll the status of an asynchronous run" in the JS SDK docs (``endpoint.status(id)``
every 5 s until COMPLETED or FAILED).

Where the seed misleads:
* It treats only COMPLETED and FAILED as final; CANCELLED and TIMED_OUT are final too and
  would make it poll forever. ``JobState.is_terminal`` knows all four.
* It needs no hand-written loop: ``job.wait(on_status=...)`` calls you with every state it
  sees. The explicit loop is shown too, for when you want to do other work between polls.
"""

import time

from runpod_facade import Endpoint, JobState


def main() -> None:
    with Endpoint() as endpoint:
        # 1. The explicit loop, as in the seed, but ending on every terminal status.
        job = endpoint.run({"prompt": "Hello, World!"})
        delay = 0.25
        while True:
            state = endpoint.status(job.id)
            print(f"current status: {state.status}")
            if state.is_terminal:
                break
            time.sleep(delay)
            delay = min(delay * 2, 5.0)  # back off, up to the seed's 5 s
        if state.is_completed:
            print("output:", state.output)
        else:
            print(f"job ended {state.status}:", state.error)

        # 2. The same with wait(): it polls for you and reports each state.
        def show(state: JobState) -> None:
            print(f"  seen: {state.status}")

        job = endpoint.run({"prompt": "Hello again"})
        print("output:", job.wait(timeout=300, on_status=show).output)


if __name__ == "__main__":
    main()
