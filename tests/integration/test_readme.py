"""README snippets marked ``<!-- run: test NAME -->`` run here, each as its prose says it is
used: the webhook receiver receives a real delivery, the test file passes under pytest, the
OpenAI client talks to a local OpenAI worker. (Every other code block of the documents runs,
or says why not, in tests/integration/test_doc_blocks.py.)
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import pytest

from runpod_facade._core.pacing import MARGIN, PROBE_STEP, PROBE_WINDOWS
from runpod_facade.testing import EndpointFactory
from tests._support import docblocks
from tests._support.asgi import serve_asgi


@pytest.fixture
def served_app() -> Iterator[tuple[str, dict[str, Any]]]:
    """Runs the webhook snippet and serves its ``app`` on 127.0.0.1: (URL, its namespace)."""
    namespace: dict[str, Any] = {}
    exec(docblocks.named("webhook-receiver").compiled(), namespace)
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
    pytester.makepyfile(test_readme_snippet=docblocks.named("testing-your-code").code)
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
        exec(docblocks.named("openai-client").compiled(), namespace)
        namespace["ep"].close()
        # models, the plain completion and the streamed one: each a queue job of the endpoint
        submitted = [r.operation for r in local.requests if r.operation]
        assert submitted.count("openai/v1/chat/completions") == 2, submitted
    assert capsys.readouterr().out == "You said: Hello there\nYou said: Hello there"


#: The rate-limits snippet's numbers: its server's /runsync limit per window, the window (s),
#: its jobs, and ``map``'s default concurrency (the most requests in flight at a 429).
SNIPPET_LIMIT, SNIPPET_WINDOW, SNIPPET_JOBS, SNIPPET_IN_FLIGHT = 100, 1.0, 500, 16


def test_rate_limits_snippet_maps_at_the_limit_without_failures(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """What the snippet promises, whatever the load: no item fails; the client learns a rate
    exactly when the server refused something; it then paces instead of bouncing, never
    faster than the 429 taught and its probes allow.

    A machine too busy to send 100 requests a second never meets the limit: no 429, no rate
    (with 3 busy threads in the process, 6 runs of 6; the snippet then raised TypeError on
    the None rate). How far under the limit the rate settles is not asserted here: under
    load the client's count of its window lags the server's, and a 429 that count does not
    explain slows the route by ``SLOW_DOWN``. That the pacer runs at the limit is
    tests/core/test_pacing.py's, on a fake clock.
    """
    namespace: dict[str, Any] = {}
    started = time.monotonic()
    exec(docblocks.named("rate-limits").compiled(), namespace)
    seconds = time.monotonic() - started
    out = capsys.readouterr().out
    limiter = namespace["local"].app.rate_limiter
    refused = limiter.refused["runsync"]
    stats = namespace["ep"].pacing()["runsync"]
    assert (stats.accepted, stats.refused) == (SNIPPET_JOBS, refused)
    if not refused:
        assert (out, stats.rate) == ("0 failed; never limited\n", None)
        return
    assert re.fullmatch(r"0 failed; /runsync paced at \d+/s\n", out), out
    # The refusals while learning (about one per request in flight) and a few more.
    assert refused <= SNIPPET_IN_FLIGHT + 0.05 * SNIPPET_JOBS, refused
    # The first 429 counts the window's N plus at most the requests then in flight (each
    # refused one is taken off again) and sets MARGIN of that; only a probe, one per
    # PROBE_WINDOWS clean windows, goes faster.
    probes = seconds // (PROBE_WINDOWS * SNIPPET_WINDOW)
    most = (SNIPPET_LIMIT + SNIPPET_IN_FLIGHT) / SNIPPET_WINDOW * MARGIN * PROBE_STEP**probes
    assert stats.rate is not None
    assert 0 < stats.rate <= most, (stats.rate, most)


def test_safe_webhook_snippet_refuses_forgeries_and_handles_a_repeat_once(
    monkeypatch: pytest.MonkeyPatch,
    runpod_endpoint: EndpointFactory,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import httpx

    from runpod_facade import new_webhook_secret, webhook_url

    secret = new_webhook_secret()
    monkeypatch.setenv("RUNPOD_WEBHOOK_SECRET", secret)
    namespace: dict[str, Any] = {}
    exec(docblocks.named("webhook-receiver-safe").compiled(), namespace)
    with serve_asgi(namespace["app"]) as base:
        url = webhook_url(f"{base}/runpod-webhook", secret)
        ep = runpod_endpoint(lambda job: {"caption": job["input"]["image_url"]})
        job = ep.run({"image_url": "mat.png"}, webhook=url)
        deadline = time.monotonic() + 30
        while not ep.webhook_attempts:
            assert time.monotonic() < deadline, "no delivery"
            time.sleep(0.01)
        assert [a.status_code for a in ep.webhook_attempts] == [200]
        body = {"id": job.id, "status": "COMPLETED", "output": {"caption": "forged"}}
        # The same delivery again (as RunPod re-sends it), then forgeries.
        assert httpx.post(url, json=body).status_code == 200
        assert httpx.post(f"{base}/runpod-webhook", json=body).status_code == 403
        assert httpx.post(f"{base}/runpod-webhook?token=guess", json=body).status_code == 403
    assert capsys.readouterr().out == f"job {job.id} COMPLETED: {{'caption': 'mat.png'}}\n"
