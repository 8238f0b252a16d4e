"""scripts/docs_api_methods.py (``make docs``): an ``@api`` method is shown returning what
its callers get, not the core's ``Operation``; other functions keep their annotations."""

from __future__ import annotations

import griffe

from tests._support.spec import REPO
from tests.release._scripts import load

methods = load("docs_api_methods")

SOURCE = '''
from typing import Any

class Operation: ...
def api(function): return function

class Base:
    @api
    def status(self, job_id: str) -> Operation[JobState]:
        """A snapshot."""

    @api
    def health(self) -> Health:
        """Already unwrapped."""

    def plan(self) -> Operation[JobState]:
        """Not an api method: the operation itself is what it returns."""

    @staticmethod
    def other(self) -> list[int]: ...
'''


def test_api_methods_return_the_operations_result() -> None:
    module = griffe.load_extensions(methods.ApiMethodReturns)
    with griffe.temporary_visited_package("pkg", {"__init__.py": SOURCE}, extensions=module) as pkg:
        base = pkg["Base"]
        assert str(base["status"].returns) == "JobState"
        assert str(base["health"].returns) == "Health"
        assert str(base["plan"].returns) == "Operation[JobState]"
        assert str(base["other"].returns) == "list[int]"


def test_the_real_clients_are_unwrapped() -> None:
    extensions = griffe.load_extensions(methods.ApiMethodReturns)
    package = griffe.load(
        "runpod_facade", search_paths=[REPO, REPO / "generated"], extensions=extensions
    )
    assert str(package["_clients.base.EndpointBase.status"].returns) == "JobState"
    assert str(package["_clients.handles.JobBase.cancel"].returns) == "JobState"
