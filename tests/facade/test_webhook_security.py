"""The webhook receiving helpers on their own: the secret-token URL and its constant-time
check, and the deduplicator with its stores."""

from __future__ import annotations

import hmac
import json
import threading
from typing import Any

import pytest

from runpod_facade import (
    InvalidInputError,
    MemorySeenStore,
    SeenStore,
    WebhookDeduplicator,
    WebhookPayloadError,
    new_webhook_secret,
    parse_webhook,
    verify_webhook_url,
    webhook_url,
)
from runpod_facade._logging import redact

SECRET = "s3cr3t-" + "x" * 30


def test_url_carries_the_secret_and_verifies() -> None:
    url = webhook_url("https://hooks.example.com/runpod?tenant=7", SECRET)
    assert url == f"https://hooks.example.com/runpod?tenant=7&token={SECRET}"
    assert verify_webhook_url(url, SECRET)
    # What an HTTP server sees: the path and query only.
    assert verify_webhook_url(f"/runpod?tenant=7&token={SECRET}", SECRET)
    assert (
        webhook_url("http://127.0.0.1:9/h", SECRET, param="k") == f"http://127.0.0.1:9/h?k={SECRET}"
    )


def test_new_secrets_are_long_and_different() -> None:
    first, second = new_webhook_secret(), new_webhook_secret()
    assert first != second and len(first) >= 43
    assert verify_webhook_url(webhook_url("https://h.example/x", first), first)


@pytest.mark.parametrize(
    "request_url",
    [
        pytest.param("/runpod", id="no token"),
        pytest.param("/runpod?token=", id="empty token"),
        pytest.param(f"/runpod?token={SECRET[:-1]}", id="a prefix"),
        pytest.param(f"/runpod?token={SECRET}x", id="longer"),
        pytest.param(f"/runpod?token={SECRET.upper()}", id="other case"),
        pytest.param(f"/runpod?token={SECRET}&token={SECRET}", id="twice"),
        pytest.param(f"/runpod?tok={SECRET}", id="other parameter"),
        pytest.param(f"/runpod/{SECRET}", id="in the path"),
    ],
)
def test_anything_but_the_secret_once_is_refused(request_url: str) -> None:
    assert not verify_webhook_url(request_url, SECRET)


def test_the_comparison_is_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    compared: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    assert not verify_webhook_url("/h?token=guess", SECRET)
    assert compared == [(b"guess", SECRET.encode())]


def test_the_secret_is_masked_in_log_and_error_text() -> None:
    secret = new_webhook_secret()
    url = webhook_url("https://h.example/x", secret)
    assert secret not in redact(f"POST {url} failed")


@pytest.mark.misuse("argument")
@pytest.mark.parametrize(
    ("base_url", "secret", "kwargs", "message"),
    [
        ("https://h.example/x", "short", {}, "at least 22 characters"),
        ("https://h.example/x", 12345, {}, "must be a str"),
        ("https://h.example/x", "é" * 30, {}, "printable ASCII"),
        ("https://h.example/x", "a\n" * 15, {}, "printable ASCII"),
        ("h.example/x", SECRET, {}, "absolute http(s) URL"),
        ("ftp://h.example/x", SECRET, {}, "absolute http(s) URL"),
        ("https://h.example/x#frag", SECRET, {}, "no #fragment"),
        ("https://h.example/x?token=1", SECRET, {}, "already has a 'token'"),
        ("https://h.example/x", SECRET, {"param": ""}, "param must be"),
        (b"https://h.example/x", SECRET, {}, "base_url must be a str"),
    ],
)
def test_bad_url_arguments_are_refused(
    base_url: Any, secret: Any, kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidInputError) as caught:
        webhook_url(base_url, secret, **kwargs)
    assert message in str(caught.value)
    if isinstance(secret, str):
        assert secret not in str(caught.value)  # never echoed


@pytest.mark.misuse("key")
def test_a_short_secret_is_refused_when_verifying_too() -> None:
    # A receiver configured with an empty secret must not accept "?token=".
    with pytest.raises(InvalidInputError, match="at least 22"):
        verify_webhook_url("/h?token=", "")


def body(job_id: str = "job-1", status: str = "COMPLETED") -> bytes:
    return json.dumps({"id": job_id, "status": status, "output": 1}).encode()


def test_a_repeated_delivery_is_recognised_by_job_id_and_status() -> None:
    dedupe = WebhookDeduplicator()
    assert dedupe.first_delivery(body())
    assert not dedupe.first_delivery(body())
    assert not dedupe.first_delivery(parse_webhook(body()))  # a JobState keys the same
    assert not dedupe.first_delivery(json.loads(body()))  # and so does a decoded body
    # A job retried with /retry that ends again is news.
    assert dedupe.first_delivery(body(status="FAILED"))
    assert dedupe.first_delivery(body("job-2"))


@pytest.mark.parametrize(
    "delivery",
    [
        body("job-7", "FAILED"),
        body("job-7", "FAILED").decode(),
        parse_webhook(body("job-7", "FAILED")),
    ],
    ids=["bytes", "str", "JobState"],
)
def test_the_key_is_the_job_id_and_status(delivery: Any) -> None:
    assert WebhookDeduplicator.key(delivery) == "job-7 FAILED"


def test_forget_lets_a_redelivery_through() -> None:
    dedupe = WebhookDeduplicator()
    assert dedupe.first_delivery(body())
    dedupe.forget(body())
    assert dedupe.first_delivery(body())


def test_a_body_that_is_not_a_job_is_refused() -> None:
    with pytest.raises(WebhookPayloadError):
        WebhookDeduplicator().first_delivery(b'{"status": "COMPLETED"}')


def test_the_memory_store_is_bounded_oldest_first() -> None:
    store = MemorySeenStore(max_entries=3)
    dedupe = WebhookDeduplicator(store)
    for i in range(5):
        assert dedupe.first_delivery(body(f"job-{i}"))
    assert len(store) == 3
    assert dedupe.first_delivery(body("job-0"))  # forgotten: the bound is the trade-off
    assert not dedupe.first_delivery(body("job-4"))


def test_concurrent_deliveries_of_one_job_are_first_exactly_once() -> None:
    dedupe = WebhookDeduplicator()
    start = threading.Barrier(8)
    firsts: list[bool] = []

    def deliver() -> None:
        start.wait()
        firsts.append(dedupe.first_delivery(body()))

    threads = [threading.Thread(target=deliver) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(firsts) == [False] * 7 + [True]


class DictStore:
    """A user's store: a dict standing in for a table with a unique key."""

    def __init__(self) -> None:
        self.rows: dict[str, int] = {}

    def add(self, key: str) -> bool:
        if key in self.rows:
            return False
        self.rows[key] = 1
        return True

    def discard(self, key: str) -> None:
        self.rows.pop(key, None)


def test_a_users_store_is_used() -> None:
    store = DictStore()
    assert isinstance(store, SeenStore)
    dedupe = WebhookDeduplicator(store)
    assert dedupe.first_delivery(body())
    assert not dedupe.first_delivery(body())
    assert store.rows == {"job-1 COMPLETED": 1}


@pytest.mark.misuse("argument")
@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"store": {}}, "store must have add(key) -> bool and discard(key)"),
        ({"store": object()}, "store must have add(key)"),
        ({"max_entries": 0}, "max_entries must be an int >= 1"),
        ({"max_entries": 1.5}, "max_entries must be an int >= 1"),
    ],
)
def test_bad_deduplicator_arguments_are_refused(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        WebhookDeduplicator(**kwargs)
    assert message in str(caught.value)
