"""Wait for a job at most N seconds, and cancel it if it is not done by then.

Combines "Cancel" and "Timeout" of the JS and Go SDK docs: the seeds show a timeout only on
the HTTP call (JS ``run(request, 5000)``, Go ``RequestTimeout``) and cancelling only by hand.
Here a client-side deadline on the *wait* can cancel the remote job for you, so a job you gave
up on does not keep a worker busy (and billing).

``wait(timeout=..., cancel_on_timeout=True)`` raises ``WaitTimeout`` with ``cancelled=True``
and the job id. Without ``cancel_on_timeout`` the job goes on and you can wait again later.
"""

from runpod_facade import Endpoint, WaitTimeout


def main(timeout: float = 30) -> None:
    with Endpoint() as endpoint:
        job = endpoint.run({"prompt": "Hello, World!", "seconds": 60})
        try:
            output = job.wait(timeout=timeout, cancel_on_timeout=True).output
        except WaitTimeout as exc:
            print(f"gave up on job {exc.job_id} after {timeout:g} s; cancelled: {exc.cancelled}")
            print(f"its status now: {endpoint.status(job.id).status}")
        else:
            print("finished in time:", output)


if __name__ == "__main__":
    main()
