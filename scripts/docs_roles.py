"""A griffe extension for ``make docs``: the docstrings' Sphinx conventions as Markdown.

The docstrings are written for reading in an editor and with ``help()``: they name other
objects with Sphinx roles (``:class:`~runpod_facade.Endpoint```, ``:meth:`close```) and end a
line with ``::`` before an indented example. mkdocstrings renders Markdown, where those would
show as raw text. This rewrites each docstring as it is loaded (mkdocs.yml lists this file
under the python handler's ``extensions``); the source is not touched:

* a role whose target is a full name inside the package (``runpod_facade.…`` or the plugin
  module), or a bare name (``close``: found from the docstring's scope, mkdocs.yml's
  ``scoped_crossrefs``), becomes a cross-reference, so a name that no longer exists fails the
  strict build;
* any other target (a dotted ``Job.wait``, another library's ``httpx.Timeout``, a builtin's
  ``None``) becomes inline code;
* ``~`` shows the last part only, as in Sphinx; ``text::`` before an example becomes ``text:``
  (the indented block after it is already a Markdown code block);
* a constant documented by ``#:`` comment lines right above it gets them as its docstring.
"""

from __future__ import annotations

import builtins
import re
from typing import Any

import griffe

_ROLE = re.compile(r":(?:class|meth|func|attr|mod|data|exc|obj):`(?P<tilde>~?)(?P<target>[^`]+)`")
_LITERAL = re.compile(r"(?<=\S)::$", re.MULTILINE)
_LINKED = ("runpod_facade.", "runpod_facade`", "_runpod_facade_pytest")


def markdown(text: str) -> str:
    """``text`` with its roles and ``::`` literal markers in Markdown."""
    return _LITERAL.sub(":", _ROLE.sub(_role, text))


def _role(match: re.Match[str]) -> str:
    target = match["target"].strip().removesuffix("()")
    shown = target.rpartition(".")[2] if match["tilde"] else target
    if f"{target}`".startswith(_LINKED) or ("." not in target and not hasattr(builtins, target)):
        return f"[`{shown}`][{target}]"
    return f"`{shown}`"


class RolesToMarkdown(griffe.Extension):
    """Rewrites every docstring of a package with :func:`markdown` once it is loaded."""

    def on_package(self, *, pkg: griffe.Module, **kwargs: Any) -> None:
        _rewrite(pkg)


def _rewrite(obj: griffe.Object) -> None:
    if obj.docstring is None and isinstance(obj, griffe.Attribute):
        comment = _comment_above(obj)
        if comment:
            obj.docstring = griffe.Docstring(comment, parent=obj)
    if obj.docstring is not None:
        obj.docstring.value = markdown(obj.docstring.value)
    for member in obj.members.values():
        if not member.is_alias:  # an alias's docstring is its target's, rewritten there
            _rewrite(member)  # type: ignore[arg-type]


def _comment_above(obj: griffe.Attribute) -> str:
    """The ``#:`` comment lines right above ``obj``'s assignment, without their ``#:``."""
    lines = obj.module.lines
    index = (obj.lineno or 0) - 2  # the line above, counted from 0
    found: list[str] = []
    while 0 <= index < len(lines) and lines[index].lstrip().startswith("#:"):
        found.append(lines[index].lstrip().removeprefix("#:").strip())
        index -= 1
    return "\n".join(reversed(found))
