"""Job commands: ``run``, ``run-sync``, ``status``, ``wait``, ``cancel``, ``retry`` (and
``stream``, registered from :mod:`._stream`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._status import JobStatus
from .._types import JobState
from . import _stream
from ._context import Context
from ._errors import PROG
from ._exit import EXIT_OK
from ._input import policy_from, read_input
from ._options import add_command, add_input_options, add_wait_options
from ._output import headline, state_json

if TYPE_CHECKING:
    from ._options import Subparsers

__all__ = ["register"]

# What an interrupt says when /runsync's reply, the only carrier of the id, has not come.
_NO_ID_YET = (
    "no job id had arrived yet: /runsync hands out the id only with its reply, so the job "
    "may still run and there is no id to resume or cancel it by; "
    f"'{PROG} run --wait' gets the id at once"
)
_NO_RUN_ID_YET = (
    "no job id had arrived yet (the /run reply carries it): the job may have been queued"
)


def _run(ctx: Context) -> int:
    args = ctx.args
    payload = read_input(args)
    policy = policy_from(args)
    with ctx.endpoint(waits=args.wait) as endpoint:
        ctx.awaiting_id = _NO_RUN_ID_YET
        job = endpoint.run(payload, policy=policy, webhook=args.webhook)
        ctx.awaiting_id, ctx.job_id = None, job.id
        if not args.wait:
            state = job.last_state or JobState(id=job.id, status=JobStatus.IN_QUEUE)
            if args.quiet:
                ctx.output.line(job.id)
            elif ctx.output.as_json:
                ctx.output.json(state_json(state))
            else:
                ctx.output.line(headline(state))
                ctx.output.note(f"wait for it with: {PROG} wait {job.id}")
            return EXIT_OK
        if not ctx.output.as_json:
            ctx.output.note(f"job {job.id} queued")
        ctx.output.state(ctx.wait(job))
    return EXIT_OK


def _run_sync(ctx: Context) -> int:
    args = ctx.args
    payload = read_input(args)
    policy = policy_from(args)
    with ctx.endpoint(waits=True) as endpoint:
        line = ctx.status_line("run-sync", status="submitted, waiting for the result")

        def seen(state: JobState) -> None:
            ctx.seen(state)  # the first state carries the id: from here on it can be resumed
            line.update(state)

        ctx.awaiting_id = _NO_ID_YET
        with line:
            state = endpoint.run_sync(
                payload,
                timeout=args.timeout,
                policy=policy,
                webhook=args.webhook,
                cancel_on_timeout=args.cancel_on_timeout,
                cancel_on_interrupt=args.cancel_on_interrupt,
                on_status=seen,
            )
    ctx.output.state(state)
    return EXIT_OK


def _status(ctx: Context) -> int:
    with ctx.endpoint(waits=False) as endpoint:
        state = endpoint.status(ctx.args.job_id)
    ctx.output.state(state)
    return EXIT_OK


def _wait(ctx: Context) -> int:
    with ctx.endpoint(waits=True) as endpoint:
        ctx.output.state(ctx.wait(endpoint.job(ctx.args.job_id)))
    return EXIT_OK


def _cancel(ctx: Context) -> int:
    with ctx.endpoint(waits=False) as endpoint:
        state = endpoint.cancel(ctx.args.job_id)
    ctx.output.state(state)
    return EXIT_OK


def _retry(ctx: Context) -> int:
    args = ctx.args
    with ctx.endpoint(waits=args.wait) as endpoint:
        job = endpoint.retry(args.job_id)
        ctx.job_id = job.id
        if not args.wait:
            state = job.last_state or JobState(id=job.id, status=JobStatus.IN_QUEUE)
            if ctx.output.as_json:
                ctx.output.json(state_json(state))
            else:
                ctx.output.line(f"{headline(state)} (requeued)")
            return EXIT_OK
        ctx.output.state(ctx.wait(job))
    return EXIT_OK


def register(commands: Subparsers) -> None:
    """Add the job commands to ``commands``."""
    run = add_command(
        commands,
        "run",
        _run,
        "queue a job and print its id",
        "Queue a job (/run) and print its id and status. With --wait, wait for it and print "
        "its result, as run-sync does.",
    )
    add_input_options(run)
    run.add_argument("--wait", action="store_true", help="wait for the result")
    run.add_argument(
        "-q", "--quiet", action="store_true", help="print only the job id (without --wait)"
    )
    add_wait_options(run)

    run_sync = add_command(
        commands,
        "run-sync",
        _run_sync,
        "run a job and wait for its result",
        "Run a job (/runsync, then long-polls) and print its result. /runsync hands out the "
        "job id only with its reply: use 'run --wait' to have the id at once.",
    )
    add_input_options(run_sync)
    add_wait_options(run_sync)

    status = add_command(commands, "status", _status, "print a job's current state")
    status.add_argument("job_id", metavar="JOB_ID")

    wait = add_command(
        commands,
        "wait",
        _wait,
        "wait for a job and print its result",
        "Wait until the job finishes and print its result; the exit code tells how it ended.",
    )
    wait.add_argument("job_id", metavar="JOB_ID")
    add_wait_options(wait)

    _stream.register(commands)

    cancel = add_command(commands, "cancel", _cancel, "cancel a queued or running job")
    cancel.add_argument("job_id", metavar="JOB_ID")

    retry = add_command(
        commands,
        "retry",
        _retry,
        "requeue a FAILED or TIMED_OUT job",
        "Requeue a FAILED or TIMED_OUT job with its original input; the id stays the same.",
    )
    retry.add_argument("job_id", metavar="JOB_ID")
    retry.add_argument("--wait", action="store_true", help="wait for the result")
    add_wait_options(retry)
