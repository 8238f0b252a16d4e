"""scripts/dist_check.py (``make dist``) finds what a built sdist or wheel lacks or carries
wrongly, on archives made here from a small source tree, and reads the one version."""

from __future__ import annotations

import io
import tarfile
import tomllib
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

import runpod_facade
from tests._support.spec import REPO
from tests.release._scripts import load

check = load("dist_check")

VERSION = "1.2.3"
INFO = f"runpod_facade-{VERSION}.dist-info"
METADATA = f"Metadata-Version: 2.4\nName: runpod-facade\nVersion: {VERSION}\nDescription-Content-Type: text/markdown\n\nREADME\n"  # fmt: skip
ENTRY_POINTS = "\n".join(check.ENTRY_POINTS) + "\n"
SOURCES = {
    "runpod_facade": ["__init__.py", "py.typed", "local/__init__.py"],
    "runpod_generated": ["__init__.py", "py.typed", "api/jobs/run.py"],
}


@pytest.fixture
def expected(tmp_path: Path) -> set[str]:
    """What the wheel of a small source tree (two packages, as the real one) must carry."""
    packages = {}
    for name, files in SOURCES.items():
        root = tmp_path / "src" / name
        for file in files:
            (root / file).parent.mkdir(parents=True, exist_ok=True)
            (root / file).write_text("", encoding="utf-8")
        (root / "__pycache__").mkdir()
        (root / "__pycache__" / "x.cpython-311.pyc").write_bytes(b"")  # never shipped
        packages[name] = root
    return set(check.shipped_sources(packages))


def good_wheel(expected: set[str]) -> dict[str, str]:
    files = dict.fromkeys(expected, "")
    files["_runpod_facade_pytest.py"] = ""
    files[f"{INFO}/METADATA"] = METADATA
    files[f"{INFO}/entry_points.txt"] = ENTRY_POINTS
    return files


def write_wheel(directory: Path, files: dict[str, str], name: str | None = None) -> Path:
    path = directory / (name or f"runpod_facade-{VERSION}-py3-none-any.whl")
    with zipfile.ZipFile(path, "w") as archive:
        for member, text in files.items():
            archive.writestr(member, text)
    return path


def write_sdist(directory: Path, files: dict[str, str], name: str | None = None) -> Path:
    path = directory / (name or f"runpod_facade-{VERSION}.tar.gz")
    with tarfile.open(path, "w:gz") as archive:
        for member, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(member)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path


def good_sdist() -> dict[str, str]:
    top = f"runpod_facade-{VERSION}"
    files = {f"{top}/{path}": "" for path in check.SDIST_FILES}
    files[f"{top}/PKG-INFO"] = METADATA
    return files


def test_the_shipped_sources_are_every_module_and_py_typed(expected: set[str]) -> None:
    assert expected == {f"{name}/{file}" for name, files in SOURCES.items() for file in files}


def test_a_good_wheel_and_sdist_pass(tmp_path: Path, expected: set[str]) -> None:
    write_wheel(tmp_path, good_wheel(expected))
    write_sdist(tmp_path, good_sdist())
    assert check.dist_problems(tmp_path, VERSION, expected) == []


def _drop(name: str) -> Callable[[dict[str, str]], None]:
    return lambda files: files.pop(name)


def _add(name: str, text: str = "") -> Callable[[dict[str, str]], None]:
    return lambda files: files.__setitem__(name, text)


WHEEL_CASES = [
    ("no py.typed", _drop("runpod_facade/py.typed"), "lacks runpod_facade/py.typed"),
    ("no generated py.typed", _drop("runpod_generated/py.typed"), "lacks runpod_generated/py.typed"),
    ("a generated package left out", _drop("runpod_generated/api/jobs/run.py"), "lacks runpod_generated/api/jobs/run.py"),
    ("a subpackage left out", _drop("runpod_facade/local/__init__.py"), "lacks runpod_facade/local/__init__.py"),
    ("no pytest plugin", _drop("_runpod_facade_pytest.py"), "lacks _runpod_facade_pytest.py (the pytest plugin)"),
    ("tests shipped", _add("tests/test_x.py"), "carries test code: tests/test_x.py"),
    ("tests inside the package", _add("runpod_facade/tests/test_x.py"), "carries test code: runpod_facade/tests/test_x.py"),
    ("a conftest shipped", _add("conftest.py"), "carries test code: conftest.py"),
    ("a module deleted from the source", _add("runpod_facade/old.py"), "carries runpod_facade/old.py, which is not in the source tree"),
    ("another version in METADATA", _add(f"{INFO}/METADATA", METADATA.replace(VERSION, "0.9")), "metadata Version is '0.9', but runpod_facade.__version__ is '1.2.3'"),
    ("another name", _add(f"{INFO}/METADATA", METADATA.replace("runpod-facade", "runpod")), "metadata Name is 'runpod'"),
    ("README not markdown", _add(f"{INFO}/METADATA", METADATA.replace("text/markdown", "text/plain")), "not declared as text/markdown"),
    ("no METADATA", _drop(f"{INFO}/METADATA"), f"has no {INFO}/METADATA"),
    ("no plugin entry point", _add(f"{INFO}/entry_points.txt", "[console_scripts]\nrunpod-facade = runpod_facade.cli:main\n[pytest11]\n"), "entry_points.txt lacks 'runpod_facade = _runpod_facade_pytest'"),
    ("no command", _add(f"{INFO}/entry_points.txt", "[console_scripts]\n[pytest11]\nrunpod_facade = _runpod_facade_pytest\n"), "entry_points.txt lacks 'runpod-facade = runpod_facade.cli:main'"),
    ("no entry points", _drop(f"{INFO}/entry_points.txt"), "has no runpod_facade-1.2.3.dist-info/entry_points.txt"),
]  # fmt: skip


@pytest.mark.parametrize(("change", "problem"), [case[1:] for case in WHEEL_CASES], ids=[case[0] for case in WHEEL_CASES])  # fmt: skip
def test_a_wheel_problem_is_named(
    tmp_path: Path,
    expected: set[str],
    change: Callable[[dict[str, str]], None],
    problem: str,
) -> None:
    files = good_wheel(expected)
    change(files)
    wheel = write_wheel(tmp_path, files)
    problems = check.wheel_problems(wheel, VERSION, expected)
    assert len(problems) == 1, problems
    assert problem in problems[0]


def test_a_wheel_of_another_version_is_named(tmp_path: Path, expected: set[str]) -> None:
    """The file name and the metadata must both carry runpod_facade.__version__."""
    wheel = write_wheel(tmp_path, good_wheel(expected))
    problems = check.wheel_problems(wheel, "2.0.0", expected)
    assert f"{wheel.name}: expected runpod_facade-2.0.0-py3-none-any.whl" in problems
    assert any("has no runpod_facade-2.0.0.dist-info/METADATA" in problem for problem in problems)


SDIST_CASES = [
    ("no generated py.typed", _drop(f"runpod_facade-{VERSION}/generated/runpod_generated/py.typed"), "lacks runpod_facade-1.2.3/generated/runpod_generated/py.typed"),
    ("no pyproject", _drop(f"runpod_facade-{VERSION}/pyproject.toml"), "lacks runpod_facade-1.2.3/pyproject.toml"),
    ("another version in PKG-INFO", _add(f"runpod_facade-{VERSION}/PKG-INFO", METADATA.replace(VERSION, "0.9")), "metadata Version is '0.9'"),
]  # fmt: skip


@pytest.mark.parametrize(("change", "problem"), [case[1:] for case in SDIST_CASES], ids=[case[0] for case in SDIST_CASES])  # fmt: skip
def test_an_sdist_problem_is_named(
    tmp_path: Path, change: Callable[[dict[str, str]], None], problem: str
) -> None:
    files = good_sdist()
    change(files)
    problems = check.sdist_problems(write_sdist(tmp_path, files), VERSION)
    assert len(problems) == 1, problems
    assert problem in problems[0]


@pytest.mark.parametrize(
    ("wheels", "sdists", "found"),
    [
        (0, 1, f"found runpod_facade-{VERSION}.tar.gz"),
        (1, 0, f"found runpod_facade-{VERSION}-py3-none-any.whl"),
        (0, 0, "found nothing"),
        (2, 1, "runpod_facade-0.0.1-py3-none-any.whl, runpod_facade-1.2.3-py3-none-any.whl"),
    ],
)
def test_a_dist_folder_must_hold_one_wheel_and_one_sdist(
    tmp_path: Path, expected: set[str], wheels: int, sdists: int, found: str
) -> None:
    for index in range(wheels):
        name = None if index == 0 else "runpod_facade-0.0.1-py3-none-any.whl"
        write_wheel(tmp_path, good_wheel(expected), name)
    if sdists:
        write_sdist(tmp_path, good_sdist())
    (problem,) = check.dist_problems(tmp_path, VERSION, expected)
    assert "expected one wheel and one sdist" in problem
    assert found in problem


def test_the_main_exit_code_and_messages(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert check.main([str(tmp_path)]) == 1
    assert "dist_check: " in capsys.readouterr().err
    assert check.main([]) == 2


def test_one_version_string() -> None:
    """pyproject takes its version from runpod_facade/_version.py, which the check reads."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    assert "version" not in project["project"]
    assert "version" in project["project"]["dynamic"]
    attr = project["tool"]["setuptools"]["dynamic"]["version"]["attr"]
    assert attr == "runpod_facade._version.__version__"
    assert check.source_version() == runpod_facade.__version__


def test_the_real_tree_ships_the_facade_and_every_generated_client() -> None:
    generated = {path.name for path in (REPO / "generated").iterdir() if path.is_dir()}
    assert "runpod_generated" in generated
    assert set(check.PACKAGES) == {"runpod_facade"} | generated
    shipped = check.shipped_sources()
    for name in check.PACKAGES:
        assert f"{name}/__init__.py" in shipped
        assert f"{name}/py.typed" in shipped
    assert "runpod_facade/testing/__init__.py" in shipped
    assert not any("__pycache__" in path or "/tests/" in path for path in shipped)
