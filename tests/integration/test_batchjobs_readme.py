"""The README's Batch Jobs API snippet, run as written against the local endpoint (found
through the environment, as the snippet says), in a directory holding its prompts.txt."""

from __future__ import annotations

import gc
import warnings
from pathlib import Path

import pytest

from runpod_facade.local import LocalEndpoint
from tests._support import docblocks
from tests._support.handlers import dispatch


def test_batch_jobs_snippet(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "prompts.txt").write_text("".join(f"picture {n}\n" for n in range(25)))
    monkeypatch.chdir(tmp_path)
    with LocalEndpoint(dispatch, workers=2) as local:
        monkeypatch.setenv("RUNPOD_ENDPOINT_ID", local.endpoint_id)
        monkeypatch.setenv("RUNPOD_API_KEY", local.api_key or "")
        monkeypatch.setenv("RUNPOD_BASE_URL", local.base_url)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ResourceWarning)
            exec(docblocks.named("batch-jobs").compiled(), {"__name__": "readme"})
            gc.collect()  # an unclosed file (the snippet once left prompts.txt open) warns here
        created = local.app.batches.store.created
    assert [str(w.message) for w in caught if w.category is ResourceWarning] == []
    printed = capsys.readouterr().out.splitlines()
    assert printed[0] == "3 completed, 0 failed"
    assert [line.split(" ", 2)[1] for line in printed[1:4]] == ["COMPLETED"] * 3
    mapped = {int(line.split(" ", 1)[0]): line.split(" ", 1)[1] for line in printed[4:]}
    assert mapped == {n: str({"prompt": f"picture {n}"}) for n in range(25)}
    assert sum(1 for c in created if c.request_id is None) == 2
    assert (tmp_path / "prompts.journal").exists()
