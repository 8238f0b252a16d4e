"""The API key never shows: not in reprs, exceptions, tracebacks or debug logs."""

from __future__ import annotations

import logging
import traceback

import httpx
import pytest

from runpod_facade import Endpoint, InvalidInputError, RunpodError
from runpod_facade._config import ApiKey
from runpod_facade._logging import redact

from .fakeapi import API_KEY, FakeApi, job


def test_key_not_in_reprs() -> None:
    api = FakeApi().on("status", job("COMPLETED"))
    ep = api.endpoint()
    for text in (
        repr(ep),
        str(ep),
        repr(ep._settings),
        repr(ep.job("job-1")),
        repr(ApiKey(API_KEY)),
    ):
        assert API_KEY not in text


def test_key_not_in_errors_or_tracebacks_even_if_the_server_echoes_it() -> None:
    echo = httpx.Response(401, json={"error": f"bad token Bearer {API_KEY}"})
    api = FakeApi().on("status", echo)
    with pytest.raises(RunpodError) as info:
        api.endpoint().status("job-1")
    # The body is kept verbatim for the caller, but rendering never shows the key.
    rendered = str(info.value) + "".join(traceback.format_exception(info.value))
    assert API_KEY not in rendered


def test_debug_log_has_requests_but_never_the_key(caplog: pytest.LogCaptureFixture) -> None:
    api = FakeApi().on("status", httpx.Response(503), job("COMPLETED"))
    with caplog.at_level(logging.DEBUG, logger="runpod_facade"):
        api.endpoint().status("job-1")
        logging.getLogger("runpod_facade").debug("leak attempt %s", API_KEY)
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "GET /ep-1/status/job-1 -> HTTP 503" in text
    assert "retrying" in text
    assert API_KEY not in text
    assert "<redacted>" in text


def test_malformed_key_is_rejected_without_echoing_it() -> None:
    bad = "rp_abc\r\nX-Injected: 1"
    with pytest.raises(InvalidInputError) as info:
        Endpoint("ep", api_key=bad)
    assert bad not in str(info.value) and "rp_abc" not in str(info.value)


def test_redact_masks_registered_keys() -> None:
    key = ApiKey("rp_another_secret_value")
    assert redact("x rp_another_secret_value y") == "x <redacted> y"
    del key


def test_insecure_http_refused_for_remote_hosts() -> None:
    with pytest.raises(InvalidInputError, match="unencrypted"):
        Endpoint("ep", api_key=API_KEY, base_url="http://api.example.com/v2")
    Endpoint(
        "ep", api_key=API_KEY, base_url="http://api.example.com/v2", allow_insecure_http=True
    ).close()
    Endpoint("ep", api_key=API_KEY, base_url="http://127.0.0.1:8000/v2").close()
    Endpoint("ep", api_key=API_KEY, base_url="http://localhost:8000/v2").close()
    Endpoint("ep", api_key=API_KEY, base_url="http://[::1]:8000/v2").close()


def test_keyboard_interrupt_can_cancel_the_remote_job() -> None:
    api = FakeApi().on("status", job("IN_PROGRESS")).on("cancel", job("CANCELLED"))

    def interrupt(_state: object) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        api.endpoint(long_poll=False).job("job-1").wait(
            on_status=interrupt, cancel_on_interrupt=True
        )
    assert api.ops() == ["status", "cancel"]


def test_env_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUNPOD_API_KEY", API_KEY)
    monkeypatch.setenv("RUNPOD_ENDPOINT_ID", "env-ep")
    monkeypatch.setenv("RUNPOD_BASE_URL", "https://example.test/v2/")
    with Endpoint() as ep:
        assert ep.endpoint_id == "env-ep"
        assert ep.base_url == "https://example.test/v2"
        assert ep._settings.api_key is not None and ep._settings.api_key.reveal() == API_KEY
