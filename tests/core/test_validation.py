"""``_validation`` and ``_options``: argument checks that run before any request, each with
the exact message that says what to fix, and the bounds of the execution policy."""

from __future__ import annotations

import json
import math
from datetime import timedelta
from typing import Any

import pytest

import runpod_facade._validation as validation
from runpod_facade._exceptions import InvalidInputError
from runpod_facade._options import ExecutionPolicy, Input, S3Config, to_seconds
from runpod_facade._validation import (
    check_base_url,
    check_id,
    check_webhook,
    encode_body,
    is_loopback_host,
)

# --- ids ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["job-1", "a.b-c_d", "x" * 512, "a/b?c", "é", "..."])
def test_valid_ids_are_returned_unchanged(value: str) -> None:
    assert check_id(value, "job_id") == value


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (5, "job_id must be a string, got int"),
        (None, "job_id must be a string, got NoneType"),
        ("", "job_id must not be empty"),
        ("   ", "job_id must not be empty"),
        ("x" * 513, "job_id is too long (513 characters)"),
        ("a b", "job_id must not contain whitespace or control characters"),
        ("a\tb", "job_id must not contain whitespace or control characters"),
        ("a\x00b", "job_id must not contain whitespace or control characters"),
        ("a\x1fb", "job_id must not contain whitespace or control characters"),
        ("a\x7fb", "job_id must not contain whitespace or control characters"),
        ("ab\n", "job_id must not contain whitespace or control characters"),
        (".", "job_id must not be '.'"),
        ("..", "job_id must not be '..'"),
    ],
)
def test_invalid_ids(value: Any, message: str) -> None:
    with pytest.raises(InvalidInputError) as info:
        check_id(value, "job_id")
    assert str(info.value) == message
    assert isinstance(info.value, ValueError)


# --- base URL ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("localhost", True),
        ("LOCALHOST", True),
        ("localhost.", True),
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("::1", True),
        ("[::1]", True),
        ("example.com", False),
        ("10.0.0.1", False),
        ("localhost.example.com", False),
        ("", False),
        ("[::1]X", False),
    ],
)
def test_loopback_hosts(host: str, loopback: bool) -> None:
    assert is_loopback_host(host) is loopback


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://api.runpod.ai/v2", "https://api.runpod.ai/v2"),
        ("https://api.runpod.ai/v2/", "https://api.runpod.ai/v2"),
        ("  https://api.runpod.ai/v2//  ", "https://api.runpod.ai/v2"),
        ("https://api.example/X/", "https://api.example/X"),
        ("http://127.0.0.1:8000/v2", "http://127.0.0.1:8000/v2"),
        ("http://localhost/v2", "http://localhost/v2"),
        ("http://[::1]:9/v2", "http://[::1]:9/v2"),
    ],
)
def test_good_base_urls(url: str, expected: str) -> None:
    assert check_base_url(url, allow_insecure_http=False) == expected


@pytest.mark.parametrize(
    ("url", "message"),
    [
        (None, "base_url must be a non-empty string such as https://api.runpod.ai/v2"),
        ("  ", "base_url must be a non-empty string such as https://api.runpod.ai/v2"),
        ("ftp://x/v2", "base_url must be an http(s) URL with a host, got 'ftp://x/v2'"),
        ("https:///v2", "base_url must be an http(s) URL with a host, got 'https:///v2'"),
        ("https://x/v2?a=1", "base_url must not have a query or a fragment"),
        ("https://x/v2#f", "base_url must not have a query or a fragment"),
        ("https://u:p@x/v2", "base_url must not contain credentials; pass api_key instead"),
        ("https://u@x/v2", "base_url must not contain credentials; pass api_key instead"),
        (
            "http://api.example/v2",
            "refusing plain http:// to non-loopback host 'api.example': the API key would "
            "travel unencrypted. Use https://, or pass allow_insecure_http=True if you must.",
        ),
    ],
)
def test_bad_base_urls(url: Any, message: str) -> None:
    with pytest.raises(InvalidInputError) as info:
        check_base_url(url, allow_insecure_http=False)
    assert str(info.value) == message


def test_plain_http_to_another_host_when_allowed() -> None:
    assert check_base_url("http://api.example/v2", allow_insecure_http=True) == (
        "http://api.example/v2"
    )


# --- webhook -----------------------------------------------------------------------------------


@pytest.mark.parametrize("url", ["https://hook.example/x?a=1", "http://10.0.0.5:8080/cb"])
def test_good_webhooks(url: str) -> None:
    assert check_webhook(url) == url


@pytest.mark.parametrize(
    ("url", "message"),
    [
        (None, "webhook must be a non-empty URL string"),
        ("", "webhook must be a non-empty URL string"),
        (" ", "webhook must be a non-empty URL string"),
        (" https://h/x", "webhook must not contain whitespace or control characters"),
        ("https://h/x y", "webhook must not contain whitespace or control characters"),
        ("https://h/\x01", "webhook must not contain whitespace or control characters"),
        ("https://h/!", None),
        ("ftp://h/x", "webhook must be an absolute http(s) URL, got 'ftp://h/x'"),
        ("/relative", "webhook must be an absolute http(s) URL, got '/relative'"),
        ("https:///x", "webhook must be an absolute http(s) URL, got 'https:///x'"),
    ],
)
def test_bad_webhooks(url: Any, message: str | None) -> None:
    if message is None:  # "!" (33) is the first allowed character
        assert check_webhook(url) == url
        return
    with pytest.raises(InvalidInputError) as info:
        check_webhook(url)
    assert str(info.value) == message


# --- bodies ------------------------------------------------------------------------------------


def test_encode_body_is_compact_utf8_json() -> None:
    # The payload limit, counted in these bytes, is the route's: tests/core/test_wire.py.
    assert encode_body({"input": "é"}) == '{"input":"é"}'.encode()
    assert encode_body({"input": "x" * 100, "n": [1, 2.5]}) == (
        b'{"input":"' + b"x" * 100 + b'","n":[1,2.5]}'
    )


@pytest.mark.parametrize("value", [math.nan, math.inf, {1, 2}, object(), b"bytes"])
def test_encode_body_refuses_what_json_cannot_carry(value: Any) -> None:
    with pytest.raises(InvalidInputError) as info:
        encode_body({"input": value})
    assert str(info.value).startswith(
        "input must be JSON-serializable (dicts, lists, str, int, float, bool, None; "
        "no NaN or infinity): "
    )
    assert info.value.__cause__ is None and info.value.__suppress_context__


def test_encode_body_refuses_deep_nesting() -> None:
    deep: list[Any] = []
    for _ in range(100_000):
        deep = [deep]
    with pytest.raises(InvalidInputError) as info:
        encode_body({"input": deep})
    assert str(info.value) == "input is nested too deeply (or contains a cycle)"


# --- durations and the execution policy ---------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "seconds"),
    [(0, 0.0), (3, 3.0), (2.5, 2.5), (timedelta(minutes=2), 120.0), (timedelta(0), 0.0)],
)
def test_to_seconds(value: Any, seconds: float) -> None:
    assert to_seconds(value, "timeout") == seconds
    assert type(to_seconds(value, "timeout")) is float


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (True, "timeout must be seconds (int or float) or a timedelta, got bool"),
        ("5", "timeout must be seconds (int or float) or a timedelta, got str"),
        (None, "timeout must be seconds (int or float) or a timedelta, got NoneType"),
        (math.nan, "timeout must be a finite number of seconds, got nan"),
        (math.inf, "timeout must be a finite number of seconds, got inf"),
        (-math.inf, "timeout must be a finite number of seconds, got -inf"),
        (-1, "timeout must not be negative, got -1"),
        (-0.001, "timeout must not be negative, got -0.001"),
        (
            timedelta(seconds=-1),
            "timeout must not be negative, got datetime.timedelta(days=-1, seconds=86399)",
        ),
    ],
)
def test_bad_durations(value: Any, message: str) -> None:
    with pytest.raises(InvalidInputError) as info:
        to_seconds(value, "timeout")
    assert str(info.value) == message


WEEK = 7 * 24 * 3600


@pytest.mark.parametrize(
    ("kwargs", "wire"),
    [
        ({}, {}),
        ({"execution_timeout": 5}, {"executionTimeout": 5000}),
        ({"execution_timeout": 4.9995}, {"executionTimeout": 5000}),  # rounded to whole ms
        ({"execution_timeout": WEEK}, {"executionTimeout": WEEK * 1000}),
        ({"ttl": 10}, {"ttl": 10_000}),
        ({"ttl": timedelta(days=7)}, {"ttl": WEEK * 1000}),
        ({"low_priority": False}, {"lowPriority": False}),
        (
            {"execution_timeout": 60, "ttl": 120, "low_priority": True},
            {"executionTimeout": 60_000, "ttl": 120_000, "lowPriority": True},
        ),
    ],
)
def test_execution_policy_on_the_wire(kwargs: dict[str, Any], wire: dict[str, Any]) -> None:
    assert ExecutionPolicy(**kwargs).to_wire() == wire


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"execution_timeout": 4.999},
            "execution_timeout must be between 5 s and 7 days, got 4.999",
        ),
        (
            {"execution_timeout": WEEK + 0.001},
            "execution_timeout must be between 5 s and 7 days, got 604800.001",
        ),
        ({"ttl": 9.999}, "ttl must be between 10 s and 7 days, got 9.999"),
        ({"ttl": WEEK + 1}, "ttl must be between 10 s and 7 days, got 604801"),
        ({"ttl": -1}, "ttl must not be negative, got -1"),
        ({"low_priority": 1}, "low_priority must be a bool, got int"),
        ({"low_priority": "yes"}, "low_priority must be a bool, got str"),
    ],
)
def test_execution_policy_bounds(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidInputError) as info:
        ExecutionPolicy(**kwargs)
    assert str(info.value) == message


def test_s3_config() -> None:
    s3 = S3Config("id", "s3cr3t", "bucket", "https://s3.example")
    assert s3.to_wire() == {
        "accessId": "id",
        "accessSecret": "s3cr3t",
        "bucketName": "bucket",
        "endpointUrl": "https://s3.example",
    }
    assert repr(s3) == (
        "S3Config(access_id='id', access_secret='<redacted>', bucket_name='bucket', "
        "endpoint_url='https://s3.example', object_path=None)"
    )
    with_path = S3Config("id", "s3cr3t", "bucket", "https://s3.example", "out/")
    assert with_path.to_wire()["objectPath"] == "out/"
    assert "s3cr3t" not in repr(with_path)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("", "s", "b", "e"), "S3Config.access_id must be a non-empty string"),
        (("i", "", "b", "e"), "S3Config.access_secret must be a non-empty string"),
        (("i", "s", None, "e"), "S3Config.bucket_name must be a non-empty string"),
        (("i", "s", "b", 3), "S3Config.endpoint_url must be a non-empty string"),
        (("i", "s", "b", "e", 5), "S3Config.object_path must be a string"),
    ],
)
def test_bad_s3_config(args: tuple[Any, ...], message: str) -> None:
    with pytest.raises(InvalidInputError) as info:
        S3Config(*args)
    assert str(info.value) == message


def test_input_wraps_any_value() -> None:
    assert Input({"input": 1}).value == {"input": 1}
    assert Input(None) == Input(None)


@pytest.mark.parametrize(
    "value",
    [
        'é \u2028 \x00 "quoted" \\ / \n',
        [1, -2, 10**30, 2.5, 1e-7, 1e22, True, False, None],
        {"nested": {"b": [1, {"c": []}], "a": {}}, "1": 0},
        {1: "int key", 2.5: "float key", False: "bool key", None: "none key"},
        "x" * 10_000,
    ],
)
def test_encode_body_writes_what_the_public_encoder_writes(
    value: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The C encoder made once (see _validation) must give json's bytes, byte for byte, and the
    # fallback without it must too.
    expected = json.dumps(
        {"input": value}, ensure_ascii=False, allow_nan=False, separators=(",", ":")
    ).encode()
    assert encode_body({"input": value}) == expected
    monkeypatch.setattr(validation, "_encode_dict", None)
    assert encode_body({"input": value}) == expected


def test_encode_body_names_a_cycle_as_json_does(monkeypatch: pytest.MonkeyPatch) -> None:
    # Without json's cycle check the C encoder made once recurses until RecursionError;
    # encode_body then asks the public encoder, so the message is the one it always gave.
    cycle: list[Any] = []
    cycle.append(cycle)
    messages = []
    for encode_dict in (validation._encode_dict, None):
        monkeypatch.setattr(validation, "_encode_dict", encode_dict)
        with pytest.raises(InvalidInputError) as info:
            encode_body({"input": cycle})
        messages.append(str(info.value))
    assert messages[0] == messages[1]
    assert messages[0].endswith("): Circular reference detected")
