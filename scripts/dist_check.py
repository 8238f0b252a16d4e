"""The built sdist and wheel hold what a release needs, under the package's one version.

Usage: ``python scripts/dist_check.py DIST_DIR`` (``make dist``, after ``python -m build``).
Reads the archives only; ``scripts/dist_smoke.py`` then runs the wheel installed in a clean
venv. Prints every problem found and exits 1 if there is one. Standard library only.
"""

from __future__ import annotations

import ast
import sys
import tarfile
import zipfile
from email.parser import Parser
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
NAME = "runpod_facade"  # the distribution's name as it appears in file names

#: The source trees the wheel must carry file for file (every module, and py.typed): the
#: façade and each generated client (one per spec, generated/runpod_generated*).
PACKAGES = {"runpod_facade": REPO / "runpod_facade"} | {
    path.name: path
    for path in sorted((REPO / "generated").glob("runpod_generated*"))
    if (path / "__init__.py").is_file()
}
#: Shipped beside the packages: the pytest plugin is a top-level module on purpose.
MODULES = ("_runpod_facade_pytest.py",)
#: Lines entry_points.txt must have: the command line and the pytest plugin.
ENTRY_POINTS = (
    "[console_scripts]",
    "runpod-facade = runpod_facade.cli:main",
    "[pytest11]",
    "runpod_facade = _runpod_facade_pytest",
)
#: What the sdist must carry to rebuild the wheel (relative to its top folder).
SDIST_FILES = (
    "pyproject.toml",
    "README.md",
    "PKG-INFO",
    "_runpod_facade_pytest.py",
    "runpod_facade/_version.py",
    "runpod_facade/py.typed",
    "generated/runpod_generated/py.typed",
)


def source_version(repo: Path = REPO) -> str:
    """``__version__`` of runpod_facade/_version.py, read without importing the package."""
    tree = ast.parse((repo / "runpod_facade" / "_version.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(target, ast.Name) and target.id == "__version__" for target in node.targets
        ):
            value = ast.literal_eval(node.value)
            if isinstance(value, str):
                return value
    raise ValueError("runpod_facade/_version.py assigns no string to __version__")


def shipped_sources(packages: dict[str, Path] = PACKAGES) -> set[str]:
    """The wheel paths of every file the packages must ship: their modules and py.typed."""
    found: set[str] = set()
    for name, root in packages.items():
        for path in root.rglob("*"):
            if (
                path.is_file()
                and "__pycache__" not in path.parts
                and path.suffix in {".py", ".typed"}
            ):
                found.add(f"{name}/{path.relative_to(root).as_posix()}")
    return found


def wheel_problems(wheel: Path, version: str, expected: set[str]) -> list[str]:
    """What is wrong with ``wheel``: its name, version, files, entry points and metadata."""
    problems: list[str] = []
    if wheel.name != f"{NAME}-{version}-py3-none-any.whl":
        problems.append(f"{wheel.name}: expected {NAME}-{version}-py3-none-any.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        info = f"{NAME}-{version}.dist-info"
        metadata = _read(archive, f"{info}/METADATA")
        entry_points = _read(archive, f"{info}/entry_points.txt")
    tests = {name for name in names if _is_test(name)}
    code = {name for name in names - tests if not name.split("/")[0].endswith(".dist-info")}
    for missing in sorted(expected - code):
        problems.append(f"{wheel.name} lacks {missing}")
    for extra in sorted(code - expected - set(MODULES)):
        problems.append(f"{wheel.name} carries {extra}, which is not in the source tree")
    for module in MODULES:
        if module not in names:
            problems.append(f"{wheel.name} lacks {module} (the pytest plugin)")
    problems += [f"{wheel.name} carries test code: {name}" for name in sorted(tests)]
    if metadata is None:
        problems.append(f"{wheel.name} has no {info}/METADATA")
    else:
        problems += _metadata_problems(wheel.name, metadata, version)
    if entry_points is None:
        problems.append(f"{wheel.name} has no {info}/entry_points.txt")
    else:
        lines = {line.strip() for line in entry_points.splitlines()}
        problems += [
            f"{wheel.name}: entry_points.txt lacks {line!r}"
            for line in ENTRY_POINTS
            if line not in lines
        ]
    return problems


def sdist_problems(sdist: Path, version: str) -> list[str]:
    """What is wrong with ``sdist``: its name, version, and the files a rebuild needs."""
    problems: list[str] = []
    top = f"{NAME}-{version}"
    if sdist.name != f"{top}.tar.gz":
        problems.append(f"{sdist.name}: expected {top}.tar.gz")
    with tarfile.open(sdist) as archive:
        names = set(archive.getnames())
        member = archive.extractfile(f"{top}/PKG-INFO") if f"{top}/PKG-INFO" in names else None
        pkg_info = member.read().decode() if member is not None else None
    problems += [
        f"{sdist.name} lacks {top}/{path}" for path in SDIST_FILES if f"{top}/{path}" not in names
    ]
    if pkg_info is not None:
        problems += _metadata_problems(sdist.name, pkg_info, version)
    return problems


def dist_problems(dist: Path, version: str, expected: set[str]) -> list[str]:
    """Every problem of the one wheel and the one sdist in ``dist``."""
    wheels, sdists = sorted(dist.glob("*.whl")), sorted(dist.glob("*.tar.gz"))
    if len(wheels) != 1 or len(sdists) != 1:
        found = ", ".join(path.name for path in wheels + sdists) or "nothing"
        return [f"{dist}: expected one wheel and one sdist, found {found}"]
    return wheel_problems(wheels[0], version, expected) + sdist_problems(sdists[0], version)


def _metadata_problems(where: str, text: str, version: str) -> list[str]:
    message = Parser().parsestr(text)
    problems = []
    if message["Name"] != "runpod-facade":
        problems.append(f"{where}: metadata Name is {message['Name']!r}, not 'runpod-facade'")
    if message["Version"] != version:
        problems.append(
            f"{where}: metadata Version is {message['Version']!r}, but runpod_facade.__version__"
            f" is {version!r}"
        )
    if message["Description-Content-Type"] != "text/markdown":
        problems.append(f"{where}: the README is not declared as text/markdown")
    return problems


def _is_test(name: str) -> bool:
    parts = name.split("/")
    return "tests" in parts or parts[-1] == "conftest.py"


def _read(archive: zipfile.ZipFile, name: str) -> str | None:
    try:
        return archive.read(name).decode()
    except KeyError:
        return None


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    problems = dist_problems(Path(argv[0]), source_version(), shipped_sources())
    for problem in problems:
        print(f"dist_check: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
