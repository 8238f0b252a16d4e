"""Every fenced code block of README.md and docs/*.md runs in the suite or says why it cannot.

The marker on the line above a block's fence (tests/_support/docblocks.py) decides:
``<!-- run: here -->`` blocks run below, as their language says — python against one shared
local endpoint (its id, key and URL in ``RUNPOD_ENDPOINT_ID``, ``RUNPOD_API_KEY``,
``RUNPOD_BASE_URL``, so a snippet's ``Endpoint("ENDPOINT_ID")`` reaches it), shell blocks
in bash with the ``runpod-facade`` command on ``PATH`` and the same environment, data blocks
parsed; ``<!-- run: test NAME -->`` blocks are run by the test that fetches them with
``docblocks.named("NAME")``; ``<!-- not run: REASON -->`` blocks give their reason. A block
with none of these fails, so a new snippet cannot go unrun without saying so.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from runpod_facade.local import LocalEndpoint, sample_handlers
from tests._support import docblocks
from tests._support.docblocks import Block
from tests._support.spec import REPO

BLOCKS = docblocks.blocks()

PYTHON = frozenset({"python", "py"})
SHELLS = frozenset({"sh", "bash", "shell"})
PARSERS: dict[str, Any] = {
    "json": json.loads,
    "toml": tomllib.loads,
    "yaml": yaml.safe_load,
    "yml": yaml.safe_load,
}

#: The files a ``run: here`` shell block finds in its working directory.
SHELL_FILES = {
    "prompts.jsonl": '{"prompt": "a lighthouse"}\n{"prompt": "at dusk"}\n{"prompt": "hi"}\n',
}

_MARKERS = "`<!-- run: here -->`, `<!-- run: test NAME -->` or `<!-- not run: REASON -->`"


def complaint(block: Block, tests_root: Path = REPO / "tests") -> str | None:
    """What is wrong with ``block``'s marker, or ``None`` (a ``run: here`` block must then
    also run)."""
    where = f"{block.where} (```{block.language})"
    if block.verb is None:
        return f"{where} has no marker: put {_MARKERS} on the line above its fence"
    if block.verb == "not run":
        if len(block.how.split()) < 3:
            return f"{where} is not run, and {block.how!r} is no reason: say why it cannot run"
        return None
    if block.how == "here":
        runnable = PYTHON | SHELLS | set(PARSERS)
        if block.language not in runnable:
            return f"{where}: no way to run ```{block.language} here; mark it `not run: REASON`"
        return None
    name = block.how.removeprefix("test ").strip()
    if not block.how.startswith("test ") or not name:
        return f"{where}: `run: {block.how}` is neither `run: here` nor `run: test NAME`"
    call = f'docblocks.named("{name}")'
    if not any(call in path.read_text(encoding="utf-8") for path in tests_root.rglob("test_*.py")):
        return f"{where} is marked `run: test {name}`, but no test fetches it with {call}"
    return None


@pytest.fixture(scope="module")
def doc_endpoint() -> Iterator[LocalEndpoint]:
    """One local endpoint for every block: a generator handler whose chunks are also its
    output, so ``wait`` returns them and ``stream`` yields them."""
    with (
        LocalEndpoint(
            sample_handlers.text_stream,
            workers=4,
            return_aggregate_stream=True,
            webhook_retries=0,
            webhook_timeout_s=1,
        ) as local,
        pytest.MonkeyPatch.context() as env,
    ):
        env.setenv("RUNPOD_ENDPOINT_ID", local.endpoint_id)
        env.setenv("RUNPOD_API_KEY", local.api_key or "")
        env.setenv("RUNPOD_BASE_URL", local.base_url)
        # A webhook a snippet names (https://example.com/...) is delivered through a proxy on
        # a closed loopback port: refused at once, never sent to the internet.
        env.setenv("HTTPS_PROXY", "http://127.0.0.1:9")
        yield local


def run_python(block: Block, capsys: pytest.CaptureFixture[str]) -> None:
    namespace: dict[str, Any] = {"__name__": "__main__"}
    exec(block.compiled(), namespace)
    capsys.readouterr()  # what it printed is its own business; that it ran is the check


def run_shell(block: Block, cwd: Path) -> None:
    for name, text in SHELL_FILES.items():
        (cwd / name).write_text(text, encoding="utf-8")
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    proc = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", block.code],
        cwd=cwd,
        env={**os.environ, "PATH": path},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, (
        f"{block.where} exited {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    )


@pytest.mark.misuse("docs")
@pytest.mark.parametrize("block", BLOCKS, ids=[block.where for block in BLOCKS])
def test_every_block_runs_or_says_why_not(
    block: Block,
    request: pytest.FixtureRequest,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    problem = complaint(block)
    assert problem is None, problem
    if block.verb != "run" or block.how != "here":
        return
    request.getfixturevalue("doc_endpoint")
    monkeypatch.chdir(tmp_path)  # whatever a block writes lands here
    if block.language in PYTHON:
        run_python(block, capsys)
    elif block.language in SHELLS:
        run_shell(block, tmp_path)
    else:
        PARSERS[block.language](block.code)


def test_the_documents_are_read() -> None:
    """The rule reads the documents it should (a wrong glob would find nothing to check)."""
    paths = {block.path for block in BLOCKS}
    assert {"README.md", "docs/local-endpoint.md", "docs/adding-an-operation.md"} <= paths
    assert sum(block.how == "here" for block in BLOCKS) >= 5


# --- the rule itself, on made-up documents ---------------------------------------------------

GOOD = """\
# Title

<!-- run: here -->
```python
print("hi")
```

<!-- not run: it needs a real RunPod account -->
```sh
runpod-facade health
```

  <!--   run: test sample   -->
  ~~~~ yaml  extra words
  a:
    b: 1
  ~~~~
"""


def test_blocks_are_read_with_their_markers(tmp_path: Path) -> None:
    (tmp_path / "README.md").write_text(GOOD, encoding="utf-8")
    first, second, third = docblocks.blocks(tmp_path)
    assert (first.where, first.language, first.verb, first.how) == ("README.md:4", "python", "run", "here")  # fmt: skip
    assert first.code == 'print("hi")\n'
    assert (second.verb, second.language) == ("not run", "sh")
    assert second.how == "it needs a real RunPod account"
    assert (third.line, third.language, third.how) == (14, "yaml", "test sample")
    assert third.code == "a:\n  b: 1\n"  # the fence's indentation is removed, the rest kept


@pytest.mark.misuse("docs")
@pytest.mark.parametrize(
    ("document", "problem"),
    [
        ("```python\nprint(1)\n```\n", "README.md:1 (```python) has no marker"),
        ("Text\n\n```\nplain\n```\n", "README.md:3 (```) has no marker"),
        ("<!-- run: here -->\n\n```sh\nmake test\n```\n", "README.md:3 (```sh) has no marker"),
        ("<!-- not run: -->\n```sh\nx\n```\n", "is no reason"),
        ("<!-- not run: slow -->\n```sh\nx\n```\n", "'slow' is no reason"),
        ("<!-- run: here -->\n```\nRunpodError\n```\n", "no way to run ``` here"),
        ("<!-- run: here -->\n```console\n$ ls\n```\n", "no way to run ```console here"),
        ("<!-- run: somehow -->\n```python\nx\n```\n", "neither `run: here` nor `run: test NAME`"),
        ("<!-- run: test -->\n```python\nx\n```\n", "neither `run: here` nor `run: test NAME`"),
        ("<!-- run: test nobody -->\n```python\nx\n```\n", 'no test fetches it with docblocks.named('),
        ("```python\nx = 1\n```\n<!-- run: here -->\nText\n```python\ny\n```\n", "README.md:6 (```python) has no marker"),
    ],
    ids=[
        "no marker", "no language, no marker", "marker not right above", "empty reason",
        "one-word reason", "run here, no language", "run here, console", "unknown how",
        "test without a name", "test nobody runs", "marker above text, not the fence",
    ],
)  # fmt: skip
def test_a_block_that_does_not_say_how_it_runs_is_refused(
    document: str, problem: str, tmp_path: Path
) -> None:
    (tmp_path / "README.md").write_text(document, encoding="utf-8")
    (tmp_path / "tests").mkdir()
    found = [complaint(block, tmp_path / "tests") for block in docblocks.blocks(tmp_path)]
    assert any(problem in (text or "") for text in found), found


def test_a_named_block_is_accepted_once_a_test_fetches_it(tmp_path: Path) -> None:
    (tmp_path / "README.md").write_text("<!-- run: test greet -->\n```python\nx\n```\n")
    (tmp_path / "tests").mkdir()
    (block,) = docblocks.blocks(tmp_path)
    assert "no test fetches it" in (complaint(block, tmp_path / "tests") or "")
    name = "greet"  # the call below is built, so that this file does not fetch the block
    (tmp_path / "tests" / "test_greet.py").write_text(f'docblocks.named("{name}")\n')
    assert complaint(block, tmp_path / "tests") is None
    assert docblocks.named("greet", tmp_path) == block


def test_a_failing_python_block_is_reported_at_its_line_in_the_document(tmp_path: Path) -> None:
    text = "Text\n\n<!-- run: here -->\n```python\nx = 1\nraise RuntimeError(x)\n```\n"
    (tmp_path / "README.md").write_text(text, encoding="utf-8")
    (block,) = docblocks.blocks(tmp_path)
    with pytest.raises(RuntimeError) as info:
        exec(block.compiled(), {})
    frame = traceback.extract_tb(info.tb)[-1]
    assert (frame.filename, frame.lineno) == ("README.md", 6)
