"""`scripts/regen.sh --check` detects drift between openapi/ and generated/.

Runs the real script on a copy of the repo's openapi/, scripts/ and generated/, reusing the
pinned generator environment `<repo>/.venv-gen` (which `make test` creates first, through
`make regen-check`), so nothing is installed here.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests._support.spec import REPO

GEN_VENV = REPO / ".venv-gen"
REGEN = REPO / "scripts" / "regen.sh"


def _pins_stamp() -> Path:
    """The stamp regen.sh writes once the pinned generator and ruff are installed."""
    script = REGEN.read_text(encoding="utf-8")
    versions: list[str] = []
    for name in ("GENERATOR_VERSION", "RUFF_VERSION"):
        match = re.search(rf'^{name}="([^"]+)"', script, re.M)
        assert match is not None, f"{name} not found in scripts/regen.sh"
        versions.append(match.group(1))
    return GEN_VENV / f".pins-{versions[0]}-{versions[1]}"


pytestmark = [
    pytest.mark.skipif(
        not GEN_VENV.is_dir(),
        reason=f"{GEN_VENV} does not exist: run `scripts/regen.sh --check` (or `make test`) first",
    ),
    pytest.mark.skipif(
        GEN_VENV.is_dir() and not _pins_stamp().is_file(),
        reason=(
            f"{GEN_VENV} lacks {_pins_stamp().name}: regen.sh would wipe and reinstall it; "
            "run `scripts/regen.sh --check` first"
        ),
    ),
]


@pytest.fixture
def repo_copy(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    ignore = shutil.ignore_patterns("__pycache__", ".ruff_cache")
    for name in ("openapi", "scripts", "generated"):
        shutil.copytree(REPO / name, root / name, ignore=ignore, symlinks=True)
    return root


def regen_check(root: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "RUNPOD_FACADE_GEN_VENV": str(GEN_VENV)}
    return subprocess.run(
        ["bash", str(root / "scripts" / "regen.sh"), "--check"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_check_passes_on_an_unmodified_copy(repo_copy: Path) -> None:
    result = regen_check(repo_copy)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "in sync" in result.stdout


def test_check_fails_with_a_diff_when_the_spec_changes(repo_copy: Path) -> None:
    spec = repo_copy / "openapi" / "runpod-serverless.yaml"
    text = spec.read_text(encoding="utf-8")
    anchor = "        retries: {type: integer}\n"
    assert text.count(anchor) == 1, "Job.retries moved: update this test's anchor"
    spec.write_text(
        text.replace(anchor, anchor + "        queuePosition: {type: integer}\n"), encoding="utf-8"
    )

    result = regen_check(repo_copy)

    assert result.returncode != 0, result.stdout + result.stderr
    assert "is stale" in result.stderr
    diff = result.stdout
    assert "models/job.py" in diff
    assert re.search(r"^\+.*queue_position", diff, re.M), diff[:2000]
    assert re.search(r'^\+.*"queuePosition"', diff, re.M), diff[:2000]
    # The fingerprint of the spec in __init__.py changes too.
    assert re.search(r"^\+# Source fingerprint: ", diff, re.M)
    # The repo's own generated/ is untouched: --check never writes.
    assert "queue_position" not in (REPO / "generated/runpod_generated/models/job.py").read_text()
