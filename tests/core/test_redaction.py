"""A transport exception whose message carries the API key (a proxy echoing a header, a URL
with credentials in an error) is redacted everywhere it surfaces: the exception's str and
repr, its traceback, every log line — from the transport's classification through the
core's retries to the driver's debug log."""

from __future__ import annotations

import logging
import traceback

import httpx
import pytest

from runpod_facade._core.effects import Send
from runpod_facade._core.engine import EndpointCore
from runpod_facade._drivers import base as _drivers
from runpod_facade._drivers.base import log_outcome
from runpod_facade._exceptions import APIConnectionError, APITimeoutError
from runpod_facade._logging import redact, register_secret
from runpod_facade._transports.base import Delivery
from runpod_facade._transports.httpx import HttpxTransport, classify
from runpod_facade._wire.requests import encode_job
from tests._support.replies import job, lost, not_sent, timed_out
from tests._support.scripted import CLIENT_TIMEOUTS, FakeClock, ScriptedDriver, make_core

KEY = "rp_CORE_REDACTION_KEY_0123456789"
register_secret(KEY)


def rendered(exc: BaseException) -> str:
    return str(exc) + repr(exc) + "".join(traceback.format_exception(exc))


def test_redact_masks_registered_secrets_and_nothing_else() -> None:
    assert redact(f"Bearer {KEY} and {KEY}") == "Bearer <redacted> and <redacted>"
    assert redact("no secret here") == "no secret here"
    register_secret("abc")  # too short to be a key: masking it would mangle ordinary text
    assert redact("abcdef") == "abcdef"


@pytest.mark.parametrize("failure", [not_sent, lost, timed_out])
def test_a_read_failure_carrying_the_key_never_shows_it(
    failure,  # type: ignore[no-untyped-def]
    core: EndpointCore,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="runpod_facade")
    message = f"ConnectError: proxy said 'Authorization: Bearer {KEY}'"
    driver = ScriptedDriver(clock, [failure(message)] * 4)
    with pytest.raises(APIConnectionError) as info:
        driver.run(core.status("job-1"))
    assert KEY not in rendered(info.value)
    assert info.value.message == "ConnectError: proxy said 'Authorization: Bearer <redacted>'"
    assert len(caplog.records) == 3  # one line per retry
    for record in caplog.records:
        assert KEY not in record.getMessage()
        assert "<redacted>" in record.getMessage()


def test_a_lost_submit_carrying_the_key_never_shows_it(
    core: EndpointCore, clock: FakeClock
) -> None:
    driver = ScriptedDriver(clock, [lost(f"ReadError: {KEY}")])
    with pytest.raises(APIConnectionError) as info:
        driver.run(core.run(encode_job(1)))
    assert KEY not in rendered(info.value)
    assert info.value.message.startswith("ReadError: <redacted>; the request may have reached")


def test_the_drivers_debug_log_of_a_failure_is_redacted(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="runpod_facade")
    send = Send(EndpointCore("ep-1", retry=None, poll=None).request("health"), attempt=2)  # type: ignore[arg-type]
    log_outcome(send, not_sent(f"ConnectError: {KEY}"), 0.0)
    (record,) = caplog.records
    assert KEY not in record.getMessage()
    assert record.getMessage().startswith("GET /ep-1/health -> ConnectError: <redacted> in ")
    assert record.getMessage().endswith(" ms (attempt 3)")


def test_the_drivers_debug_log_of_a_reply(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="runpod_facade")
    send = Send(EndpointCore("ep-1", retry=None, poll=None).request("health"))  # type: ignore[arg-type]
    log_outcome(send, job("COMPLETED"), 0.0)
    assert caplog.records[0].getMessage().startswith("GET /ep-1/health -> HTTP 200 in ")


def test_the_drivers_debug_log_gives_the_duration_in_milliseconds(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    caplog.set_level(logging.DEBUG, logger="runpod_facade")
    monkeypatch.setattr(_drivers.time, "perf_counter", lambda: 11.5)
    send = Send(make_core(FakeClock()).request("health"))
    log_outcome(send, job("COMPLETED"), 10.0)
    assert caplog.records[0].getMessage() == "GET /ep-1/health -> HTTP 200 in 1500 ms (attempt 1)"


def test_no_debug_log_work_when_debug_is_off(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="runpod_facade")
    send = Send(EndpointCore("ep-1", retry=None, poll=None).request("health"))  # type: ignore[arg-type]
    log_outcome(send, job("COMPLETED"), 0.0)
    assert caplog.records == []


# --- the transport's classification, without sockets (httpx.MockTransport) --------------------


@pytest.mark.parametrize(
    ("exc", "delivery", "timeout"),
    [
        (httpx.ConnectError, Delivery.NOT_SENT, False),
        (httpx.ConnectTimeout, Delivery.NOT_SENT, True),
        (httpx.PoolTimeout, Delivery.NOT_SENT, True),
        (httpx.ReadTimeout, Delivery.MAYBE_SENT, True),
        (httpx.WriteTimeout, Delivery.MAYBE_SENT, True),
        (httpx.ReadError, Delivery.MAYBE_SENT, False),
        (httpx.RemoteProtocolError, Delivery.MAYBE_SENT, False),
    ],
)
def test_transport_exceptions_are_classified_and_the_key_redacted_downstream(
    exc: type[httpx.TransportError],
    delivery: Delivery,
    timeout: bool,
    clock: FakeClock,
) -> None:
    def fail(request: httpx.Request) -> httpx.Response:
        raise exc(f"failed for https://user:{KEY}@api.example/v2", request=request)

    transport = HttpxTransport(
        "https://api.example/v2", {}, httpx.Client(transport=httpx.MockTransport(fail))
    )
    core = make_core(clock)
    request = core.request("health")
    failure = transport.send(request, CLIENT_TIMEOUTS)
    assert not isinstance(failure, type(None))
    assert failure == classify(exc(f"failed for https://user:{KEY}@api.example/v2"))
    assert (failure.delivery, failure.timeout) == (delivery, timeout)  # type: ignore[union-attr]
    assert failure.message == f"{exc.__name__}: failed for https://user:{KEY}@api.example/v2"  # type: ignore[union-attr]
    error = EndpointCore._transport_error(request, failure)  # type: ignore[arg-type]
    assert type(error) is (APITimeoutError if timeout else APIConnectionError)
    assert KEY not in rendered(error)
    assert error.request_sent is (delivery is Delivery.MAYBE_SENT)


def test_an_exception_without_text_still_says_what_it_was() -> None:
    assert classify(httpx.ReadError("")).message == "ReadError: no detail"
