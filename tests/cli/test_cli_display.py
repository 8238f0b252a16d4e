"""Live displays: the status line of waiting commands and the batch progress display, on a
terminal (rich), on a terminal without rich (plain lines), and off a terminal."""

from __future__ import annotations

import io
import re
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator

import pytest

from runpod_facade import JobState, JobStatus
from runpod_facade.cli import main
from runpod_facade.cli._live import StatusLine
from runpod_facade.cli._progress import BatchProgress, format_duration
from runpod_facade.cli._term import Display
from runpod_facade.local import LocalEndpoint

from .conftest import ENV_NAMES, ROOT

ESCAPE = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


class Terminal(io.StringIO):
    """A stream that says it is a terminal, as the tests of the old status line did."""

    def isatty(self) -> bool:
        return True


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def on_terminal(monkeypatch: pytest.MonkeyPatch) -> Terminal:
    """Make ``sys.stderr`` a capable terminal. Called in the test body: pytest's capture
    puts its own stream back between a fixture's setup and the test call."""
    monkeypatch.setenv("TERM", "xterm-256color")
    stream = Terminal()
    monkeypatch.setattr("sys.stderr", stream)
    return stream


@pytest.fixture
def without_rich(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """``import rich.live`` fails, as it does without the [cli] extra."""
    monkeypatch.setitem(sys.modules, "rich.live", None)
    yield


# --- the status line through the commands -------------------------------------------------


@pytest.mark.usefixtures("env")
def test_run_sync_status_line_on_a_terminal(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    terminal = on_terminal(monkeypatch)
    code = main(["run-sync", "--input", '{"task": "progress", "steps": 2, "delay": 0.5}'])
    assert code == 0, terminal.getvalue()
    text = terminal.getvalue()
    assert "submitted, waiting for the result  [run-sync]" in text
    assert text.endswith("\x1b[2K")  # erased: the result on stdout takes its place
    assert "COMPLETED in" in capsys.readouterr().out


@pytest.mark.usefixtures("env", "without_rich")
def test_without_rich_a_terminal_gets_plain_lines(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    terminal = on_terminal(monkeypatch)
    code = main(["run", "--wait", "--input", '{"task": "progress", "steps": 3, "delay": 0.5}'])
    assert code == 0
    text = terminal.getvalue()
    assert not ESCAPE.search(text) and "\r" not in text
    lines = text.splitlines()
    assert lines[0].endswith("queued")
    assert any(
        re.fullmatch(r"job \S+ IN_PROGRESS · progress \{.*\} \(\d+\.\d s\)", x) for x in lines
    )
    assert len(lines) == len(set(lines))  # a line only when something changed
    assert "COMPLETED" in capsys.readouterr().out


@pytest.mark.usefixtures("env")
def test_debug_on_a_terminal_gets_plain_lines(monkeypatch: pytest.MonkeyPatch) -> None:
    terminal = on_terminal(monkeypatch)
    # Log lines and an in-place redraw would fight over the same terminal line.
    assert main(["--debug", "run", "--wait", "--input", '{"task": "sleep", "seconds": 0.3}']) == 0
    text = terminal.getvalue()
    assert "debug: " in text and " IN_" in text
    assert "\x1b[2K" not in text


@pytest.mark.usefixtures("env")
def test_dumb_terminal_gets_plain_lines(monkeypatch: pytest.MonkeyPatch) -> None:
    terminal = on_terminal(monkeypatch)
    monkeypatch.setenv("TERM", "dumb")
    assert main(["run", "--wait", "--input", '{"task": "sleep", "seconds": 0.3}']) == 0
    assert not ESCAPE.search(terminal.getvalue())


@pytest.mark.usefixtures("env")
def test_stream_status_line_ends_before_the_first_chunk(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    terminal = on_terminal(monkeypatch)
    args = ["stream", "--input", '{"task": "stream", "prompt": "a b", "delay": 0.4}']
    assert main(args) == 0
    text = terminal.getvalue()
    assert "waiting for the first chunk" in text or " IN_" in text
    # erased before the chunks were printed, then the closing note
    assert "\x1b[2K" in text and text.rstrip("\n").endswith("COMPLETED (2 chunks)")
    assert capsys.readouterr().out.split() == ["a", "b"]


def run_python(code: str, local: LocalEndpoint) -> subprocess.CompletedProcess[str]:
    import os

    environment = {k: v for k, v in os.environ.items() if k not in ENV_NAMES}
    assert local.api_key is not None
    environment.update(
        RUNPOD_ENDPOINT_ID=local.endpoint_id,
        RUNPOD_API_KEY=local.api_key,
        RUNPOD_BASE_URL=local.base_url,
    )
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        env=environment,
        cwd=ROOT,
        timeout=60,
        check=False,
    )


def test_rich_is_imported_only_for_a_terminal(local: LocalEndpoint) -> None:
    result = run_python(
        """
        import sys
        # httpx imports its own CLI (click, pygments, rich) when all three are installed;
        # with the [cli] extra alone click is missing, and so it is here.
        sys.modules["click"] = None
        import runpod_facade, runpod_facade.cli
        assert "rich" not in sys.modules, "import"
        code = runpod_facade.cli.main(["run", "--wait", "--input", "{}"])
        assert code == 0
        assert "rich" not in sys.modules, "piped stderr"
        """,
        local,
    )
    assert result.returncode == 0, result.stderr


# --- StatusLine itself -------------------------------------------------------------------


def test_status_line_rich_redraws_in_place_and_erases(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TERM", "xterm-256color")
    stream = Terminal()
    with StatusLine("run-sync", stream=stream, refresh=0.05) as line:
        assert line.display is Display.RICH
        time.sleep(0.2)
        line.update(JobState(id="j-1", status=JobStatus.IN_PROGRESS, output={"step": 2}))
        time.sleep(0.2)
    text = stream.getvalue()
    assert text.count("\r\x1b[2K") >= 3  # redrawn several times, in place
    assert 'IN_PROGRESS · progress {"step": 2}  [job j-1]' in text
    assert text.endswith("\x1b[2K")


def test_status_line_is_silent_off_a_terminal() -> None:
    stream = io.StringIO()
    with StatusLine("x", stream=stream) as line:
        assert line.display is Display.OFF
        line.update(JobState(id="j", status=JobStatus.IN_QUEUE))
    assert stream.getvalue() == ""


def test_status_line_plain_heartbeat(without_rich: None) -> None:
    stream, clock = Terminal(), FakeClock()
    with StatusLine("job j", stream=stream, heartbeat=0.05, clock=clock) as line:
        assert line.display is Display.PLAIN
        line.update(JobState(id="j", status=JobStatus.IN_QUEUE))
        clock.now += 12
        time.sleep(0.3)  # the heartbeat repeats the line with the time spent
    lines = stream.getvalue().splitlines()
    assert lines[0] == "job j waiting (0.0 s)"
    assert lines[1] == "job j IN_QUEUE · waiting for a worker (0.0 s)"
    assert "job j IN_QUEUE · waiting for a worker (12.0 s)" in lines[2:]


# --- BatchProgress ------------------------------------------------------------------------


def test_format_duration() -> None:
    assert [format_duration(s) for s in (0, 9.4, 59.6, 65, 3599, 3600, 7380)] == [
        "0s",
        "9s",
        "1m00s",
        "1m05s",
        "59m59s",
        "1h00m",
        "2h03m",
    ]


def test_batch_rate_and_eta_with_a_fake_clock() -> None:
    clock = FakeClock()
    progress = BatchProgress(total=100, stream=io.StringIO(), interval=3600, clock=clock)
    progress.update(done=0, queued=100)
    assert progress.rate() is None and progress.eta() is None
    clock.now += 10
    progress.update(done=18, failed=2, running=4, queued=76)
    assert progress.rate() == pytest.approx(2.0)
    assert progress.eta() == pytest.approx(40.0)
    assert progress.describe() == (
        "batch: 20/100 finished (18 done, 2 failed), 4 running, 76 queued · 2.0 jobs/s "
        "· ETA 40s · 10s elapsed"
    )
    progress.close()


def test_batch_rate_of_a_resumed_batch_counts_from_the_first_update() -> None:
    clock = FakeClock()
    progress = BatchProgress(stream=io.StringIO(), interval=3600, clock=clock)
    progress.update(done=500, total=1000)  # finished in an earlier run
    clock.now += 5
    progress.update(done=510)
    assert progress.rate() == pytest.approx(2.0)
    assert progress.eta() == pytest.approx(245.0)
    progress.close()


def test_batch_update_rejects_bad_counts() -> None:
    progress = BatchProgress(stream=io.StringIO())
    for bad in ({"done": -1}, {"failed": 1.5}, {"total": True}):
        with pytest.raises(ValueError):
            progress.update(**bad)  # type: ignore[arg-type]
    progress.close()


def test_batch_plain_lines_off_a_terminal() -> None:
    stream, clock = io.StringIO(), FakeClock()
    progress = BatchProgress(total=3, stream=stream, interval=0.05, clock=clock)
    assert progress.display is Display.PLAIN
    progress.update(running=2, queued=1)
    time.sleep(0.3)
    clock.now += 3
    progress.update(done=2, failed=1, running=0, queued=0)
    progress.close()
    progress.close()  # idempotent: one summary line
    lines = stream.getvalue().splitlines()
    assert "batch: 0/3 finished (0 done, 0 failed), 2 running, 1 queued · 0s elapsed" in lines
    assert lines[-1] == (
        "batch: 3/3 finished (2 done, 1 failed), 0 running, 0 queued · 1.0 jobs/s · 3s elapsed"
    )
    assert lines.count(lines[-1]) == 1
    assert not ESCAPE.search(stream.getvalue())


def test_batch_rich_bar_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TERM", "xterm-256color")
    stream = Terminal()
    with BatchProgress(total=10, label="prompts", stream=stream) as progress:
        assert progress.display is Display.RICH
        progress.update(done=3, failed=1, running=2, queued=4)
        time.sleep(0.4)
    text = ESCAPE.sub("", stream.getvalue())
    assert "prompts" in text and "4/10" in text and "━" in text
    assert "3 done 1 failed 2 running 4 queued" in text
    summary = [line for line in text.splitlines() if line.startswith("prompts: ")]
    assert summary == [summary[-1]] and "4/10 finished (3 done, 1 failed)" in summary[0]


def test_batch_updates_from_another_thread(without_rich: None) -> None:
    stream = Terminal()
    progress = BatchProgress(total=200, stream=stream, interval=0.01)
    workers = [threading.Thread(target=lambda n=n: progress.update(done=n)) for n in range(1, 201)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    progress.close()
    assert progress.snapshot().total == 200
    assert stream.getvalue().splitlines()[-1].startswith("batch: ")
