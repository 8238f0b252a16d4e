"""``tell`` in a plain script (a fresh interpreter, logging not configured): what an
interrupt left running reaches stderr through ``logging.lastResort`` — the logger's own
NullHandler would swallow it — with secrets masked; configured logging decides otherwise."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest


def run_script(code: str) -> subprocess.CompletedProcess[str]:
    """``code`` in a fresh interpreter: logging as in a plain script (nothing configured)."""
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )


@pytest.mark.misuse("signal")
def test_unconfigured_logging_tells_on_stderr_and_masks_secrets() -> None:
    done = run_script(
        """
        from runpod_facade._core.interrupts import tell
        from runpod_facade._logging import register_secret

        register_secret("rp_tell_secret_value")
        tell(["runpod-facade: job j1 left running", "runpod-facade: rp_tell_secret_value"])
        """
    )
    assert done.stderr == "runpod-facade: job j1 left running\nrunpod-facade: <redacted>\n"


@pytest.mark.misuse("signal")
def test_configured_logging_decides() -> None:
    done = run_script(
        """
        import logging, sys
        from runpod_facade._core.interrupts import tell
        logging.basicConfig(stream=sys.stdout, format="%(levelname)s %(name)s %(message)s")
        tell(["runpod-facade: job j1 left running"])
        logging.getLogger("runpod_facade").setLevel(logging.ERROR)  # silenced by the app
        tell(["runpod-facade: job j2 left running"])
        """
    )
    assert done.stdout == "WARNING runpod_facade runpod-facade: job j1 left running\n"
    assert done.stderr == ""
