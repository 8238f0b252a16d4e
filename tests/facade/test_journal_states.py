"""``Endpoint.map(..., journal=path)`` for every state the path can be in, against a local
endpoint over loopback: a missing or empty file becomes a new, stamped journal; anything
else that is not this version's journal (garbage, another program's SQLite database, a
journal of another format, endpoint or batch, one in use, a read-only file or directory, a
directory, the very file the inputs are read from) is refused with :class:`JournalError`
before any request is sent, and left byte for byte as it was — no side file either."""

from __future__ import annotations

import json
import sqlite3
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from runpod_facade import AsyncEndpoint, Endpoint, JournalError
from runpod_facade._batches.journal import APPLICATION_ID, FORMAT_VERSION, Journal
from runpod_facade.demo import demo_handler
from runpod_facade.local import LocalEndpoint
from tests._support.readonly import unprivileged_python

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def local() -> Iterator[LocalEndpoint]:
    with LocalEndpoint(demo_handler, workers=2) as ep:
        yield ep


@pytest.fixture
def server(local: LocalEndpoint) -> LocalEndpoint:
    local.clear_requests()
    return local


def endpoint(local: LocalEndpoint) -> Endpoint:
    return Endpoint(local.endpoint_id, base_url=local.base_url, api_key=local.api_key)


def snapshot(root: Path) -> dict[str, bytes | str]:
    return {
        str(p.relative_to(root)): "dir" if p.is_dir() else p.read_bytes()
        for p in sorted(root.rglob("*"))
    }


def _foreign(path: Path) -> None:
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("CREATE TABLE notes (body TEXT)")
        db.execute("INSERT INTO notes VALUES ('keep me')")
    db.close()


def _stamped(path: Path, application_id: int, version: int) -> None:
    with sqlite3.connect(path) as db:
        db.execute(f"PRAGMA application_id = {application_id}")
        db.execute(f"PRAGMA user_version = {version}")
        db.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    db.close()


def _format_1(path: Path) -> None:
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        db.execute("INSERT INTO meta VALUES ('schema', '1'), ('endpoint_id', 'x')")
    db.close()


def _another_batch(path: Path, local: LocalEndpoint) -> None:
    with endpoint(local) as ep:
        assert all(item.ok for item in ep.map([{"other": 1}], journal=path))


#: state -> (how to make it at the path, JournalError.reason, words of the message).
REFUSED: dict[str, tuple[Callable[[Path, LocalEndpoint], object], str, str]] = {
    "garbage": (
        lambda p, _: p.write_bytes(b"\x00\xff just bytes " * 50),
        "not_sqlite",
        "not an SQLite database",
    ),
    "short garbage": (lambda p, _: p.write_bytes(b"x"), "not_sqlite", "not an SQLite database"),
    "foreign SQLite": (lambda p, _: _foreign(p), "foreign", "another program"),
    "foreign stamped": (lambda p, _: _stamped(p, 77, 1), "foreign", "another program"),
    "older format": (lambda p, _: _format_1(p), "older", "older runpod-facade"),
    "older stamped": (lambda p, _: _stamped(p, APPLICATION_ID, 1), "older", "journal format 1"),
    "newer format": (lambda p, _: _stamped(p, APPLICATION_ID, 99), "newer", "newer runpod-facade"),
    "another endpoint's": (
        lambda p, _: Journal(p, "another-endpoint").close(),
        "endpoint",
        "belongs to endpoint 'another-endpoint'",
    ),
    "a directory": (lambda p, _: p.mkdir(), "not_a_file", "is a directory"),
    "in a missing directory": (lambda p, _: None, "no_directory", "does not exist"),
}


@pytest.mark.misuse("journal")
@pytest.mark.parametrize("state", list(REFUSED))
def test_a_path_that_is_not_a_journal_of_this_version_is_refused_untouched(
    server: LocalEndpoint, tmp_path: Path, state: str
) -> None:
    make, reason, words = REFUSED[state]
    path = tmp_path / ("nodir/j" if state == "in a missing directory" else "j")
    make(path, server)
    before = snapshot(tmp_path)
    with endpoint(server) as ep, pytest.raises(JournalError) as raised:
        ep.map([{"n": 1}], journal=path)
    assert raised.value.reason == reason
    assert words in str(raised.value)
    assert snapshot(tmp_path) == before  # the file as it was, no -wal or -shm beside it
    assert server.requests == []


@pytest.mark.misuse("journal")
async def test_the_async_map_refuses_the_same_way(server: LocalEndpoint, tmp_path: Path) -> None:
    path = tmp_path / "j"
    _foreign(path)
    before = snapshot(tmp_path)
    async with AsyncEndpoint(
        server.endpoint_id, base_url=server.base_url, api_key=server.api_key
    ) as ep:
        with pytest.raises(JournalError, match="another program"):
            ep.map([{"n": 1}], journal=path)
    assert snapshot(tmp_path) == before and server.requests == []


@pytest.mark.misuse("journal")
@pytest.mark.parametrize("state", ["missing", "empty"])
def test_a_missing_or_empty_file_becomes_a_stamped_journal(
    server: LocalEndpoint, tmp_path: Path, state: str
) -> None:
    path = tmp_path / "j"
    if state == "empty":
        path.touch()
    with endpoint(server) as ep:
        items = list(ep.map([{"n": 1}, {"n": 2}], journal=path))
    assert sorted(i.index for i in items) == [0, 1] and all(i.ok for i in items)
    header = path.read_bytes()[:100]
    assert int.from_bytes(header[68:72], "big") == APPLICATION_ID
    assert int.from_bytes(header[60:64], "big") == FORMAT_VERSION


@pytest.mark.misuse("journal")
def test_another_batchs_journal_is_refused_before_anything_is_sent(
    server: LocalEndpoint, tmp_path: Path
) -> None:
    path = tmp_path / "j"
    _another_batch(path, server)
    server.clear_requests()
    before = snapshot(tmp_path)
    with endpoint(server) as ep, pytest.raises(JournalError, match="input 0 is not the input"):
        list(ep.map([{"n": 1}], journal=path))
    assert snapshot(tmp_path) == before and server.requests == []


@pytest.mark.misuse("journal")
def test_a_journal_in_use_is_refused(server: LocalEndpoint, tmp_path: Path) -> None:
    path = tmp_path / "j"
    holder = Journal(path, server.endpoint_id)
    try:
        with endpoint(server) as ep, pytest.raises(JournalError) as raised:
            ep.map([{"n": 1}], journal=path)
    finally:
        holder.close()
    assert raised.value.reason == "in_use" and server.requests == []


@pytest.mark.misuse("path")
@pytest.mark.parametrize("content", [b'{"n": 1}\n', b""], ids=["lines", "empty"])
def test_the_file_the_inputs_are_read_from_is_refused_as_the_journal(
    server: LocalEndpoint, tmp_path: Path, content: bytes
) -> None:
    source = tmp_path / "inputs.jsonl"
    source.write_bytes(content)
    with endpoint(server) as ep, open(source) as lines:
        for name in (source, f"{tmp_path}/./inputs.jsonl"):
            with pytest.raises(JournalError, match="the file the inputs are read from") as raised:
                ep.map(lines, journal=name)
            assert raised.value.reason == "source"  # as JournalError's docstring lists it
    assert source.read_bytes() == content and server.requests == []


_SCRIPT = """
import json, sys
from runpod_facade import Endpoint, JournalError
endpoint_id, base_url, api_key, journal = sys.argv[1:]
with Endpoint(endpoint_id, base_url=base_url, api_key=api_key) as ep:
    try:
        ep.map([{"n": 1}], journal=journal)
    except JournalError as exc:
        print(json.dumps({"reason": exc.reason, "message": str(exc)}))
    else:
        print(json.dumps(None))
"""


@pytest.mark.misuse("journal")
@pytest.mark.parametrize("what", ["journal file", "directory"])
def test_a_read_only_journal_or_directory_is_refused(
    server: LocalEndpoint, tmp_path: Path, what: str
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    journal = work / "j"
    Journal(journal, server.endpoint_id).close()
    (journal if what == "journal file" else work).chmod(0o555)
    try:
        before = snapshot(work)
        done = subprocess.run(
            unprivileged_python(
                "-c", _SCRIPT, server.endpoint_id, server.base_url, str(server.api_key),
                str(journal),
            ),
            capture_output=True, text=True, cwd=ROOT, timeout=60, check=False,
        )  # fmt: skip
        after = snapshot(work)
    finally:
        work.chmod(0o755)
        journal.chmod(0o644)
    assert done.returncode == 0, done.stderr
    refusal = json.loads(done.stdout)
    assert refusal is not None and refusal["reason"] == "read_only"
    assert "read-only" in refusal["message"]
    assert after == before and server.requests == []


#: A kept state edited by hand -> the words of the JournalError a rerun raises.
EDITED_STATES: dict[str, tuple[bytes, str]] = {
    "not JSON": (b"<html>oops</html>", "the body is not JSON"),
    "not an object": (b"[1, 2]", "expected a JSON object, got list"),
    "another job's": (
        b'{"id": "someone-else", "status": "COMPLETED"}',
        "the body is for job 'someone-else'",
    ),
    "no status": (b'{"output": 1}', "no job status"),
}


@pytest.mark.misuse("journal")
@pytest.mark.parametrize("edit", list(EDITED_STATES))
def test_a_kept_state_edited_by_hand_is_refused_before_anything_is_sent(
    server: LocalEndpoint, tmp_path: Path, edit: str
) -> None:
    raw, words = EDITED_STATES[edit]
    path = tmp_path / "j"
    with endpoint(server) as ep:
        assert all(item.ok for item in ep.map([{"n": 1}], journal=path))
    with sqlite3.connect(path) as db:
        db.execute("UPDATE items SET raw_json = ?", (raw,))
    db.close()
    server.clear_requests()
    with endpoint(server) as ep, pytest.raises(JournalError) as raised:
        list(ep.map([{"n": 1}], journal=path))
    assert raised.value.reason == "unusable"
    assert "holds an unreadable state for input 0" in str(raised.value)
    assert words in str(raised.value)
    assert server.requests == []
