"""``runpod-facade batch`` misused: two of INPUT, OUTPUT and the journal naming one file,
missing directories, every state a journal path can be in (missing, empty, garbage, another
program's database, another batch's or endpoint's journal, locked, read-only, another
format), and the progress line after refused submits. Each refusal is checked to happen
before any request reaches the local endpoint, leaving every file byte for byte as it was.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from runpod_facade._batches.journal import Journal
from runpod_facade.local import LocalEndpoint
from tests._support.readonly import unprivileged_python

from .conftest import ROOT, cli, cli_environment, one_error_line
from .test_cli_batch import by_line, submits, write_lines

INPUTS = [{"n": 1}, {"n": 2}]


@pytest.fixture
def server(env: LocalEndpoint) -> LocalEndpoint:
    """The module's local endpoint (RUNPOD_* point at it), its request log cleared."""
    env.clear_requests()
    return env


@pytest.fixture
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``tmp_path`` as the working directory (relative names are relative to it), with
    ``in.jsonl`` holding two jobs."""
    monkeypatch.chdir(tmp_path)
    write_lines(tmp_path / "in.jsonl", INPUTS)
    return tmp_path


def snapshot(root: Path) -> dict[str, bytes | str]:
    """Every entry under ``root``: a file's bytes, a symlink's target, ``dir``."""
    found: dict[str, bytes | str] = {}
    for path in sorted(root.rglob("*")):
        name = str(path.relative_to(root))
        if path.is_symlink():
            found[name] = "-> " + os.readlink(path)
        elif path.is_dir():
            found[name] = "dir"
        else:
            found[name] = path.read_bytes()
    return found


def batch(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    return cli(capsys, "batch", *args)


def refused(
    capsys: pytest.CaptureFixture[str], server: LocalEndpoint, root: Path, *args: str
) -> str:
    """Run ``batch ARGS``; assert exit 2 with one error line, no request sent and no file
    under ``root`` changed. Returns the error line."""
    before = snapshot(root)
    code, out, err = batch(capsys, *args)
    assert code == 2, err
    assert out == ""
    assert server.requests == []
    assert snapshot(root) == before
    return one_error_line(err)


# --- two names of one file ----------------------------------------------------------------

#: The flags each pair's message names.
PAIRS = {
    "in/out": ("INPUT", "-o OUTPUT"),
    "in/journal": ("INPUT", "--journal"),
    "out/journal": ("-o OUTPUT", "--journal"),
}
FORMS = ["same name", "./ prefix", "absolute", "symlink", "hard link"]


def another_name(form: str, name: str, root: Path) -> str:
    """Another name of ``root / name`` (created, or made to exist, when the form needs it)."""
    if form == "same name":
        return name
    if form == "./ prefix":
        return "./" + name
    if form == "absolute":
        return str(root / name)
    if form == "symlink":  # dangling until the file exists
        (root / "alias").symlink_to(name)
        return "alias"
    assert form == "hard link"
    (root / name).touch()  # a hard link needs the file (an empty OUTPUT is a fresh one)
    os.link(root / name, root / "alias")
    return "alias"


@pytest.mark.misuse("path")
@pytest.mark.parametrize("run", ["fresh", "resume"])
@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("pair", list(PAIRS))
def test_two_names_of_one_file_are_refused_before_anything_is_sent(
    server: LocalEndpoint,
    capsys: pytest.CaptureFixture[str],
    here: Path,
    pair: str,
    form: str,
    run: str,
) -> None:
    paths = {"in": "in.jsonl", "out": "out.jsonl", "journal": "j.journal"}
    if run == "resume":
        code, _, err = batch(capsys, "in.jsonl", "-o", "out.jsonl", "--journal", "j.journal")
        assert code == 0, err
        server.clear_requests()
    first, second = pair.split("/")
    paths[second] = another_name(form, paths[first], here)
    message = refused(
        capsys, server, here, paths["in"], "-o", paths["out"], "--journal", paths["journal"]
    )
    a, b = PAIRS[pair]
    assert f"{a} and {b} are the same file" in message
    assert ("pick another --journal" if b == "--journal" else "pick another -o") in message


@pytest.mark.misuse("path")
@pytest.mark.parametrize(
    ("args", "expected"),
    [
        # The default journal (OUTPUT.journal) is INPUT.
        (["o.jsonl.journal", "-o", "o.jsonl"], "INPUT and the journal (default OUTPUT.journal)"),
        # OUTPUT where SQLite puts the journal's write-ahead log.
        (["in.jsonl", "-o", "j.journal-wal", "--journal", "j.journal"], "side file"),
        (["j.journal-journal", "-o", "out.jsonl", "--journal", "j.journal"], "side file"),
        # A missing directory is named as such, not as a journal that cannot be opened.
        (["in.jsonl", "-o", "nodir/out.jsonl"], "its directory"),
        (["in.jsonl", "-o", "out.jsonl", "--journal", "nodir/j"], "the directory"),
        (["in.jsonl", "-o", "adir"], "is a directory"),
        (["in.jsonl", "-o", "out.jsonl", "--journal", "adir"], "is a directory"),
    ],
    ids=[
        "default journal is INPUT",
        "OUTPUT is the journal's -wal",
        "INPUT is the journal's -journal",
        "OUTPUT directory missing",
        "journal directory missing",
        "OUTPUT is a directory",
        "journal is a directory",
    ],
)
def test_paths_that_cannot_work_are_refused_before_anything_is_sent(
    server: LocalEndpoint,
    capsys: pytest.CaptureFixture[str],
    here: Path,
    args: list[str],
    expected: str,
) -> None:
    write_lines(here / "o.jsonl.journal", INPUTS)
    write_lines(here / "j.journal-journal", INPUTS)
    (here / "adir").mkdir()
    message = refused(capsys, server, here, *args)
    assert expected in message
    if "nodir" in " ".join(args):
        assert "does not exist" in message and "cannot open the journal" not in message


@pytest.mark.misuse("path")
def test_journal_naming_output_on_a_fresh_run_is_refused(
    server: LocalEndpoint, capsys: pytest.CaptureFixture[str], here: Path
) -> None:
    # It used to run, write its 2 lines and leave OUTPUT an SQLite database.
    message = refused(capsys, server, here, "in.jsonl", "-o", "out.jsonl", "--journal", "out.jsonl")
    assert "-o OUTPUT and --journal are the same file" in message
    assert not (here / "out.jsonl").exists()


# --- the journal's states -----------------------------------------------------------------


def _foreign(path: Path) -> None:
    with sqlite3.connect(path) as db:  # another program's database, in WAL like ours
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("CREATE TABLE notes (body TEXT)")
        db.execute("INSERT INTO notes VALUES ('keep me')")
    db.close()


def _foreign_stamped(path: Path) -> None:
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA application_id = 1234")
        db.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    db.close()


def _format_1(path: Path) -> None:
    """A journal as runpod-facade wrote it before journals were stamped."""
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        db.execute("CREATE TABLE items (idx INTEGER PRIMARY KEY, fingerprint BLOB NOT NULL)")
        db.execute("INSERT INTO meta VALUES ('schema', '1'), ('endpoint_id', 'x')")
    db.close()


def _newer(path: Path, endpoint_id: str) -> None:
    Journal(path, endpoint_id).close()
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA user_version = 99")
    db.close()


def _another_batch(path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    other = write_lines(path.parent / "other.jsonl", [{"x": 1}])
    code, _, err = batch(
        capsys, str(other), "-o", str(path.parent / "o.out"), "--journal", str(path)
    )
    assert code == 0, err


def make_journal(
    state: str, path: Path, server: LocalEndpoint, capsys: pytest.CaptureFixture[str]
) -> None:
    """Put a journal in ``state`` at ``path`` (after removing what is there)."""
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    setups: dict[str, Callable[[], object]] = {
        "missing": lambda: None,
        "empty": path.touch,
        "garbage": lambda: path.write_bytes(b"\x00\x01 not a database \xff" * 40),
        "foreign SQLite": lambda: _foreign(path),
        "foreign stamped": lambda: _foreign_stamped(path),
        "another batch's": lambda: _another_batch(path, capsys),
        "another endpoint's": lambda: Journal(path, "another-endpoint").close(),
        "older format": lambda: _format_1(path),
        "newer format": lambda: _newer(path, server.endpoint_id),
    }
    setups[state]()
    capsys.readouterr()
    server.clear_requests()


#: state -> what a rerun next to a complete OUTPUT says (None: it runs), then with --restart.
JOURNAL_STATES: dict[str, tuple[str, str | None]] = {
    "missing": ("holds no batch (it is missing)", None),
    "empty": ("holds no batch (it is empty (0 bytes))", None),
    "garbage": ("not an SQLite database", "delete it or pick another journal path"),
    "foreign SQLite": ("SQLite database of another program", "deletes only a batch journal"),
    "foreign stamped": ("SQLite database of another program", "deletes only a batch journal"),
    "another batch's": ("line 1 of INPUT is not the input the journal", None),
    "another endpoint's": ("belongs to endpoint 'another-endpoint'", None),
    "older format": ("older runpod-facade (journal format 1", None),
    "newer format": ("newer runpod-facade (journal format 99", None),
}
#: On a fresh run (no OUTPUT), a missing or empty journal is simply a new one.
FRESH_RUNS = {"missing", "empty"}


@pytest.mark.misuse("journal")
@pytest.mark.parametrize("run", ["fresh", "resume", "resume --restart"])
@pytest.mark.parametrize("state", list(JOURNAL_STATES))
def test_journal_states(
    server: LocalEndpoint,
    capsys: pytest.CaptureFixture[str],
    here: Path,
    state: str,
    run: str,
) -> None:
    journal = here / "j.journal"
    args = ["in.jsonl", "-o", "out.jsonl", "--journal", str(journal)]
    if run != "fresh":
        code, _, err = batch(capsys, *args)
        assert code == 0, err
    make_journal(state, journal, server, capsys)
    restart = run.endswith("--restart")
    message, with_restart = JOURNAL_STATES[state]
    expected = with_restart if restart else message
    runs = (run == "fresh" and state in FRESH_RUNS) or (restart and with_restart is None)
    if not runs:
        assert expected is not None
        line = refused(capsys, server, here, *args, *(["--restart"] if restart else []))
        assert expected in line
        if state == "older format" and not restart:
            assert "--restart" in line  # says how to proceed
        return
    code, _, err = batch(capsys, *args, *(["--restart"] if restart else []))
    assert code == 0, err
    assert sorted(by_line(here / "out.jsonl")) == [1, 2]
    assert len(submits(server)) == 2
    Journal(journal, server.endpoint_id).close()  # now a journal of this version


@pytest.mark.misuse("journal")
@pytest.mark.parametrize("flag", [[], ["--restart"]])
def test_a_locked_journal_is_refused(
    server: LocalEndpoint, capsys: pytest.CaptureFixture[str], here: Path, flag: list[str]
) -> None:
    args = ["in.jsonl", "-o", "out.jsonl"]
    assert batch(capsys, *args)[0] == 0
    holder = Journal(here / "out.jsonl.journal", server.endpoint_id)  # as a running batch
    try:
        server.clear_requests()
        line = refused(capsys, server, here, *args, *flag)
    finally:
        holder.close()
    assert "in use by another batch run" in line


def test_missing_and_empty_journals_refuse_only_when_output_has_results(
    server: LocalEndpoint, capsys: pytest.CaptureFixture[str], here: Path
) -> None:
    args = ["in.jsonl", "-o", "out.jsonl"]
    assert batch(capsys, *args)[0] == 0
    (here / "out.jsonl.journal").write_bytes(b"")
    server.clear_requests()
    line = refused(capsys, server, here, *args)
    assert "OUTPUT 'out.jsonl' already has 2 result lines" in line
    assert "--restart" in line and "--journal" in line
    # An empty OUTPUT has no finished work to protect: the run starts the batch.
    (here / "out.jsonl").write_bytes(b"")
    assert batch(capsys, *args)[0] == 0
    assert len(submits(server)) == 2


# --- read-only journal or directory (a real permission check, even as root) -------------


def run_unprivileged(
    server: LocalEndpoint, cwd: Path, *args: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        unprivileged_python("-m", "runpod_facade", "batch", *args),
        capture_output=True,
        text=True,
        env={**cli_environment(server), "PYTHONPATH": str(ROOT)},
        cwd=cwd,
        timeout=60,
        check=False,
    )


@pytest.mark.misuse("journal")
@pytest.mark.parametrize(
    ("case", "flags", "expected"),
    [
        ("journal file", [], "is read-only"),
        ("journal file", ["--restart"], "is read-only"),
        ("directory, fresh run", [], "directory"),
        ("directory, resume", [], "directory"),
    ],
)
def test_a_read_only_journal_or_directory_is_refused(
    server: LocalEndpoint, here: Path, case: str, flags: list[str], expected: str
) -> None:
    work = here / "work"
    work.mkdir()
    (work / "in.jsonl").write_bytes((here / "in.jsonl").read_bytes())
    args = ["in.jsonl", "-o", "out.jsonl"]
    if case != "directory, fresh run":
        assert run_unprivileged(server, work, *args).returncode == 0
    journal = work / "out.jsonl.journal"
    if case.startswith("journal file"):
        journal.chmod(0o444)
    else:
        work.chmod(0o555)
    try:
        before = snapshot(work)
        server.clear_requests()
        done = run_unprivileged(server, work, *args, *flags)
        after = snapshot(work)
    finally:
        work.chmod(0o755)
    assert done.returncode == 2, done.stderr
    line = one_error_line(done.stderr)
    assert expected in line and "read-only" in line
    assert server.requests == [] and after == before


# --- what the display and the summary say -------------------------------------------------


@pytest.mark.misuse("key")
def test_refused_submits_are_not_shown_as_running(
    server: LocalEndpoint, capsys: pytest.CaptureFixture[str], here: Path
) -> None:
    write_lines(here / "in.jsonl", [{"n": n} for n in range(40)])
    code, _, err = batch(
        capsys, "in.jsonl", "-o", "out.jsonl", "--concurrency", "8", "--api-key", "rp_wrong_0123"
    )
    assert code == 6, err
    assert [r.status_code for r in server.requests if r.operation == "run"][:1] == [401]
    progress = [line for line in err.splitlines() if line.startswith("batch: ")]
    assert progress and ", 0 running" in progress[-1], progress
