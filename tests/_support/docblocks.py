"""The fenced code blocks of the project's Markdown documents, each with what its marker says.

Every block must say how the suite treats it, in an HTML comment on the line right above its
opening fence (tests/integration/test_doc_blocks.py enforces it):

- ``<!-- run: here -->``: tests/integration/test_doc_blocks.py runs it as its language says
  (python, a shell, or a data format it parses);
- ``<!-- run: test NAME -->``: a test elsewhere runs it, fetched with :func:`named`;
- ``<!-- not run: REASON -->``: it cannot run in the suite, and REASON says why.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from types import CodeType

from .spec import REPO

#: The documents whose every block is checked, relative to the repository.
DOCUMENTS = ("README.md", "docs/*.md")

_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})(?P<info>.*)$")
_MARKER = re.compile(r"^\s*<!--\s*(?P<verb>run|not run)\s*:\s*(?P<how>.*?)\s*-->\s*$")


@dataclass(frozen=True)
class Block:
    """One fenced block: where it is, its language, its text and the marker above it."""

    path: str  # relative to the repository
    line: int  # of the opening fence, from 1
    language: str  # the info string's first word, lower case ("" when there is none)
    code: str  # the lines between the fences, without the fence's indentation
    verb: str | None  # "run", "not run", or None when no marker precedes the fence
    how: str  # the marker's text after the colon

    @property
    def where(self) -> str:
        return f"{self.path}:{self.line}"

    def compiled(self) -> CodeType:
        """The block as Python, its line numbers those of the document (for tracebacks)."""
        return compile("\n" * self.line + self.code, self.path, "exec")


def documents(root: Path = REPO) -> list[Path]:
    found = {path for pattern in DOCUMENTS for path in root.glob(pattern)}
    return sorted(found)


def blocks(root: Path = REPO) -> list[Block]:
    """Every fenced block of every document, in document order."""
    return [block for path in documents(root) for block in parse(path, root)]


def parse(path: Path, root: Path = REPO) -> list[Block]:
    """The fenced blocks of one Markdown file (CommonMark fences: ``` or ~~~, 3 or more)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    found: list[Block] = []
    index = 0
    while index < len(lines):
        opening = _FENCE.match(lines[index])
        if opening is None:
            index += 1
            continue
        fence, indent = opening["fence"], len(opening["indent"])
        end = index + 1
        while end < len(lines) and not _closes(lines[end], fence):
            end += 1  # an unclosed fence runs to the end of the document, as in CommonMark
        body = [_dedent(line, indent) for line in lines[index + 1 : end]]
        marker = _MARKER.match(lines[index - 1]) if index else None
        info = opening["info"].strip().split()
        found.append(
            Block(
                path=path.relative_to(root).as_posix(),
                line=index + 1,
                language=info[0].lower() if info else "",
                code="\n".join(body) + "\n",
                verb=marker["verb"] if marker else None,
                how=marker["how"] if marker else "",
            )
        )
        index = end + 1
    return found


def _dedent(line: str, indent: int) -> str:
    """``line`` less up to ``indent`` leading blanks (the opening fence's indentation)."""
    blanks = len(line) - len(line.lstrip(" \t"))
    return line[min(blanks, indent) :]


def _closes(line: str, fence: str) -> bool:
    stripped = line.strip()
    return stripped.startswith(fence[0] * len(fence)) and not stripped.strip(fence[0])


def named(name: str, root: Path = REPO) -> Block:
    """The one block marked ``<!-- run: test NAME -->``, for the test that runs it."""
    found = [block for block in blocks(root) if block.verb == "run" and block.how == f"test {name}"]
    assert len(found) == 1, f"{len(found)} blocks are marked `run: test {name}`"
    return found[0]
