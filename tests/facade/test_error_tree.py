"""The error tree follows openai's rules, and README's diagram of it is the real one.

README's block is read line by line: each class must be exported by ``runpod_facade``, sit
under the class it derives from, be one of the built-ins it names in parentheses, and be
what the status codes it names map to; every exported exception must be in the diagram.
"""

from __future__ import annotations

import builtins
import pickle
import re
from dataclasses import dataclass

import pytest

import runpod_facade
from runpod_facade import (
    APIConnectionError,
    APIError,
    APIResponseValidationError,
    APIStatusError,
    APITimeoutError,
    BadRequestError,
    InternalServerError,
    JobState,
    RunpodError,
)
from runpod_facade._transports.base import ApiResponse
from runpod_facade._wire.errors import error_from_response
from runpod_facade._wire.requests import build_request
from tests._support import docblocks

_LINE = re.compile(
    r"^(?P<tree>(?:[│ ]   )*(?:[├└]── )?)(?P<name>[A-Z]\w+)"
    r"(?: \((?P<also>\w+)\))?(?P<rest>.*)$"
)
_CODE = re.compile(r"\b(\d{3})\b")


@dataclass(frozen=True)
class Node:
    name: str
    parent: str | None
    also: str | None
    codes: tuple[int, ...]


def _diagram(text: str) -> list[Node]:
    nodes: list[Node] = []
    path: list[str] = []  # the names of the current line's ancestors, root first
    for line in text.splitlines():
        match = _LINE.match(line)
        assert match, f"unreadable line of the error tree: {line!r}"
        depth = len(match["tree"]) // 4
        del path[depth:]
        nodes.append(
            Node(
                name=match["name"],
                parent=path[-1] if path else None,
                also=match["also"],
                codes=tuple(int(code) for code in _CODE.findall(match["rest"])),
            )
        )
        path.append(match["name"])
    return nodes


DIAGRAM = _diagram(docblocks.named("error-tree").code)


def _class(name: str) -> type[BaseException]:
    cls = getattr(runpod_facade, name)
    assert isinstance(cls, type) and issubclass(cls, BaseException), name
    return cls


@pytest.mark.parametrize("node", DIAGRAM, ids=[f"README-{n.name}" for n in DIAGRAM])
def test_each_class_of_the_diagram_derives_from_the_one_above_it(node: Node) -> None:
    cls = _class(node.name)
    if node.parent is None:
        assert cls is RunpodError
        return
    parent = _class(node.parent)
    # The nearest base that is itself in the diagram is the parent drawn.
    drawn = {n.name for n in DIAGRAM}  # the README's tree has every class
    nearest = next(base for base in cls.__mro__[1:] if base.__name__ in drawn)
    assert nearest is parent
    if node.also is not None:
        assert issubclass(cls, getattr(builtins, node.also))


def test_every_exported_exception_is_in_the_diagram() -> None:
    exported = {
        name
        for name in runpod_facade.__all__
        if isinstance(getattr(runpod_facade, name), type)
        and issubclass(getattr(runpod_facade, name), BaseException)
    }
    assert exported == {node.name for node in DIAGRAM}


STATUS = build_request("status", "ep-1", job_id="job-1")


@pytest.mark.parametrize(
    ("node", "code"),
    [(node, code) for node in DIAGRAM for code in node.codes],
    ids=lambda value: value.name if isinstance(value, Node) else str(value),
)
def test_each_status_the_diagram_names_raises_that_class(node: Node, code: int) -> None:
    error = error_from_response(ApiResponse(code, {}, b"{}"), STATUS)
    assert type(error) is _class(node.name)
    assert error.status_code == code


@pytest.mark.parametrize("code", [402, 405, 410, 418, 451, 302])
def test_a_status_openai_names_no_class_for_is_a_plain_status_error(code: int) -> None:
    error = error_from_response(ApiResponse(code, {}, b"{}"), STATUS)
    assert type(error) is APIStatusError


@pytest.mark.parametrize(
    "code",
    [
        501, 505, 599, 520, 524, 99, 499,
        444, 460, 463,  # nginx, AWS ELB: retried as server failures, raised as one too
    ],
)  # fmt: skip
def test_every_5xx_and_non_iana_code_is_an_internal_server_error(code: int) -> None:
    assert type(error_from_response(ApiResponse(code, {}, b"{}"), STATUS)) is InternalServerError


def test_except_api_error_catches_every_failed_request_as_in_openai() -> None:
    for cls in (
        APIConnectionError,
        APITimeoutError,
        APIStatusError,
        BadRequestError,
        APIResponseValidationError,
    ):
        assert issubclass(cls, APIError), cls
    assert issubclass(APITimeoutError, TimeoutError)
    assert not issubclass(APIResponseValidationError, APIStatusError)  # its status said success
    assert not issubclass(APIConnectionError, APIStatusError)
    assert not hasattr(APIConnectionError("x"), "status_code")


def test_a_status_error_carries_status_body_headers_and_job_id() -> None:
    error = error_from_response(
        ApiResponse(409, {"x-request-id": "r1"}, b'{"error": "busy"}'), STATUS
    )
    assert (error.status_code, error.body, error.message) == (409, '{"error": "busy"}', "busy")
    assert error.headers["x-request-id"] == "r1"
    assert (error.operation, error.job_id) == ("status", "job-1")
    assert str(error) == "status failed with HTTP 409 (job job-1): busy"


_FAILED = JobState(id="job-1", status="FAILED", error="boom")
#: One instance of each exported exception, with every attribute its constructor sets.
SAMPLES: dict[str, RunpodError] = {
    "RunpodError": RunpodError("x"),
    "InvalidInputError": runpod_facade.InvalidInputError("bad"),
    "WebhookPayloadError": runpod_facade.WebhookPayloadError("not a job", job_id="job-1"),
    "ClientClosedError": runpod_facade.ClientClosedError("closed"),
    "APIError": APIError("m", operation="status", job_id="job-1"),
    "APIConnectionError": APIConnectionError("refused", operation="run", request_sent=False),
    "APITimeoutError": APITimeoutError("read timed out", operation="status", job_id="job-1"),
    "APIResponseValidationError": APIResponseValidationError("html", status_code=200),
    **{
        node.name: _class(node.name)(  # type: ignore[call-arg]
            "m", status_code=node.codes[0] if node.codes else 418, body="{}", job_id="job-1"
        )
        for node in DIAGRAM
        if issubclass(_class(node.name), APIStatusError)
    },
    "RateLimitError": runpod_facade.RateLimitError("slow down", retry_after=2.5, job_id="j"),
    "JobError": runpod_facade.JobError(_FAILED),
    "JobFailed": runpod_facade.JobFailed(_FAILED),
    "JobCancelled": runpod_facade.JobCancelled(_FAILED),
    "JobTimedOut": runpod_facade.JobTimedOut(_FAILED),
    "WaitTimeout": runpod_facade.WaitTimeout("job-1", timeout=3, last_state=_FAILED),
    "StreamIdleTimeout": runpod_facade.StreamIdleTimeout("job-1", timeout=1, cancelled=True),
    "BatchTimeout": runpod_facade.BatchTimeout(5.0, 7),
    "JournalError": runpod_facade.JournalError("in use", reason="in_use"),
    "BatchJournalError": runpod_facade.BatchJournalError("another run's journal"),
    "NotReadyError": runpod_facade.NotReadyError(10.0, 204, 7),
    "RequestTooLargeError": runpod_facade.RequestTooLargeError(31_000_000, 30_000_000),
}


def test_every_exported_exception_has_a_pickling_sample() -> None:
    assert set(SAMPLES) == {node.name for node in DIAGRAM}


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_every_error_pickles_whole(name: str) -> None:
    error = SAMPLES[name]
    error.add_note("a note")
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is type(error)
    assert (str(copy), copy.args) == (str(error), error.args)
    assert vars(copy) == vars(error)
    assert copy.__notes__ == ["a note"]
