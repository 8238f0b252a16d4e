"""What one command run shares: its arguments, its output, the client it opens, and the job
it is working on (so an interrupt or a timeout can say how to resume)."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from .._clients.sync import Endpoint, Job
from .._config import ENV_ENDPOINT_ID
from .._core.interrupts import NOTE_PREFIX
from .._core.retry import PollPolicy
from .._types import JobState
from ._errors import PROG, UsageError
from ._live import StatusLine
from ._output import Output
from ._term import is_terminal

__all__ = ["Context"]

_DEFAULT_HTTP_TIMEOUT = 30.0
# Someone watching a status line wants to see progress, not one answer at the very end.
_INTERACTIVE_POLL = PollPolicy(initial=0.25, factor=1.5, maximum=2.0)


class Context:
    """The state of one command run."""

    def __init__(self, args: argparse.Namespace, output: Output) -> None:
        self.args = args
        self.output = output
        self.debug = bool(getattr(args, "debug", False))
        self._job_id: str | None = None
        # Set while a submit is in flight and its reply (the only carrier of the id) has not
        # arrived: what an interrupt should say about the job it may have created.
        self.awaiting_id: str | None = None

    @property
    def job_id(self) -> str | None:
        """The job being worked on, once its id is known (then never masked in notes)."""
        return self._job_id

    @job_id.setter
    def job_id(self, value: str | None) -> None:
        self._job_id = value
        if value is not None:
            self.output.keep(value)

    def seen(self, state: JobState) -> None:
        """Record a state's job id (fits the façade's ``on_status=``)."""
        self.job_id = state.id
        self.awaiting_id = None

    def endpoint(self, *, waits: bool, status_line: bool = True) -> Endpoint:
        """A client built from the options and the environment; bad values are a usage
        error before any request is sent. ``status_line``: a waiting command shows its job's
        status on a terminal, so it polls ``/status`` instead of long-polling (``batch``
        shows counts, not a job's status, and long-polls)."""
        args = self.args
        # An empty --endpoint-id never gets here (the parser rejects it), so an unset option
        # is the only way to the environment.
        endpoint_id = args.endpoint_id or os.environ.get(ENV_ENDPOINT_ID)
        if not endpoint_id:
            raise UsageError(f"no endpoint id: pass --endpoint-id or set {ENV_ENDPOINT_ID}")
        timeout = _DEFAULT_HTTP_TIMEOUT
        if args.timeout is not None and not waits:
            timeout = args.timeout
        kwargs: dict[str, Any] = {}
        if args.max_retries is not None:
            kwargs["max_retries"] = args.max_retries
        if waits and status_line and is_terminal(sys.stderr):
            # Poll /status so progress shows (the /status-sync long-poll only answers when
            # the job ends).
            kwargs["long_poll"] = False
            kwargs["poll_policy"] = _INTERACTIVE_POLL
        return Endpoint(
            endpoint_id,
            api_key=args.api_key,
            base_url=args.base_url,
            timeout=timeout,
            **kwargs,
        )

    def status_line(self, label: str, **kwargs: Any) -> StatusLine:
        """A live status line on stderr (plain lines with ``--debug``)."""
        return StatusLine(label, stream=sys.stderr, plain=self.debug, **kwargs)

    def wait(self, job: Job) -> JobState:
        """Wait for ``job`` with a status line; returns its COMPLETED state."""
        self.job_id = job.id
        line = self.status_line(f"job {job.id}")
        if job.last_state is not None:
            line.update(job.last_state)  # before it shows: no "waiting" line to replace
        with line:
            return job.wait(
                timeout=self.args.timeout,
                cancel_on_timeout=self.args.cancel_on_timeout,
                cancel_on_interrupt=self.args.cancel_on_interrupt,
                on_status=line.update,
            )

    def interrupted(self, exc: KeyboardInterrupt) -> None:
        """Say what an interrupt leaves behind: the job to resume or cancel, if any."""
        out, prog = self.output, PROG
        out.error("interrupted")
        cancelled = [n for n in getattr(exc, "__notes__", ()) if "cancelled on interrupt" in n]
        if cancelled and getattr(self.args, "cancel_on_interrupt", False):
            # --cancel-on-interrupt: the façade cancelled the job and said so in a note.
            for note in cancelled:
                out.note(note.removeprefix(NOTE_PREFIX))
            return
        if self.job_id is not None:
            out.note(
                f"job {self.job_id} may still be running: {prog} wait {self.job_id} to resume, "
                f"{prog} cancel {self.job_id} to stop it"
            )
        elif self.awaiting_id is not None:
            out.note(self.awaiting_id)
