"""Job statuses. The set is open: a status RunPod adds tomorrow still parses, as a plain str."""

from __future__ import annotations

from enum import StrEnum

__all__ = ["STATUS_BY_VALUE", "TERMINAL_STATUSES", "JobStatus", "is_terminal", "parse_status"]


class JobStatus(StrEnum):
    """The six job statuses the API documents. Members compare equal to their strings."""

    IN_QUEUE = "IN_QUEUE"
    IN_PROGRESS = "IN_PROGRESS"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    TIMED_OUT = "TIMED_OUT"

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL_STATUSES


TERMINAL_STATUSES: frozenset[JobStatus] = frozenset(
    {JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED, JobStatus.TIMED_OUT}
)


#: Each status's member by its wire value. Every reply is parsed through here: a dict lookup,
#: not the Enum call machinery.
STATUS_BY_VALUE: dict[str, JobStatus] = {member.value: member for member in JobStatus}


def parse_status(value: object) -> JobStatus | str:
    """Map a wire value to a :class:`JobStatus`; an unknown string is returned unchanged."""
    text = value.value if isinstance(value, StrEnum) else str(value)
    return STATUS_BY_VALUE.get(text, text)


def is_terminal(status: JobStatus | str) -> bool:
    """Whether ``status`` is final. Unknown statuses are not: waiting goes on until the deadline."""
    return status in TERMINAL_STATUSES
