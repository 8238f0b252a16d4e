"""Importing the local endpoint without its extra, and loading a handler the way users name it.

Both run in a fresh interpreter: one with Starlette or uvicorn made unimportable, the other
started like a console script (``-P``: the current directory is not on ``sys.path``).
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest


def run_python(code: str, cwd: Path | None = None, *flags: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *flags, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
        check=False,
    )


@pytest.mark.parametrize("missing", ["starlette", "uvicorn"])
def test_import_without_the_extra_says_how_to_install_it(missing: str) -> None:
    result = run_python(
        f"""
        import sys
        sys.modules[{missing!r}] = None  # what an uninstalled package looks like to import
        import runpod_facade  # the façade itself does not need the extra
        try:
            from runpod_facade.local import LocalEndpoint
        except ImportError as exc:
            print(type(exc).__name__)
            print(exc)
        """
    )
    assert result.returncode == 0, result.stderr
    kind, message = result.stdout.strip().splitlines()
    assert kind == "ImportError"  # not its subclass ModuleNotFoundError
    assert "pip install 'runpod-facade[local]'" in message
    assert missing in message


def test_a_module_in_the_current_directory_loads_like_python_m(tmp_path: Path) -> None:
    (tmp_path / "my_module.py").write_text("def handler(job):\n    return job['input'] * 2\n")
    code = """
        import os, sys
        assert os.getcwd() not in sys.path and "" not in sys.path, sys.path
        from runpod_facade.local import load_handler
        print(load_handler("my_module:handler")({"input": 21}))
        print(load_handler("my_module")({"input": "ab"}))
    """
    result = run_python(code, tmp_path, "-P")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["42", "abab"]


def test_a_serve_style_handler_string_from_the_current_directory(tmp_path: Path) -> None:
    (tmp_path / "my_worker.py").write_text("def handler(job):\n    return {'got': job['input']}\n")
    code = """
        import httpx
        from runpod_facade.local import LocalEndpoint
        with LocalEndpoint("my_worker:handler", api_key=None) as ep:
            print(httpx.post(f"{ep.url}/runsync", json={"input": 5}).json()["output"])
    """
    result = run_python(code, tmp_path, "-P")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "{'got': 5}"


def test_a_missing_import_inside_the_handler_module_is_reported_as_is(tmp_path: Path) -> None:
    (tmp_path / "broken.py").write_text("import not_installed_dependency\n")
    code = """
        from runpod_facade.local import load_handler
        try:
            load_handler("broken:handler")
        except ModuleNotFoundError as exc:
            print(exc.name)
    """
    result = run_python(code, tmp_path, "-P")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "not_installed_dependency"


def test_an_unknown_module_still_fails(tmp_path: Path) -> None:
    code = """
        from runpod_facade.local import load_handler
        try:
            load_handler("no_such_module:handler")
        except ModuleNotFoundError as exc:
            print(exc.name)
    """
    result = run_python(code, tmp_path, "-P")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "no_such_module"


@pytest.mark.parametrize("target", ["worker.py", "worker.py:handler"])
def test_a_handler_file_can_import_its_neighbours(tmp_path: Path, target: str) -> None:
    # load_handler: "A file's directory is put on sys.path so the handler can import its
    # neighbours" — from any current directory.
    project = tmp_path / "project"
    project.mkdir()
    (project / "prompts.py").write_text("GREETING = 'hello'\n")
    (project / "worker.py").write_text(
        "import prompts\n\ndef handler(job):\n    return f'{prompts.GREETING} {job[\"input\"]}'\n"
    )
    code = f"""
        from runpod_facade.local import load_handler
        print(load_handler({str(project / target)!r})({{"id": "j", "input": "you"}}))
    """
    result = run_python(code, tmp_path, "-P")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "hello you"
