"""README snippets that are marked ``<!-- readme-test: NAME -->`` run here, each as its prose says
it is used: the webhook receiver receives a real delivery, the test file passes under pytest.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from runpod_facade.testing import EndpointFactory
from tests._support.asgi import serve_asgi

README = Path(__file__).resolve().parents[2] / "README.md"

# A marker line, then a fenced python block: the snippet is the block's body.
_MARKED = re.compile(r"<!-- readme-test: ([\w-]+) -->\n```python\n(.*?)\n```", re.DOTALL)

#: The sections whose every python snippet must be marked (and so run below).
CHECKED_SECTIONS = (
    "OpenAI-compatible endpoints",
    "Webhooks",
    "Batch Jobs API",
    "Testing your code",
)


def snippets() -> dict[str, str]:
    text = README.read_text(encoding="utf-8")
    found: dict[str, str] = {}
    for name, code in _MARKED.findall(text):
        assert name not in found, f"two README snippets are named {name!r}"
        found[name] = code
    return found


def section(title: str) -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start : None if end < 0 else end]


def test_every_python_snippet_of_the_checked_sections_is_marked_and_run() -> None:
    for title in CHECKED_SECTIONS:
        body = section(title)
        fences = body.count("```python")
        assert fences >= 1, title
        assert len(_MARKED.findall(body)) == fences, f"unmarked python snippet in {title!r}"
    assert set(snippets()) == {
        "openai-client",
        "webhook-receiver",
        "batch-jobs",
        "testing-your-code",
    }


@pytest.fixture
def served_app() -> Iterator[tuple[str, dict[str, Any]]]:
    """Runs the webhook snippet and serves its ``app`` on 127.0.0.1: (URL, its namespace)."""
    namespace: dict[str, Any] = {}
    exec(compile(snippets()["webhook-receiver"], "README.md[webhook-receiver]", "exec"), namespace)
    with serve_asgi(namespace["app"]) as base:
        yield f"{base}/runpod-webhook", namespace


def test_webhook_receiver_snippet_receives_a_delivery(
    served_app: tuple[str, dict[str, Any]],
    runpod_endpoint: EndpointFactory,
    capsys: pytest.CaptureFixture[str],
) -> None:
    url, _ = served_app
    ep = runpod_endpoint(lambda job: {"caption": job["input"]["image_url"]})
    job = ep.run({"image_url": "mat.png"}, webhook=url)
    deadline = time.monotonic() + 30
    while not ep.webhook_attempts:
        assert time.monotonic() < deadline, "no delivery"
        time.sleep(0.01)
    (attempt,) = ep.webhook_attempts
    assert attempt.status_code == 200
    assert f"job {job.id} COMPLETED: {{'caption': 'mat.png'}}" in capsys.readouterr().out


def test_testing_snippet_passes_under_pytest(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    pytester.makepyfile(test_readme_snippet=snippets()["testing-your-code"])
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)


def test_openai_snippet_talks_to_a_local_openai_worker(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from runpod_facade.local import LocalEndpoint, sample_handlers

    with LocalEndpoint(sample_handlers.openai_chat) as local:
        monkeypatch.setenv("RUNPOD_ENDPOINT_ID", local.endpoint_id)
        monkeypatch.setenv("RUNPOD_API_KEY", local.api_key or "")
        monkeypatch.setenv("RUNPOD_BASE_URL", local.base_url)
        namespace: dict[str, Any] = {}
        exec(compile(snippets()["openai-client"], "README.md[openai-client]", "exec"), namespace)
        namespace["ep"].close()
        # models, the plain completion and the streamed one: each a queue job of the endpoint
        submitted = [r.operation for r in local.requests if r.operation]
        assert submitted.count("openai/v1/chat/completions") == 2, submitted
    assert capsys.readouterr().out == "You said: Hello there\nYou said: Hello there"
