"""The API key never shows — in reprs, exceptions, tracebacks or debug logs — and is never sent
over plain ``http://`` to another host unless asked: the rules, over a mocked transport.

(The same rules end to end, against the local endpoint's injected faults on every client and
the CLI: tests/integration/test_secrets.py.)"""

from __future__ import annotations

import logging
import secrets
import traceback
from typing import Any

import httpx
import pytest

from runpod_facade import AsyncEndpoint, Endpoint, InvalidInputError, RunpodError
from runpod_facade._config import ApiKey
from runpod_facade._logging import redact
from tests._support.fakeapi import API_KEY, FakeApi, job


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
    # The body is kept for the caller, but with the key masked, and rendering never shows it.
    rendered = str(info.value) + "".join(traceback.format_exception(info.value))
    assert API_KEY not in rendered
    assert API_KEY not in info.value.body  # type: ignore[attr-defined]
    assert "bad token Bearer <redacted>" in info.value.body  # type: ignore[attr-defined]


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


# --- http:// only to loopback ----------------------------------------------------------------

NON_LOOPBACK = [
    "http://api.runpod.ai/v2",
    "http://example.com/v2",
    "http://10.0.0.5:8000/v2",
    "http://[2001:db8::1]/v2",
    "http://localhost.example.com/v2",
    "http://127.0.0.1.nip.io/v2",
    "http://0.0.0.0:8000/v2",
]
LOOPBACK = [
    "http://127.0.0.1:8000/v2",
    "http://127.5.6.7/v2",
    "http://localhost:8000/v2",
    "http://[::1]:8000/v2",
]


def check_error(exc: BaseException, key: str) -> None:
    for text in (str(exc), repr(exc), "".join(traceback.format_exception(exc))):
        assert key not in text


@pytest.mark.parametrize("client", [Endpoint, AsyncEndpoint])
@pytest.mark.parametrize("url", NON_LOOPBACK)
def test_plain_http_to_a_remote_host_is_refused(url: str, client: type[Any]) -> None:
    key = f"secret_{secrets.token_hex(8)}"
    with pytest.raises(InvalidInputError) as info:
        client("ep", base_url=url, api_key=key)
    assert "unencrypted" in str(info.value)
    assert "allow_insecure_http" in str(info.value)
    check_error(info.value, key)


@pytest.mark.parametrize("url", NON_LOOPBACK)
def test_plain_http_from_the_environment_is_refused(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RUNPOD_BASE_URL", url)
    with pytest.raises(InvalidInputError, match="allow_insecure_http"):
        Endpoint("ep", api_key="k" * 20)


def sent_to(base_url: str, **options: Any) -> httpx.Request:
    """The request a ``health()`` call sends with ``base_url`` (over a mocked transport)."""
    api = FakeApi(defaults=True)
    client = httpx.Client(transport=api.transport)
    with Endpoint("ep", base_url=base_url, api_key="k" * 20, http_client=client, **options) as ep:
        ep.health()
    (request,) = api.requests
    return request


@pytest.mark.parametrize("url", NON_LOOPBACK)
def test_plain_http_to_a_remote_host_is_used_when_allowed(url: str) -> None:
    request = sent_to(url, allow_insecure_http=True)
    assert str(request.url) == f"{url}/ep/health"
    assert request.headers["authorization"] == "Bearer " + "k" * 20


@pytest.mark.parametrize("url", [*LOOPBACK, "https://example.com/v2"])
def test_loopback_http_and_https_are_used_as_given(url: str) -> None:
    request = sent_to(url)
    assert str(request.url) == f"{url}/ep/health"
