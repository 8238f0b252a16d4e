"""scripts/docs_roles.py (``make docs``): the docstrings' Sphinx roles as Markdown, names
inside the package as cross-references (a stale one then fails the strict build)."""

from __future__ import annotations

import griffe
import pytest

from tests.release._scripts import load

roles = load("docs_roles")


@pytest.mark.parametrize(
    ("docstring", "markdown"),
    [
        (":class:`runpod_facade.local.LocalEndpoint`", "[`runpod_facade.local.LocalEndpoint`][runpod_facade.local.LocalEndpoint]"),
        (":class:`~runpod_facade.Endpoint`", "[`Endpoint`][runpod_facade.Endpoint]"),
        (":meth:`~runpod_facade.Job.wait`", "[`wait`][runpod_facade.Job.wait]"),
        (":func:`runpod_facade.parse_webhook()`", "[`runpod_facade.parse_webhook`][runpod_facade.parse_webhook]"),
        (":mod:`runpod_facade`", "[`runpod_facade`][runpod_facade]"),
        (":mod:`_runpod_facade_pytest`", "[`_runpod_facade_pytest`][_runpod_facade_pytest]"),
        (":attr:`local`", "[`local`][local]"),  # a bare name: found from the docstring's scope
        (":data:`~FAST_POLL_POLICY`", "[`FAST_POLL_POLICY`][FAST_POLL_POLICY]"),
        (":meth:`Job.wait`", "`Job.wait`"),  # relative and dotted: inline code, never a guess
        (":func:`time.time`", "`time.time`"),
        (":class:`ValueError`", "`ValueError`"),  # a builtin: never looked up in the package
        (":class:`httpx.Timeout`", "`httpx.Timeout`"),  # another library's name
        (":class:`runpod_facadex.Thing`", "`runpod_facadex.Thing`"),  # not the package
        (":exc:`~runpod_facade.JobFailed` or :obj:`None`", "[`JobFailed`][runpod_facade.JobFailed] or `None`"),
        ("For example::\n\n    ep.run(1)\n", "For example:\n\n    ep.run(1)\n"),
        ("A ``literal`` and :: alone", "A ``literal`` and :: alone"),
        ("plain text", "plain text"),
    ],
)  # fmt: skip
def test_roles_become_markdown(docstring: str, markdown: str) -> None:
    assert roles.markdown(docstring) == markdown


SOURCE = '''
#: The model the fake routes list,
#: with :func:`chat`.
MODEL = "fake"

#: Not this one: a blank line parts it from the constant.

LIMIT = 10

# A plain comment is no documentation.
OTHER = 1

DOCUMENTED = 2
"""Its own docstring wins over any comment."""


def chat() -> None:
    """Answers with :data:`MODEL`."""
'''


def test_comment_documented_constants_and_roles_in_a_loaded_package() -> None:
    extensions = griffe.load_extensions(roles.RolesToMarkdown)
    with griffe.temporary_visited_package(
        "pkg", {"__init__.py": SOURCE}, extensions=extensions
    ) as pkg:
        assert (
            pkg["MODEL"].docstring.value == "The model the fake routes list,\nwith [`chat`][chat]."
        )
        assert pkg["LIMIT"].docstring is None
        assert pkg["OTHER"].docstring is None
        assert pkg["DOCUMENTED"].docstring.value == "Its own docstring wins over any comment."
        assert pkg["chat"].docstring.value == "Answers with [`MODEL`][MODEL]."
