"""``tell``: what an asyncio cancellation left running is logged besides the notes, since
asyncio may replace the exception that carries them; a KeyboardInterrupt, which keeps its
notes, logs nothing. (Where the log goes when logging is not configured: stderr, see
tests/facade/test_tell_stderr.py.)"""

from __future__ import annotations

import asyncio
import logging

import pytest

from runpod_facade._core.engine import EndpointCore
from runpod_facade._core.interrupts import is_cancellation
from runpod_facade._core.waiting import wait
from tests._support.scripted import FakeClock, ScriptedDriver


@pytest.mark.misuse("signal")
@pytest.mark.parametrize(
    ("interrupt", "told"),
    [(asyncio.CancelledError, True), (KeyboardInterrupt, False), (SystemExit, False)],
)
def test_an_interrupted_wait_tells_only_a_cancellation(
    caplog: pytest.LogCaptureFixture,
    core: EndpointCore,
    clock: FakeClock,
    interrupt: type[BaseException],
    told: bool,
) -> None:
    """Only a CancelledError, which asyncio may replace, is told besides its notes."""
    driver = ScriptedDriver(clock, [], interrupt_at=0, interrupt=interrupt)
    with caplog.at_level(logging.WARNING, "runpod_facade"), pytest.raises(interrupt) as info:
        driver.run(wait(core, "job-1", timeout=None))
    note = "job job-1 left running on the endpoint"
    assert note in "\n".join(info.value.__notes__)
    assert any(note in record.getMessage() for record in caplog.records) is told


def test_is_cancellation() -> None:
    assert is_cancellation(asyncio.CancelledError())
    assert not is_cancellation(KeyboardInterrupt())
    import concurrent.futures

    assert not is_cancellation(concurrent.futures.CancelledError())  # an Exception: an error
