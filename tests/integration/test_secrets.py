"""The API key never shows, end to end: not in debug logs (the SDK's, httpx's, httpcore's,
aiohttp's, uvicorn's), not in a repr, an exception, a traceback or the CLI's output — with the
right key, a wrong key, and injected faults that make errors (including a proxy echoing the
Authorization header), on every client. Each place searched is counted for
docs/reliability.md. (The rules over a mocked transport: tests/facade/test_secrets.py.)"""

from __future__ import annotations

import asyncio
import logging
import secrets
import traceback
from collections.abc import Iterator
from typing import Any

import pytest

from runpod_facade import (
    AsyncEndpoint,
    Endpoint,
    ExecutionPolicy,
    PollPolicy,
    RetryPolicy,
    RunpodError,
    S3Config,
)
from runpod_facade.local import Fault, LocalEndpoint
from tests._support.backends import BACKENDS
from tests._support.handlers import dispatch
from tests._support.reliability.store import record_secrets

FAST_RETRY = RetryPolicy(max_retries=2, initial_delay=0.01, max_delay=0.02)
FAST_POLL = PollPolicy(initial=0.02, maximum=0.1)
LOGGERS = (
    "",
    "runpod_facade",
    "runpod_facade.local",
    "httpx",
    "httpcore",
    "uvicorn",
    "uvicorn.error",
    "uvicorn.access",
    "asyncio",
    "aiohttp",
    "aiohttp.client",
    "aiohttp.internal",
)


class Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture
def logs() -> Iterator[Capture]:
    """Everything logged at DEBUG by any logger, as RUNPOD_FACADE_LOG=debug would enable."""
    capture = Capture()
    saved = []
    for name in LOGGERS:
        logger = logging.getLogger(name)
        saved.append((logger, logger.level))
        logger.addHandler(capture)
        logger.setLevel(logging.DEBUG)
    try:
        yield capture
    finally:
        for logger, level in saved:
            logger.removeHandler(capture)
            logger.setLevel(level)


@pytest.fixture(scope="module")
def local() -> Iterator[LocalEndpoint]:
    with LocalEndpoint(dispatch, workers=2, log_level="debug") as ep:
        yield ep


def assert_clean(where: str, text: str, *keys: str) -> None:
    for key in keys:
        assert key not in text, f"the API key leaked into {where}: {text[:300]!r}"
    record_secrets(where)


def check_error(exc: BaseException, *keys: str) -> None:
    assert_clean("exception str", str(exc), *keys)
    assert_clean("exception repr", repr(exc), *keys)
    assert_clean("traceback", "".join(traceback.format_exception(exc)), *keys)
    attributes = {name: getattr(exc, name, None) for name in ("message", "body", "headers", "args")}
    assert_clean("exception attributes", repr(attributes), *keys)


def _connect(local: LocalEndpoint, key: str, **options: Any) -> Endpoint:
    options.setdefault("timeout", 1.0)
    options.setdefault("retry_policy", FAST_RETRY)
    return Endpoint(
        local.endpoint_id,
        base_url=local.base_url,
        api_key=key,
        poll_policy=FAST_POLL,
        **options,
    )


#: For the hung request: its timeout error is what is checked, so it need not wait long.
QUICK = {"timeout": 0.3, "retry_policy": RetryPolicy(max_retries=0)}


def _echoing(key: str) -> list[tuple[str, Fault]]:
    """Faults whose replies make errors, some of them echoing the Authorization header."""
    echo = f"Authorization: Bearer {key}"
    return [
        ("500", Fault("status", "http_error", status=500)),
        ("400 echo", Fault("status", "http_error", status=400, body=f"bad request; {echo}")),
        ("502 html echo", Fault("status", "html", status=502, body=f"<pre>{echo}</pre>")),
        # Unlimited: a read whose 2xx body is unusable is retried, and must still fail here.
        ("200 html echo", Fault("status", "html", status=200, body=f"<p>{echo}</p>", times=None)),
        ("429", Fault("status", "http_error", status=429, retry_after="120", times=None)),
        ("truncated", Fault("status", "truncated", times=None)),
        ("missing status echo", Fault("status", "missing_fields", times=None)),
        ("drop", Fault("status", "drop", times=None)),
        ("drop_after run", Fault("run", "drop_after")),
        ("500 run echo", Fault("run", "http_error", status=500, body=echo)),
        ("hang", Fault("health", "hang", times=None)),
    ]


@pytest.mark.parametrize("which", ["right key", "wrong key"])
def test_key_absent_from_logs_reprs_and_errors(
    which: str, local: LocalEndpoint, logs: Capture
) -> None:
    assert local.api_key is not None
    key = local.api_key if which == "right key" else f"wrong_{secrets.token_urlsafe(16)}"
    # A wrong key must stay hidden too, and so must the server's real one.
    keys = (key, local.api_key)
    errors: list[BaseException] = []
    objects: list[Any] = []
    with _connect(local, key) as ep:
        objects += [ep, ep._settings, FAST_RETRY, FAST_POLL, ExecutionPolicy(ttl=60)]
        objects.append(S3Config("id", key, "bucket", "https://s3.example"))
        try:
            job = ep.run({"task": "echo"})
            objects += [job, job.last_state, job.wait(timeout=10), ep.health()]
            objects += [ep.purge_queue(), ep.cancel(job.id), ep.run_sync({"n": 1}, timeout=10)]
            objects.append(ep.stream(job.id, timeout=1))
            for _, fault in _echoing(key):
                local.faults.clear()
                local.faults.add(fault)
                try:
                    if fault.route == "run":
                        ep.run({"task": "echo"})
                    elif fault.route == "health":
                        with _connect(local, key, **QUICK) as quick:
                            quick.health()
                    else:
                        ep.status(job.id)
                except RunpodError as exc:
                    errors.append(exc)
            local.faults.clear()
            failed = ep.run({"task": "fail"})
            for call in (
                lambda: failed.wait(timeout=10),
                lambda: ep.retry(job.id),  # not FAILED: 400
                lambda: ep.status("no-such-job"),
                lambda: ep.wait(job.id, timeout=0.001),
            ):
                try:
                    call()
                except RunpodError as exc:
                    errors.append(exc)
        except RunpodError as exc:  # the wrong key: 401 on the first call
            errors.append(exc)
        finally:
            local.faults.clear()

    if which == "wrong key":
        assert type(errors[0]).__name__ == "AuthenticationError"
    else:
        assert len(errors) >= 12
    for exc in errors:
        check_error(exc, *keys)
    for obj in objects:
        assert_clean("repr of public objects", repr(obj), *keys)
        assert_clean("str of public objects", str(obj), *keys)
    assert logs.lines, "nothing was logged at DEBUG"
    for line in logs.lines:
        assert_clean("debug log lines", line, *keys)


@pytest.mark.parametrize("backend", BACKENDS)
async def test_async_client_keeps_the_key_hidden(
    backend: str, local: LocalEndpoint, logs: Capture
) -> None:
    assert local.api_key is not None
    key = local.api_key
    errors: list[BaseException] = []
    async with AsyncEndpoint(
        local.endpoint_id,
        base_url=local.base_url,
        api_key=key,
        timeout=1.0,
        retry_policy=FAST_RETRY,
        poll_policy=FAST_POLL,
        http_backend=backend,  # type: ignore[arg-type]
    ) as ep:
        job = await ep.run({"task": "echo"})
        await job.wait(timeout=10)
        stream = job.stream(timeout=1)
        for obj in (ep, job, job.last_state, stream, ep._settings, ep._driver.transport):
            assert_clean("repr of public objects", repr(obj), key)
        # Every fault that makes an error, through this backend's exception mapping.
        faults = [("401 echo", Fault("status", "http_error", status=401, body=f"Bearer {key}"))]
        for _, fault in [*faults, *_echoing(key)]:
            local.faults.clear()
            local.faults.add(fault)
            try:
                if fault.route == "run":
                    await ep.run({"task": "echo"})
                elif fault.route == "health":
                    async with AsyncEndpoint(
                        local.endpoint_id,
                        base_url=local.base_url,
                        api_key=key,
                        http_backend=backend,  # type: ignore[arg-type]
                        **QUICK,  # type: ignore[arg-type]
                    ) as quick:
                        await quick.health()
                else:
                    await ep.status(job.id)
            except RunpodError as exc:
                errors.append(exc)
            finally:
                local.faults.clear()
        await stream.aclose()
    await asyncio.sleep(0)
    assert len(errors) >= 10
    for exc in errors:
        check_error(exc, key)
    assert logs.lines, "nothing was logged at DEBUG"
    for line in logs.lines:
        assert_clean("debug log lines", line, key)


def test_cli_output_hides_the_key(
    local: LocalEndpoint,
    logs: Capture,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cli = pytest.importorskip("runpod_facade.cli", reason="cli not present")
    assert local.api_key is not None
    key = local.api_key
    wrong = f"wrong_{secrets.token_urlsafe(16)}"
    base = ["--base-url", local.base_url, "--endpoint-id", local.endpoint_id, "--timeout", "5"]
    runs: list[list[str]] = [
        [*base, "--api-key", key, "--debug", "health"],
        [*base, "--api-key", key, "--debug", "run", "--input", '{"task": "echo"}', "--wait"],
        [*base, "--api-key", key, "--debug", "--json", "run-sync", "--input", '{"n": 1}'],
        [*base, "--api-key", key, "--debug", "status", "no-such-job"],
        [*base, "--api-key", key, "--debug", "run", "--input", '{"task": "fail"}', "--wait"],
        [*base, "--api-key", wrong, "--debug", "health"],
        [*base, "--api-key", wrong, "--json", "status", "x"],
        [*base, "--debug", "purge-queue"],  # the key from the environment
        [*base, "--api-key", key, "--debug", "health"],  # with a fault echoing the key
    ]
    monkeypatch.setenv("RUNPOD_API_KEY", key)
    codes = []
    for index, argv in enumerate(runs):
        if index == len(runs) - 1:
            local.faults.add(Fault("health", "http_error", status=400, body=f"Bearer {key}"))
        try:
            codes.append(cli.main(argv))
        finally:
            local.faults.clear()
        out, err = capsys.readouterr()
        assert_clean("CLI stdout/stderr", out + err, key, wrong)
    assert codes[0] == 0 and codes[1] == 0 and codes[2] == 0
    assert all(code != 0 for code in (codes[3], codes[4], codes[5], codes[8]))
    for line in logs.lines:
        assert_clean("debug log lines", line, key, wrong)
