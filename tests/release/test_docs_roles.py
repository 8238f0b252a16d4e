"""scripts/docs_roles.py (``make docs``): the docstrings' Sphinx roles as Markdown, names
inside the package as cross-references (a stale one then fails the strict build)."""

from __future__ import annotations

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
        (":attr:`local`", "`local`"),  # relative: inline code, never a guessed link
        (":meth:`Job.wait`", "`Job.wait`"),
        (":data:`~FAST_POLL_POLICY`", "`FAST_POLL_POLICY`"),
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
